#pragma once
// The clocks the shells read (the pure cores take time as an input): steady milliseconds for timers and
// deadlines, wall time for what goes into the stream and the simulator's nonces.
#include <chrono>
#include <cstdint>

namespace g::net {

inline std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
inline std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace g::net
