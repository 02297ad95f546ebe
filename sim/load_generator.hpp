#pragma once
// Generated guild traffic: a seeded mix of MESSAGE_CREATE, other guild events and changes to the world (members,
// channels, threads, roles, the guild, voice, the bot's guilds) at a set rate, spread evenly over the bot's guilds.
// MESSAGE_CREATE carries its send time (µs since the Unix epoch) in `nonce`.
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace g::sim {

class fakecord;
using millis = std::int64_t;

class load_generator {
 public:
  enum kind {
    message_create, message_update, typing_start, reaction_add, presence_update,
    // Changes to the world (world_changes.hpp), in the order of world_change.
    member_add, member_remove, member_update, channel_create, channel_update, channel_delete, thread_create,
    thread_update, thread_delete, role_create, role_update, role_delete, guild_update, voice_state, bot_join,
    bot_leave, kind_count
  };
  static std::string_view name(kind k);

  load_generator(fakecord& fc, std::uint64_t seed);

  void set_rate(double per_second, millis now);
  double rate() const { return rate_; }
  // Relative weight of one event kind; false if the name is not one of the generated kinds.
  bool set_weight(std::string_view event_name, double weight);
  std::uint64_t generated() const { return generated_total_; }  // events made, all kinds
  // Events not generated because the sockets could not take them (the simulator's own limit, reported in stats).
  std::uint64_t shed() const { return shed_; }
  static constexpr std::size_t max_backlog_bytes = 8u << 20;

  // Generates the events owed since the last call.
  void tick(millis now);
  // One event of kind k in guild g now.
  void emit(kind k, int guild);

 private:
  kind pick();
  std::string_view content(std::size_t& len);

  fakecord& fc_;
  std::mt19937_64 rng_;
  double rate_ = 0;
  millis rate_since_ = 0;
  std::uint64_t owed_done_ = 0;
  std::uint64_t generated_total_ = 0;
  std::uint64_t shed_ = 0;
  // Mostly chat; about 3 % changes to the world. The bot joins and leaves guilds only when asked (a test's mix).
  std::array<double, kind_count> weights_{70, 5, 10, 8, 5, 0.5, 0.5, 2, 0.15, 0.2, 0.1, 0.3, 0.3,
                                          0.1, 0.15, 0.2, 0.1, 0.1, 0.5, 0, 0};
  std::uint64_t message_counter_ = 0;
  std::string d_, d_plain_;
};

}  // namespace g::sim
