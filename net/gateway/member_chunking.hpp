#pragma once
// Member chunking: which guilds need an op 8 after GUILD_CREATE (Discord sends only part of a large guild's
// members), and the request to send.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace g::net {

// The guild id if this GUILD_CREATE `d` lacks members: `large`, or fewer members listed than member_count.
std::optional<std::uint64_t> guild_needing_members(std::string_view guild_create_d);

// RATE_LIMITED's `d` for an op 8 (opcode 8): the guild and the milliseconds to wait.
std::optional<std::pair<std::uint64_t, std::int64_t>> rate_limited_member_request(std::string_view rate_limited_d);

// op 8's `d` for the whole member list of a guild.
std::string request_all_members(std::uint64_t guild_id, bool presences);

}  // namespace g::net
