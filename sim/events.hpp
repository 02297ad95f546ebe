#pragma once
// Payloads of the guild events g-fakecord generates or completes (MESSAGE_CREATE, TYPING_START, …).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace g::json {
class writer;
}

namespace g::sim {

class world;

struct member_state;

struct message_spec {
  int guild = 0;
  std::uint64_t channel_id = 0;
  const member_state* author = nullptr;  // nullptr: the guild owner
  std::uint64_t id = 0;
  std::string_view content;
  std::string_view nonce;
  std::int64_t unix_ms = 0;
};

// Writes the fields of a guild MESSAGE_CREATE `d` (without the braces), skipping those `skip` names.
void write_message_fields(json::writer& w, const world& wd, const message_spec& m,
                          const std::function<bool(std::string_view)>& skip = {});

}  // namespace g::sim
