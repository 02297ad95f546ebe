#pragma once
// Polls a condition until it holds or the time is up (tests and benchmarks watch other processes).
#include <chrono>
#include <functional>
#include <thread>

namespace g::harness {

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(poll);
  }
  return pred();
}

}  // namespace g::harness
