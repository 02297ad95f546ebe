#pragma once
// Keeps IDENTIFYs from draining the daily session budget: Discord resets the token of a bot that exhausts it.
// Below `reserve` remaining starts, IDENTIFY is refused (RESUME never costs budget) until the window resets. Pure.
#include <cstdint>

namespace g::cluster {

class session_budget_guard {
 public:
  session_budget_guard(int total, int remaining, std::int64_t reset_after_ms, int reserve, std::int64_t now_ms)
      : total_(total), remaining_(remaining), reserve_(reserve), reset_at_(now_ms + reset_after_ms) {}

  bool allows(std::int64_t now_ms) {
    if (now_ms >= reset_at_ && total_ > 0) {
      remaining_ = total_;
      reset_at_ = now_ms + 24LL * 3600 * 1000;
    }
    return remaining_ > reserve_;
  }
  void spent() { --remaining_; }
  int remaining() const { return remaining_; }
  std::int64_t resets_at() const { return reset_at_; }

 private:
  int total_, remaining_, reserve_;
  std::int64_t reset_at_;
};

}  // namespace g::cluster
