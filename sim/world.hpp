#pragma once
// The bot's deterministic universe: guilds, channels, roles, members and users, all derived from the seed so
// that two runs with the same --seed see the same ids and names. Nothing is stored per member.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

  int guild_count() const { return shape_.guilds; }
  int members_per_guild() const { return shape_.members; }
  std::uint64_t bot_id() const { return bot_id_; }
  std::uint64_t application_id() const { return bot_id_; }
  std::uint64_t owner_id() const { return owner_id_; }
  std::string bot_name() const { return "G Test Bot"; }

  std::uint64_t guild_id(int guild) const;
  std::optional<int> guild_index(std::uint64_t guild_id) const;
  // Guild indexes routed to shard [id, count], in id order.
  std::vector<int> guilds_of_shard(int shard_id, int shard_count) const;
  std::string guild_name(int guild) const;

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

  // JSON renderings of Discord objects.
  void write_bot_user(json::writer& w) const;
  void write_owner_user(json::writer& w) const;
  void write_user(json::writer& w, int guild, int member) const;
  void write_member(json::writer& w, int guild, int member, bool with_user = true) const;
  void write_bot_member(json::writer& w, int guild) const;
  void write_presence(json::writer& w, int guild, int member) const;
  void write_channel(json::writer& w, int guild, int k, bool voice) const;
  void write_role(json::writer& w, int guild, int k) const;
  void write_application(json::writer& w) const;

  // GUILD_CREATE's `d` as a session with these intents and large_threshold sees it.
  void write_guild_create(json::writer& w, int guild, std::uint64_t intents, int large_threshold) const;

  std::uint64_t mix(std::uint64_t a, std::uint64_t b = 0) const;  // seeded hash for derived data

 private:
  world_shape shape_;
  std::uint64_t guild_base_ms_;
  std::uint64_t user_base_ms_;
  std::uint64_t bot_id_;
  std::uint64_t owner_id_;
};

}  // namespace g::sim
