#pragma once
// The server's side of a gateway connection: what a client sent, decoded and checked as Discord checks it
// (reference §5, §9 and the checklist in §16). g-fakecord and the proxy both serve the gateway; this is the one
// place that decides which close code a client's payload earns, so the two cannot drift apart.
//
// Includes simdjson: only the two servers' connection files include this header.
#include <simdjson.h>

#include <cstdint>
#include <string_view>

#include "cluster/rate_window.hpp"

namespace g::net {

// Why a payload was refused; each maps to one close code (client_refusal_code) and one counted violation name.
enum class client_refusal {
  none,
  rate_limited,           // 4008: more than 120 payloads in 60 s
  too_large,              // 4002: more than 4096 bytes
  undecodable,            // 4002: not a JSON object with an integer op
  unknown_opcode,         // 4001
  invalid_payload,        // 4001: a known op whose d is malformed
  not_authenticated,      // 4003: a command before IDENTIFY/RESUME
  already_authenticated,  // 4005: a second IDENTIFY or RESUME
  authentication_failed,  // 4004: wrong or missing token
  invalid_shard,          // 4010
  invalid_intents,        // 4013: bits Discord does not define
  disallowed_intents,     // 4014: a privileged intent the application lacks
};

int client_refusal_code(client_refusal r);
std::string_view client_refusal_reason(client_refusal r);  // the close frame's reason text, Discord's wording
std::string_view client_refusal_name(client_refusal r);    // the violation name g-fakecord counts

struct client_identify {
  std::string_view token;  // without a "Bot " prefix (tolerated, as gateway-proxy notes)
  std::uint64_t intents = 0;
  std::int64_t shard_id = 0;
  std::int64_t shard_count = 1;
  bool shard_sent = false;
  std::int64_t large_threshold = 50;
  bool has_presence = false;
  simdjson::dom::element presence;  // valid when has_presence
};

struct client_resume {
  std::string_view token;
  std::string_view session_id;
  std::int64_t seq = 0;  // a null seq reads as 0
};

struct client_payload {
  enum kind { refused, heartbeat, identify, resume, command } what = refused;
  client_refusal refusal = client_refusal::none;
  std::int64_t op = -1;
  simdjson::dom::element d;  // the payload's d (a JSON null when absent); valid until the next decode
  client_identify ident;
  client_resume res;
};

// What the server requires of an IDENTIFY or RESUME.
struct client_rules {
  std::string_view token;                // empty: any non-empty token is accepted
  std::uint64_t allowed_privileged = ~0ull;  // privileged intents the application may use
};

// One per connection: reuses its parser, keeps the connection's 120-per-60-s window.
class client_decoder {
 public:
  static constexpr std::size_t max_payload = 4096;

  explicit client_decoder(client_rules rules) : rules_(rules) {}

  // Every payload counts towards the rate limit, heartbeats included (as on Discord). `authenticated` says
  // whether an IDENTIFY or RESUME was already accepted on this connection.
  client_payload decode(std::string_view payload, std::int64_t now_ms, bool authenticated);

 private:
  void decode_identify(client_payload& p) const;
  void decode_resume(client_payload& p) const;
  bool token_ok(std::string_view& token) const;

  client_rules rules_;
  simdjson::dom::parser parser_;
  cluster::rate_window sends_{120, 60000};
};

}  // namespace g::net
