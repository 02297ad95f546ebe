#pragma once
// The hot path's single look at a gateway message: op, s, t, the guild it belongs to and the exact bytes of `d`,
// located in place (simdjson On-Demand) without building a DOM or copying `d`.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace g::net {

struct gateway_frame {
  int op = -1;
  std::int64_t s = -1;         // -1: null or absent
  std::string_view t;          // empty: null or absent
  std::string_view d;          // raw JSON of `d`, pointing into the scanned bytes ("null" when absent)
  std::uint64_t guild_id = 0;  // d.guild_id, or d.id for GUILD_CREATE/UPDATE/DELETE; 0: none
};

class frame_scanner {
 public:
  // Bytes simdjson may read past the end of the input; scan() copies the input when its buffer has less room.
  static constexpr std::size_t padding = 64;

  frame_scanner();
  ~frame_scanner();
  frame_scanner(const frame_scanner&) = delete;
  frame_scanner& operator=(const frame_scanner&) = delete;

  // `capacity` is how many bytes from `data` may be read (>= size). The frame's views stay valid until the next
  // scan and while `data` lives. Structural validity (balanced brackets, closed strings, UTF-8) is checked;
  // values inside `d` that the scanner does not read are passed on as received.
  bool scan(const char* data, std::size_t size, std::size_t capacity, gateway_frame& out);
  bool scan(std::string_view text, gateway_frame& out) { return scan(text.data(), text.size(), text.size(), out); }
  const std::string& error() const { return error_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string error_;
};

}  // namespace g::net
