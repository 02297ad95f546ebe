#include "sim/rest_rate_limits.hpp"

#include <cmath>
#include <cstdio>

namespace g::sim {

namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// The bucket's header value: a stable hash of its name, as opaque as Discord's.
std::string bucket_id(std::string_view bucket) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : bucket) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

rate_decision rest_rate_limits::take(const route_limit& route, std::string_view resource, millis now_ms,
                                     std::int64_t wall_ms) {
  rate_decision d;
  if (route.global) {
    if (now_ms - global_.started >= 1000) global_ = {now_ms, 0};
    if (global_.used >= global_per_second_) {
      // A global refusal carries only these (Discord's global 429 example).
      d.allowed = false;
      d.global = true;
      d.retry_after = static_cast<double>(global_.started + 1000 - now_ms) / 1000.0;
      d.headers = {{"Retry-After", std::to_string(static_cast<long long>(std::ceil(d.retry_after)))},
                   {"X-RateLimit-Global", "true"},
                   {"X-RateLimit-Scope", "global"}};
      return d;
    }
  }
  std::string key = std::string(route.bucket) + ":" + std::string(resource);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) it = buckets_.emplace(std::move(key), window{now_ms, 0}).first;
  window& w = it->second;
  if (now_ms - w.started >= route.window_ms) w = {now_ms, 0};
  const double reset_after = static_cast<double>(w.started + route.window_ms - now_ms) / 1000.0;
  d.allowed = w.used < route.limit;
  if (d.allowed) {
    ++w.used;
    if (route.global) ++global_.used;
  }
  d.headers = {{"X-RateLimit-Limit", std::to_string(route.limit)},
               {"X-RateLimit-Remaining", std::to_string(route.limit - w.used)},
               {"X-RateLimit-Reset", seconds_text(static_cast<double>(wall_ms) / 1000.0 + reset_after)},
               {"X-RateLimit-Reset-After", seconds_text(reset_after)},
               {"X-RateLimit-Bucket", bucket_id(route.bucket)}};
  if (!d.allowed) {
    d.retry_after = reset_after;
    d.headers.push_back({"Retry-After", std::to_string(static_cast<long long>(std::ceil(reset_after)))});
    d.headers.push_back({"X-RateLimit-Scope", "user"});
  }
  return d;
}

}  // namespace g::sim
