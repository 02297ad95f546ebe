#pragma once
// Discord's REST rate limits as g-fakecord applies them (Discord's "Rate Limits" topic): per-route buckets, counted
// per top-level resource (channel, guild, webhook), and a global limit per bot of 50 requests a second that the
// interaction endpoints are exempt from. Every limited answer carries the X-RateLimit headers; a refusal is a 429
// with retry_after, Retry-After and X-RateLimit-Scope. Pure: time is passed in.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace g::sim {

using millis = std::int64_t;
using http_headers = std::vector<std::pair<std::string, std::string>>;

struct route_limit {
  std::string_view bucket;  // Discord's opaque bucket name: the route, not its resource
  int limit = 5;
  millis window_ms = 5000;
  bool global = true;       // counts toward the bot's global limit (interaction endpoints do not)
};

struct rate_decision {
  bool allowed = true;
  http_headers headers;
  double retry_after = 0;   // seconds, when refused
  bool global = false;      // refused by the global limit
};

class rest_rate_limits {
 public:
  explicit rest_rate_limits(int global_per_second = 50) : global_per_second_(global_per_second) {}

  // One request to a route for `resource` (the channel, guild or webhook id in its path; empty for none) at
  // `now_ms` (monotonic) and `wall_ms` (for X-RateLimit-Reset, Unix time).
  rate_decision take(const route_limit& route, std::string_view resource, millis now_ms, std::int64_t wall_ms);

 private:
  struct window {
    millis started = 0;
    int used = 0;
  };
  int global_per_second_;
  window global_;
  std::map<std::string, window, std::less<>> buckets_;
};

}  // namespace g::sim
