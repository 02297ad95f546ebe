#pragma once
// The decompressors' output buffer is reused from message to message (no allocation on the hot path), but one
// grown by a burst of large messages (a cold start's GUILD_CREATEs) is released when a small message follows:
// a thousand idle shards should not each keep their largest message.
#include <cstddef>
#include <string>

namespace g::net {

inline constexpr std::size_t kept_buffer_bytes = 32u << 10;

// After a message was handled: a buffer grown past what an idle shard may keep (a GUILD_CREATE, a member chunk) is
// released at once. Waiting for the next (small) message kept it until the next heartbeat ACK, 41 s later, in every
// shard after a cold start.
inline constexpr std::size_t idle_buffer_bytes = 8u << 10;
inline void release_if_large(std::string& buf) {
  if (buf.capacity() > idle_buffer_bytes) std::string().swap(buf);
}

// Empties `buf` for the next message, whose decompressed size is expected to be about `expected` bytes.
inline void begin_message(std::string& buf, std::size_t expected) {
  if (buf.capacity() > kept_buffer_bytes && expected < kept_buffer_bytes / 2) std::string().swap(buf);
  buf.clear();
}

}  // namespace g::net
