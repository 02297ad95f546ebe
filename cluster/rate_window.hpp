#pragma once
// At most `limit` events in any `window_ms` span (a sliding window over the last `limit` event times).
// Pure: time is passed in. Used for Discord's 120-payloads-per-60-s gateway rule.
#include <cstdint>
#include <vector>

namespace g::cluster {

class rate_window {
 public:
  rate_window(std::size_t limit, std::int64_t window_ms) : times_(limit, 0), window_ms_(window_ms) {}

  // Events recorded within (now - window, now].
  std::size_t count(std::int64_t now_ms) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < filled_; ++i)
      if (times_[i] > now_ms - window_ms_) ++n;
    return n;
  }
  // True when one more event at `now_ms` stays within the limit.
  bool allows(std::int64_t now_ms) const {
    if (times_.empty()) return false;
    if (filled_ < times_.size()) return true;
    return times_[next_] <= now_ms - window_ms_;  // the oldest of the last `limit` events has left the window
  }
  // Milliseconds until allows() becomes true (0 if it already is).
  std::int64_t wait_ms(std::int64_t now_ms) const {
    if (allows(now_ms) || times_.empty()) return 0;
    return times_[next_] + window_ms_ - now_ms;
  }
  void record(std::int64_t now_ms) {
    if (times_.empty()) return;
    times_[next_] = now_ms;
    next_ = (next_ + 1) % times_.size();
    if (filled_ < times_.size()) ++filled_;
  }
  std::size_t limit() const { return times_.size(); }

 private:
  std::vector<std::int64_t> times_;  // ring of the last `limit` event times
  std::size_t next_ = 0;             // oldest slot once the ring is full
  std::size_t filled_ = 0;
  std::int64_t window_ms_;
};

}  // namespace g::cluster
