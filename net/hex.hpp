#pragma once
// Lower-case hex of bytes (digests, random challenges).
#include <cstddef>
#include <string>

namespace g::net {

inline std::string to_hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 0xF];
  }
  return out;
}

}  // namespace g::net
