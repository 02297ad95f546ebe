#pragma once
// Who may IDENTIFY when: one IDENTIFY per `shard_id % max_concurrency` bucket per 5 s, first come first served
// within a bucket. Pure: time is passed in; the caller turns grants into IDENTIFYs.
//
// A bucket's slot counts from its grant, and again from when the granted IDENTIFY actually left (sent()): Discord
// counts at its end, and an IDENTIFY that waited behind other work after its grant would otherwise leave the next
// one less than 5 s after it. With the slot counted from the send, the slot's margin over 5 s only has to cover
// the jitter of the network path, not G's own queueing.
#include <cstdint>
#include <deque>
#include <algorithm>
#include <limits>
#include <vector>

namespace g::cluster {

class identify_schedule {
 public:
  static constexpr std::int64_t slot_ms = 5000;
  using ticket = std::uint64_t;

  explicit identify_schedule(int max_concurrency, std::int64_t slot_length_ms = slot_ms)
      : buckets_(static_cast<std::size_t>(max_concurrency < 1 ? 1 : max_concurrency)), slot_ms_(slot_length_ms) {}

  ticket request(int shard_id) {
    ticket t = ++last_ticket_;
    buckets_[bucket_of(shard_id)].waiting.push_back(t);
    return t;
  }
  void cancel(ticket t) {
    for (auto& b : buckets_)
      for (auto it = b.waiting.begin(); it != b.waiting.end(); ++it)
        if (*it == t) {
          b.waiting.erase(it);
          return;
        }
  }
  // Tickets that may IDENTIFY now (at most one per bucket per slot).
  std::vector<ticket> grant(std::int64_t now_ms) {
    std::vector<ticket> out;
    for (auto& b : buckets_) {
      if (b.waiting.empty() || (b.used && now_ms - b.last < slot_ms_)) continue;
      out.push_back(b.waiting.front());
      b.granted = b.waiting.front();
      b.waiting.pop_front();
      b.last = now_ms;
      b.used = true;
    }
    return out;
  }
  // The IDENTIFY of grant `t` left at `now_ms`: its bucket's next grant is a slot after that.
  void sent(ticket t, std::int64_t now_ms) {
    for (auto& b : buckets_)
      if (b.used && b.granted == t) b.last = std::max(b.last, now_ms);
  }
  // When grant() may next return something; INT64_MAX when nobody waits.
  std::int64_t next_grant_at() const {
    std::int64_t t = std::numeric_limits<std::int64_t>::max();
    for (const auto& b : buckets_)
      if (!b.waiting.empty()) t = std::min(t, b.used ? b.last + slot_ms_ : std::numeric_limits<std::int64_t>::min());
    return t;
  }
  std::size_t bucket_of(int shard_id) const { return static_cast<std::size_t>(shard_id) % buckets_.size(); }

 private:
  struct bucket {
    std::deque<ticket> waiting;
    std::int64_t last = 0;  // the last grant, or its IDENTIFY's send
    ticket granted = 0;
    bool used = false;
  };
  std::vector<bucket> buckets_;
  std::int64_t slot_ms_;
  ticket last_ticket_ = 0;
};

}  // namespace g::cluster
