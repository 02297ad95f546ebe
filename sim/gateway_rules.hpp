#pragma once
// Discord's bot-wide gateway limits as g-fakecord enforces them. Pure: time is passed in.
#include <cstdint>
#include <vector>

namespace g::sim {

// One IDENTIFY per `shard_id % max_concurrency` bucket per 5 s.
class identify_buckets {
 public:
  static constexpr std::int64_t window_ms = 5000;
  explicit identify_buckets(int max_concurrency)
      : last_(static_cast<std::size_t>(max_concurrency), -window_ms) {}
  int bucket_of(int shard_id) const { return shard_id % static_cast<int>(last_.size()); }
  bool allows(int shard_id, std::int64_t now_ms) const {
    return now_ms - last(shard_id) >= window_ms;
  }
  void record(int shard_id, std::int64_t now_ms) { last_[static_cast<std::size_t>(bucket_of(shard_id))] = now_ms; }
  // The IDENTIFY recorded at `was` may have arrived as early as `earliest` (its time was not known exactly): the
  // bucket counts from there, unless a later IDENTIFY has been recorded since.
  void restamp(int shard_id, std::int64_t was, std::int64_t earliest) {
    auto& at = last_[static_cast<std::size_t>(bucket_of(shard_id))];
    if (at == was) at = earliest;
  }
  // When the bucket of `shard_id` last let an IDENTIFY through.
  std::int64_t last(int shard_id) const { return last_[static_cast<std::size_t>(bucket_of(shard_id))]; }
  int max_concurrency() const { return static_cast<int>(last_.size()); }

 private:
  std::vector<std::int64_t> last_;
};

// The daily session start budget (`session_start_limit`): IDENTIFY spends one, RESUME is free.
class session_budget {
 public:
  session_budget(int total, std::int64_t window_ms, std::int64_t start_ms)
      : total_(total), remaining_(total), window_ms_(window_ms), window_start_(start_ms) {}
  int total() const { return total_; }
  int remaining(std::int64_t now_ms) {
    roll(now_ms);
    return remaining_;
  }
  std::int64_t reset_after(std::int64_t now_ms) {
    roll(now_ms);
    return window_start_ + window_ms_ - now_ms;
  }
  bool try_spend(std::int64_t now_ms) {
    roll(now_ms);
    if (remaining_ <= 0) return false;
    --remaining_;
    return true;
  }

 private:
  void roll(std::int64_t now_ms) {
    if (now_ms - window_start_ >= window_ms_) {
      window_start_ += (now_ms - window_start_) / window_ms_ * window_ms_;
      remaining_ = total_;
    }
  }
  int total_;
  int remaining_;
  std::int64_t window_ms_;
  std::int64_t window_start_;
};

}  // namespace g::sim
