#pragma once
// Discord's zlib-stream transport compression: one deflate stream (with zlib header) per connection,
// every gateway message ending in a Z_SYNC_FLUSH (bytes 00 00 FF FF).
#include <memory>
#include <string>
#include <string_view>

namespace g::net {

// Server side (g-fakecord): compresses each outgoing message onto the connection's stream.
class zlib_stream_deflater {
 public:
  // `window_bits` (9–15) and `mem_level` (1–9) trade ratio for memory: the defaults take ~256 KiB per stream, 12 and 5
  // ~40 KiB. Any client's inflater (32 KiB window) reads streams made with a smaller window.
  explicit zlib_stream_deflater(int level, int window_bits = 15, int mem_level = 8);
  ~zlib_stream_deflater();
  zlib_stream_deflater(const zlib_stream_deflater&) = delete;
  zlib_stream_deflater& operator=(const zlib_stream_deflater&) = delete;

  // Appends the compressed bytes of `message` (ending in 00 00 FF FF) to `out`.
  void compress(std::string_view message, std::string& out);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

// Client side: buffers frames until the sync-flush marker, then inflates the whole message.
class zlib_stream_inflater {
 public:
  enum class status { need_more, message, error };

  zlib_stream_inflater();
  ~zlib_stream_inflater();
  zlib_stream_inflater(const zlib_stream_inflater&) = delete;
  zlib_stream_inflater& operator=(const zlib_stream_inflater&) = delete;

  // Feeds one received binary frame. On `message`, message() holds the inflated bytes until the next feed.
  status feed(std::string_view frame);
  std::string_view message() const { return out_; }
  // Bytes readable from message().data(): at least message().size() + 64, so a SIMD parser can run in place.
  std::size_t readable() const { return out_.capacity(); }
  // Between messages, or after a frame that left a message incomplete: large buffers are released (message() is
  // empty until the next one; a message still being gathered keeps its bytes).
  void release_large_buffers();
  const std::string& error() const { return error_; }

  // For an idle connection: between messages, inflate's state and its 32 KiB window (about 40 KiB, most of an idle
  // shard's memory) are freed, and the window kept packed (zstd; a few KiB of JSON). The next frame unpacks it
  // into a raw inflater (the zlib header is behind), which goes on exactly where this one stopped. False, and
  // nothing changes, when the stream is not at a point where it can: a message half received, or not at a block
  // boundary (only after a flush marker is it at one, with no bits pending).
  bool hibernate();
  bool hibernating() const { return !packed_window_.empty(); }

  // Upper bound on one inflated message; a larger one is an error, not an allocation spiral.
  void set_max_message(std::size_t bytes) { max_message_ = bytes; }

 private:
  struct state;
  std::unique_ptr<state> s_;
  bool wake();  // unpacks the window into a new raw inflater; false (error_ set) if it cannot
  std::string pending_;
  std::string packed_window_;
  std::string out_;
  std::string error_;
  std::size_t max_message_ = 64u << 20;
};

}  // namespace g::net
