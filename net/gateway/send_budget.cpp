#include "net/gateway/send_budget.hpp"

namespace g::net {

std::int64_t send_budget::wait_ms(kind k, std::int64_t now_ms) const {
  if (allows(k, now_ms)) return 0;
  // Step forward to the first moment the window has room for this kind (events only ever leave the window).
  std::int64_t lo = now_ms + 1, hi = now_ms + window_ms;
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    if (allows(k, mid)) hi = mid; else lo = mid + 1;
  }
  return lo - now_ms;
}

}  // namespace g::net
