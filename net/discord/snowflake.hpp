#pragma once
// Discord snowflakes: 42 bits of milliseconds since the Discord epoch, then worker, process and increment.
#include <cstdint>

namespace g::discord {

constexpr std::uint64_t discord_epoch_ms = 1420070400000ULL;

constexpr std::uint64_t snowflake_time_ms(std::uint64_t id) { return (id >> 22) + discord_epoch_ms; }
constexpr std::uint64_t make_snowflake(std::uint64_t unix_ms, std::uint64_t low22) {
  return ((unix_ms - discord_epoch_ms) << 22) | (low22 & 0x3FFFFF);
}
// The shard a guild's events go to.
constexpr int shard_for_guild(std::uint64_t guild_id, int shard_count) {
  return static_cast<int>((guild_id >> 22) % static_cast<std::uint64_t>(shard_count));
}

}  // namespace g::discord
