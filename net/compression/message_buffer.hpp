#pragma once
// The decompressors' output buffer is reused from message to message (no allocation on the hot path), but one
// grown by a burst of large messages (a cold start's GUILD_CREATEs) is released when a small message follows:
// a thousand idle shards should not each keep their largest message.
#include <cstddef>
#include <string>

namespace g::net {

inline constexpr std::size_t kept_buffer_bytes = 32u << 10;

// Empties `buf` for the next message, whose decompressed size is expected to be about `expected` bytes.
inline void begin_message(std::string& buf, std::size_t expected) {
  if (buf.capacity() > kept_buffer_bytes && expected < kept_buffer_bytes / 2) std::string().swap(buf);
  buf.clear();
}

}  // namespace g::net
