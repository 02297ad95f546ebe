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

// What became of a command: sent to Discord, or why not.
enum class command_result {
  sent,
  rejected_unknown_op,   // not one of the ops backends may send
  rejected_bad_json,     // d missing, not JSON, or not an object
  rejected_too_large,    // the payload would exceed 4096 bytes
  rejected_queue_full,   // the shard's send budget is spoken for
  rejected_not_running,  // the shard is not connected (stopping, moved, reconnecting)
};
// The reason as the command results stream names it: sent, unknown_op, bad_json, too_large, no_budget, not_ready.
std::string_view result_name(command_result r);

// The full payload `{"op":op,"d":d}` if the command is acceptable, else why it is not.
struct command_check {
  std::optional<std::string> payload;
  command_result rejection = command_result::sent;  // when there is no payload
  std::string error;
};
command_check check_command(int op, std::string_view d_json);

}  // namespace g::net
