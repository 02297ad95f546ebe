#pragma once
// GET /gateway/bot: where to connect, how many shards Discord recommends, and the session start limits.
// Blocking (a node can do nothing before it knows these), with bounded retries.
#include <cstdint>
#include <string>
#include <variant>

namespace g::net {

struct gateway_bot {
  std::string url;
  int shards = 1;
  int session_total = 0;
  int session_remaining = 0;
  std::int64_t reset_after_ms = 0;
  int max_concurrency = 1;
};

struct rest_error {
  enum kind { token_rejected, http_status, network, bad_response } what;
  std::string message;  // one line, for operators
};

struct rest_options {
  std::string rest_url = "https://discord.com/api";  // without the /v10
  std::string token;
  std::string ca_file;        // also trust this CA (PEM) for https://
  int max_attempts = 5;       // transient failures (network, 5xx, 429) before giving up
  std::int64_t timeout_ms = 10000;
  std::int64_t backoff_base_ms = 500;
};

std::variant<gateway_bot, rest_error> fetch_gateway_bot(const rest_options& options);

}  // namespace g::net
