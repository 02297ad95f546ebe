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

struct message_spec {
  int guild = 0;
  int channel = 0;   // text channel index
  int author = -1;   // member index; -1: the guild owner
  std::uint64_t id = 0;
  std::string_view content;
  std::string_view nonce;
  std::int64_t unix_ms = 0;
};

// Writes the fields of a guild MESSAGE_CREATE `d` (without the braces), skipping those `skip` names.
void write_message_fields(json::writer& w, const world& wd, const message_spec& m,
                          const std::function<bool(std::string_view)>& skip = {});

}  // namespace g::sim
