#pragma once
// Gateway commands a bot's backend may send through G: checked before anything reaches Discord, because a bad
// payload would cost the shard its connection (4001/4002).
#include <optional>
#include <string>
#include <string_view>

namespace g::net {

constexpr std::size_t max_gateway_payload = 4096;

// The op codes backends may send: presence (3), voice state (4), request guild members (8), request soundboard
// sounds (31), request channel info (43).
bool is_backend_command(int op);

// The full payload `{"op":op,"d":d}` if the command is acceptable, else the reason it is not.
struct command_check {
  std::optional<std::string> payload;
  std::string error;
};
command_check check_command(int op, std::string_view d_json);

}  // namespace g::net
