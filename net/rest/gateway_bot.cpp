#include "net/rest/gateway_bot.hpp"

#include <chrono>
#include <random>
#include <simdjson.h>
#include <thread>

#include "net/rest/http_get.hpp"
#include "net/url.hpp"

namespace g::net {

namespace {

double retry_after_seconds(const http_result& r) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  double s = 0;
  if (p.parse(r.body).get(doc) == simdjson::SUCCESS && doc["retry_after"].get_double().get(s) == simdjson::SUCCESS) return s;
  try {
    return r.retry_after.empty() ? 1.0 : std::stod(r.retry_after);
  } catch (...) {
    return 1.0;
  }
}

std::variant<gateway_bot, rest_error> parse_gateway_bot(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  gateway_bot g;
  std::string_view url;
  std::int64_t shards = 0, total = 0, remaining = 0, reset_after = 0, max_concurrency = 0;
  simdjson::dom::element limit;
  if (p.parse(body).get(doc) != simdjson::SUCCESS || doc["url"].get_string().get(url) != simdjson::SUCCESS ||
      doc["shards"].get_int64().get(shards) != simdjson::SUCCESS ||
      doc["session_start_limit"].get(limit) != simdjson::SUCCESS ||
      limit["total"].get_int64().get(total) != simdjson::SUCCESS ||
      limit["remaining"].get_int64().get(remaining) != simdjson::SUCCESS ||
      limit["reset_after"].get_int64().get(reset_after) != simdjson::SUCCESS ||
      limit["max_concurrency"].get_int64().get(max_concurrency) != simdjson::SUCCESS || shards < 1 ||
      max_concurrency < 1) {
    return rest_error{rest_error::bad_response, "GET /gateway/bot returned an unexpected body: " + body.substr(0, 200)};
  }
  g.url = std::string(url);
  g.shards = static_cast<int>(shards);
  g.session_total = static_cast<int>(total);
  g.session_remaining = static_cast<int>(remaining);
  g.reset_after_ms = reset_after;
  g.max_concurrency = static_cast<int>(max_concurrency);
  return g;
}

}  // namespace

std::variant<gateway_bot, rest_error> fetch_gateway_bot(const rest_options& o) {
  auto u = parse_url(o.rest_url, true);
  if (!u) return rest_error{rest_error::bad_response, "rest_url '" + o.rest_url + "' is not an http(s) URL"};
  while (!u->path.empty() && u->path.back() == '/') u->path.pop_back();
  if (o.token.empty()) return rest_error{rest_error::token_rejected, "no bot token configured"};
  const std::string target = u->path + "/v10/gateway/bot";
  const std::string url = o.rest_url.substr(0, o.rest_url.find_last_not_of('/') + 1) + "/v10/gateway/bot";
  std::mt19937_64 rng(std::random_device{}());
  rest_error last{rest_error::network, "no attempt made"};
  std::int64_t backoff = o.backoff_base_ms;
  for (int attempt = 1; attempt <= o.max_attempts; ++attempt) {
    http_result r = http_get(*u, target, "Bot " + o.token, o.ca_file, o.timeout_ms);
    std::int64_t wait_ms = 0;
    if (!r.network_error.empty()) {
      last = {rest_error::network, "GET " + url + ": " + r.network_error};
      wait_ms = backoff;
    } else if (r.status == 200) {
      return parse_gateway_bot(r.body);
    } else if (r.status == 401) {
      return rest_error{rest_error::token_rejected, "Discord rejected the bot token (401 Unauthorized): check the token"};
    } else if (r.status == 429) {
      last = {rest_error::http_status, "rate limited (429)"};
      wait_ms = static_cast<std::int64_t>(retry_after_seconds(r) * 1000.0);
    } else if (r.status >= 500) {
      last = {rest_error::http_status, "GET " + url + " answered " + std::to_string(r.status)};
      wait_ms = backoff;
    } else if (r.status == 404) {
      return rest_error{rest_error::http_status,
                        "GET " + url + " answered 404: [discord] rest_url must be the API base ending in /api "
                        "(https://discord.com/api, or http://HOST:PORT/api for g-fakecord); the node adds /v10/…"};
    } else {
      return rest_error{rest_error::http_status, "GET " + url + " answered " + std::to_string(r.status) + ": " + r.body.substr(0, 200)};
    }
    if (attempt == o.max_attempts) break;
    if (wait_ms == backoff) {
      wait_ms = backoff / 2 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(backoff / 2 + 1));
      backoff = std::min<std::int64_t>(backoff * 2, 30000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
  last.message += " (after " + std::to_string(o.max_attempts) + " attempts)";
  return last;
}

}  // namespace g::net
