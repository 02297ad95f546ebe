#pragma once
// Discord's zstd-stream transport compression: one zstd stream per connection; every WebSocket message carries
// exactly one gateway message, flushed (ZSTD_e_flush) but never ending the frame.
#include <memory>
#include <string>
#include <string_view>

namespace g::net {

class zstd_stream_compressor {
 public:
  // `window_log` 0 keeps the level's window; 15 or 16 keep a stream's memory small (clients accept any window).
  explicit zstd_stream_compressor(int level, int window_log = 0);
  ~zstd_stream_compressor();
  zstd_stream_compressor(const zstd_stream_compressor&) = delete;
  zstd_stream_compressor& operator=(const zstd_stream_compressor&) = delete;

  void compress(std::string_view message, std::string& out);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

class zstd_stream_decompressor {
 public:
  zstd_stream_decompressor();
  ~zstd_stream_decompressor();
  zstd_stream_decompressor(const zstd_stream_decompressor&) = delete;
  zstd_stream_decompressor& operator=(const zstd_stream_decompressor&) = delete;

  // Decompresses one WebSocket message; false on corrupt input (error() says why).
  bool feed(std::string_view frame);
  std::string_view message() const { return out_; }
  // Bytes readable from message().data(): at least message().size() + 64, so a SIMD parser can run in place.
  std::size_t readable() const { return out_.capacity(); }
  // The message was handled: a large buffer is released (message() is empty until the next one).
  void release_large_buffers();
  const std::string& error() const { return error_; }
  void set_max_message(std::size_t bytes) { max_message_ = bytes; }

 private:
  struct state;
  std::unique_ptr<state> s_;
  std::string out_;
  std::string error_;
  std::size_t max_message_ = 64u << 20;
};

}  // namespace g::net
