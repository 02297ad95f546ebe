#include "net/compression/zstd_stream.hpp"

#include "net/compression/message_buffer.hpp"

#include <zstd.h>

#include <stdexcept>

namespace g::net {

struct zstd_stream_compressor::state {
  ZSTD_CCtx* cctx = nullptr;
};

zstd_stream_compressor::zstd_stream_compressor(int level, int window_log) : s_(std::make_unique<state>()) {
  s_->cctx = ZSTD_createCCtx();
  if (!s_->cctx) throw std::runtime_error("ZSTD_createCCtx failed");
  ZSTD_CCtx_setParameter(s_->cctx, ZSTD_c_compressionLevel, level);
  if (window_log > 0) ZSTD_CCtx_setParameter(s_->cctx, ZSTD_c_windowLog, window_log);
}

zstd_stream_compressor::~zstd_stream_compressor() { ZSTD_freeCCtx(s_->cctx); }

void zstd_stream_compressor::compress(std::string_view message, std::string& out) {
  ZSTD_inBuffer in{message.data(), message.size(), 0};
  std::size_t room = ZSTD_compressBound(message.size()) + 64;
  for (;;) {
    std::size_t used = out.size();
    out.resize(used + room);
    ZSTD_outBuffer ob{out.data() + used, room, 0};
    std::size_t left = ZSTD_compressStream2(s_->cctx, &ob, &in, ZSTD_e_flush);
    out.resize(used + ob.pos);
    if (ZSTD_isError(left)) throw std::runtime_error(ZSTD_getErrorName(left));
    if (left == 0 && in.pos == in.size) break;
    room = 4096;
  }
}

struct zstd_stream_decompressor::state {
  ZSTD_DCtx* dctx = nullptr;
};

zstd_stream_decompressor::zstd_stream_decompressor() : s_(std::make_unique<state>()) {
  s_->dctx = ZSTD_createDCtx();
  if (!s_->dctx) throw std::runtime_error("ZSTD_createDCtx failed");
}

zstd_stream_decompressor::~zstd_stream_decompressor() { ZSTD_freeDCtx(s_->dctx); }

bool zstd_stream_decompressor::feed(std::string_view frame) {
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  std::size_t room = frame.size() * 4 + 256;
  begin_message(out_, room);
  for (;;) {
    std::size_t used = out_.size();
    out_.resize(used + room);
    ZSTD_outBuffer ob{out_.data() + used, room, 0};
    std::size_t rc = ZSTD_decompressStream(s_->dctx, &ob, &in);
    out_.resize(used + ob.pos);
    if (ZSTD_isError(rc)) {
      error_ = std::string("zstd-stream decompress failed: ") + ZSTD_getErrorName(rc);
      return false;
    }
    // All input consumed and the output buffer not filled: nothing more is buffered inside the context.
    if (in.pos == in.size && ob.pos < ob.size) {
      if (out_.capacity() < out_.size() + 64) out_.reserve(out_.size() + 64);
      return true;
    }
    if (out_.size() > max_message_) {
      error_ = "zstd-stream message decompresses beyond the size limit";
      return false;
    }
    room = out_.size();
  }
}

}  // namespace g::net

namespace g::net {

void zstd_stream_decompressor::release_large_buffers() { release_if_large(out_); }

}  // namespace g::net
