#pragma once
// Node ids: Twitter/Discord-style snowflakes (ms since the Discord epoch, 10 bits of worker, 12 of sequence),
// unique per process start and ordered by start time, which the election uses (older start first). Pure.
#include <cstdint>

#include "net/discord/snowflake.hpp"

namespace g::cluster {

class snowflake_generator {
 public:
  explicit snowflake_generator(std::uint32_t worker) : worker_(worker & 0x3FF) {}

  // `unix_ms` must not go backwards by more than the caller tolerates; a step back reuses the last time.
  std::uint64_t next(std::uint64_t unix_ms) {
    if (unix_ms < last_ms_) unix_ms = last_ms_;
    if (unix_ms == last_ms_) {
      seq_ = (seq_ + 1) & 0xFFF;
      if (seq_ == 0) ++unix_ms;  // 4096 ids in one ms: borrow the next
    } else {
      seq_ = 0;
    }
    last_ms_ = unix_ms;
    return discord::make_snowflake(unix_ms, (static_cast<std::uint64_t>(worker_) << 12) | seq_);
  }
  static std::uint64_t time_ms(std::uint64_t id) { return discord::snowflake_time_ms(id); }

 private:
  std::uint32_t worker_;
  std::uint64_t last_ms_ = 0;
  std::uint32_t seq_ = 0;
};

}  // namespace g::cluster
