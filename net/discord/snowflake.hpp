#pragma once
// Discord snowflakes: 42 bits of milliseconds since the Discord epoch, then worker, process and increment.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace g::discord {

constexpr std::uint64_t discord_epoch_ms = 1420070400000ULL;

constexpr std::uint64_t snowflake_time_ms(std::uint64_t id) { return (id >> 22) + discord_epoch_ms; }
constexpr std::uint64_t make_snowflake(std::uint64_t unix_ms, std::uint64_t low22) {
  return ((unix_ms - discord_epoch_ms) << 22) | (low22 & 0x3FFFFF);
}
// A snowflake as Discord writes it, a string of decimal digits; nullopt for anything else (empty, a sign, a
// stray character, more than 64 bits).
inline std::optional<std::uint64_t> parse_snowflake(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}
// The shard a guild's events go to.
constexpr int shard_for_guild(std::uint64_t guild_id, int shard_count) {
  return static_cast<int>((guild_id >> 22) % static_cast<std::uint64_t>(shard_count));
}

}  // namespace g::discord
