#pragma once
// Discord's 120-payloads-per-60-s limit per connection, shared by heartbeats, IDENTIFY/RESUME and commands.
// Commands may use only `limit - reserve`, so heartbeats and session payloads always find room. Pure.
#include <cstdint>

#include "cluster/rate_window.hpp"

namespace g::net {

class send_budget {
 public:
  static constexpr std::size_t limit = 120;
  static constexpr std::int64_t window_ms = 60000;
  // Per 60 s a shard needs at most a couple of heartbeats, one IDENTIFY or RESUME and the odd reply to op 1.
  static constexpr std::size_t reserve = 10;

  enum class kind { critical, command };

  bool allows(kind k, std::int64_t now_ms) const {
    if (!window_.allows(now_ms)) return false;
    return k == kind::critical || window_.count(now_ms) < limit - reserve;
  }
  // Milliseconds until a payload of this kind may go.
  std::int64_t wait_ms(kind k, std::int64_t now_ms) const;
  void record(std::int64_t now_ms) { window_.record(now_ms); }
  std::size_t used(std::int64_t now_ms) const { return window_.count(now_ms); }
  void reset() { window_ = cluster::rate_window(limit, window_ms); }  // a new connection has a fresh budget

 private:
  cluster::rate_window window_{limit, window_ms};
};

}  // namespace g::net
