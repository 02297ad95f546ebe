#pragma once
// The bot's universe: guilds, channels, roles, members and users. Until something in a guild changes it is
// derived from the seed (two runs with the same --seed see the same ids and names, and nothing is stored per
// member); the first change to a guild materialises it as a guild_state, which the changes then edit. Rendering
// always goes through a guild_state, so a changed and an unchanged guild are written by the same code.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/guild_state.hpp"

namespace g::json {
class writer;
}

namespace g::sim {

struct world_shape {
  std::uint64_t seed = 1;
  int guilds = 100;
  int members = 10;  // per guild, besides the bot
};

class world {
 public:
  static constexpr int text_channels = 3;
  static constexpr int voice_channels = 1;
  static constexpr int roles = 3;  // @everyone + 2

  explicit world(world_shape shape);
  ~world();

  int guild_count() const { return shape_.guilds; }
  int members_per_guild() const { return shape_.members; }
  std::uint64_t bot_id() const { return bot_id_; }
  std::uint64_t application_id() const { return bot_id_; }
  std::uint64_t owner_id() const { return owner_id_; }
  std::string bot_name() const { return "G Test Bot"; }

  std::uint64_t guild_id(int guild) const;
  std::optional<int> guild_index(std::uint64_t guild_id) const;
  // Guild indexes the bot is in that route to shard [id, count], in id order.
  std::vector<int> guilds_of_shard(int shard_id, int shard_count) const;
  std::string guild_name(int guild) const;

  // The original layout (a guild's first channels and roles keep these ids while they exist).
  std::uint64_t text_channel_id(int guild, int k) const { return guild_id(guild) + 1 + static_cast<unsigned>(k); }
  std::uint64_t voice_channel_id(int guild, int k) const {
    return guild_id(guild) + 1 + text_channels + static_cast<unsigned>(k);
  }
  std::uint64_t role_id(int guild, int k) const {  // k = 0 is @everyone, whose id is the guild's
    return k == 0 ? guild_id(guild) : guild_id(guild) + 16 + static_cast<unsigned>(k);
  }
  // Members 0..members-1 are people; the bot is a member of every guild as well.
  std::uint64_t member_user_id(int guild, int member) const;
  std::optional<int> member_index(int guild, std::uint64_t user_id) const;
  std::string username(int guild, int member) const;
  bool member_online(int guild, int member) const;
  bool member_has_role(int guild, int member) const;

  // The guild now: the bot is in it, its state (derived or changed), its members.
  bool bot_in(int guild) const { return !absent_[static_cast<std::size_t>(guild)]; }
  // The guild's state: the stored one once it has changed, else derived into `scratch` (its people only when
  // asked; the bot is always listed).
  const guild_state& view(int guild, guild_state& scratch, bool with_people = true) const;
  int member_count(int guild) const;  // people and the bot
  std::optional<member_state> find_member(int guild, std::uint64_t user_id) const;
  // A member's permissions in a channel (nullptr: at the guild level), by Discord's algorithm: @everyone and the
  // member's roles, ADMINISTRATOR for everything, then the channel's overwrites (@everyone, roles, the member).
  std::uint64_t permissions(const guild_state& st, std::uint64_t guild_id, const member_state& m,
                            const channel_state* channel) const;
  static constexpr std::uint64_t all_permissions = (1ULL << 51) - 1;

  // The guild of a channel or thread id (the original layout's, or one a change created).
  std::optional<int> guild_of_channel(std::uint64_t channel_id) const;
  // A person of the guild (not the bot), picked by `r`; nullopt when nobody but the bot is left.
  std::optional<member_state> some_member(int guild, std::uint64_t r) const;
  // A text channel of the guild picked by `r` (0 when it has none).
  std::uint64_t some_text_channel(int guild, std::uint64_t r) const;
  member_state bot_member(int guild) const;

  // Changes. edit() materialises the guild; the caller then dispatches what Discord would send.
  guild_state& edit(int guild);
  void set_bot_in(int guild, bool in) { absent_[static_cast<std::size_t>(guild)] = !in; }
  std::uint64_t next_id();  // a fresh snowflake for a created channel, role, thread or user

  // JSON renderings of Discord objects.
  void write_bot_user(json::writer& w) const;
  void write_owner_user(json::writer& w) const;
  void write_user(json::writer& w, const member_state& m) const;
  void write_member(json::writer& w, const member_state& m, bool with_user = true) const;
  void write_presence(json::writer& w, int guild, const member_state& m) const;
  void write_channel(json::writer& w, const channel_state& c, std::uint64_t guild_id = 0) const;  // guild_id 0: left out
  void write_role(json::writer& w, const role_state& r) const;
  void write_voice_state(json::writer& w, std::uint64_t guild_id, const voice_state& v, bool full) const;
  void write_application(json::writer& w) const;
  // A guild object's own fields (no arrays but roles/emojis/stickers), as GUILD_UPDATE carries it.
  void write_guild_fields(json::writer& w, int guild, const guild_state& st) const;

  // GUILD_CREATE's `d` as a session with these intents and large_threshold sees it.
  void write_guild_create(json::writer& w, int guild, std::uint64_t intents, int large_threshold) const;
  // The truth: the guild as it is now, every member, voice state and active thread included.
  void write_guild_truth(json::writer& w, int guild) const;

  std::uint64_t mix(std::uint64_t a, std::uint64_t b = 0) const;  // seeded hash for derived data

 private:
  member_state derived_member(int guild, int member) const;
  void derive(int guild, bool with_people, guild_state& out) const;
  void write_guild(json::writer& w, int guild, const guild_state& st, bool all_members, std::uint64_t intents,
                   int large_threshold) const;

  world_shape shape_;
  std::uint64_t guild_base_ms_;
  std::uint64_t user_base_ms_;
  std::uint64_t bot_id_;
  std::uint64_t owner_id_;
  std::vector<bool> absent_;  // guilds the bot was removed from
  std::unordered_map<int, std::unique_ptr<guild_state>> changed_;
  std::uint64_t created_ = 0;
};

}  // namespace g::sim
