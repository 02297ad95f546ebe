#pragma once
// What a shard does when its gateway connection closes with a given code (reference §8–§9), as one table.
#include <string_view>

namespace g::net {

enum class after_close {
  resume,      // reconnect to resume_gateway_url and RESUME
  reidentify,  // the session is gone: reconnect to the bootstrap URL and IDENTIFY
  fatal,       // never reconnect: an operator must fix something (token, shards, intents, version)
};

struct close_rule {
  int code;
  after_close action;
  std::string_view meaning;
};

// The rule for a close code. Codes not in the table (including 1006/no close frame, 1001, and Discord's 1000)
// resume: the session may still be alive, and a failed RESUME costs only an op 9.
close_rule close_policy(int code);

// The code G closes with when it means to resume (anything but 1000/1001 keeps the session alive).
constexpr int resumable_close_code = 4900;

}  // namespace g::net
