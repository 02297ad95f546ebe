#include "net/compression/zlib_stream.hpp"

#include "net/compression/message_buffer.hpp"

#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <stdexcept>

namespace g::net {

namespace {
constexpr unsigned char sync_flush_marker[4] = {0x00, 0x00, 0xFF, 0xFF};

bool ends_with_marker(std::string_view s) {
  return s.size() >= 4 && std::memcmp(s.data() + s.size() - 4, sync_flush_marker, 4) == 0;
}
}  // namespace

struct zlib_stream_deflater::state {
  z_stream z{};
};

zlib_stream_deflater::zlib_stream_deflater(int level, int window_bits, int mem_level) : s_(std::make_unique<state>()) {
  if (deflateInit2(&s_->z, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
}

zlib_stream_deflater::~zlib_stream_deflater() { deflateEnd(&s_->z); }

void zlib_stream_deflater::compress(std::string_view message, std::string& out) {
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  std::size_t start = out.size();
  // deflateBound covers the data; a sync flush adds at most a few bytes more.
  std::size_t room = deflateBound(&z, static_cast<uLong>(message.size())) + 16;
  for (;;) {
    std::size_t used = out.size();
    out.resize(used + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(room);
    int rc = deflate(&z, Z_SYNC_FLUSH);
    out.resize(used + room - z.avail_out);
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
    // Done when all input is consumed and the flush completed (output space left over).
    if (z.avail_in == 0 && z.avail_out != 0) break;
    room = 4096;
  }
  (void)start;
}

struct zlib_stream_inflater::state {
  z_stream z{};
};

zlib_stream_inflater::zlib_stream_inflater() : s_(std::make_unique<state>()) {
  if (inflateInit(&s_->z) != Z_OK) throw std::runtime_error("inflateInit failed");
  // A zlib-stream never ends (each message ends with a sync flush), so its Adler-32 trailer never comes: computing
  // the checksum over every byte inflated (about 2 % of the node's CPU at 2,000 events/s) would check nothing. The
  // header is still checked; TCP and TLS guard the bytes. (A woken idle inflater is raw deflate: no check either.)
  inflateValidate(&s_->z, 0);
}

zlib_stream_inflater::~zlib_stream_inflater() {
  if (!hibernating()) inflateEnd(&s_->z);
}

namespace {
// One of each per thread: an io thread packs and unpacks its own shards' windows one at a time.
struct window_packer {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  unsigned char window[32768];
  char packed[ZSTD_COMPRESSBOUND(32768)];
  ~window_packer() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};
window_packer& packer() {
  thread_local window_packer p;
  return p;
}
}  // namespace

bool zlib_stream_inflater::hibernate() {
  if (hibernating() || !pending_.empty()) return false;
  z_stream& z = s_->z;
  // zlib's data_type after inflate: the bits pending in the last byte (low 6 bits), 64 in the last block, 128 at a
  // block boundary. A sync flush leaves the stream at a boundary with nothing pending; a fresh inflater (still
  // before the header) is not at one.
  if (z.total_in == 0 || (z.data_type & 128) == 0 || (z.data_type & (64 | 63)) != 0) return false;
  window_packer& p = packer();
  uInt len = 0;
  if (!p.cctx || inflateGetDictionary(&z, p.window, &len) != Z_OK) return false;
  // A zstd frame is never empty (its header alone is several bytes), even for an empty window: hibernating() is
  // !packed_window_.empty().
  const std::size_t n = ZSTD_compressCCtx(p.cctx, p.packed, sizeof p.packed, p.window, len, 1);
  if (ZSTD_isError(n)) return false;
  inflateEnd(&z);
  z = z_stream{};
  packed_window_.assign(p.packed, n);
  std::string().swap(out_);
  std::string().swap(pending_);
  return true;
}

bool zlib_stream_inflater::wake() {
  window_packer& p = packer();
  const std::size_t len = p.dctx ? ZSTD_decompressDCtx(p.dctx, p.window, sizeof p.window, packed_window_.data(),
                                                       packed_window_.size())
                                 : 0;
  z_stream& z = s_->z;
  if (!p.dctx || ZSTD_isError(len) || inflateInit2(&z, -15) != Z_OK) {
    error_ = "zlib-stream: the idle connection's window could not be unpacked";
    return false;
  }
  std::string().swap(packed_window_);
  if (len > 0 && inflateSetDictionary(&z, p.window, static_cast<uInt>(len)) != Z_OK) {
    error_ = "zlib-stream: the idle connection's window could not be restored";
    return false;
  }
  return true;
}

zlib_stream_inflater::status zlib_stream_inflater::feed(std::string_view frame) {
  std::string_view input;
  if (pending_.empty() && ends_with_marker(frame)) {
    input = frame;  // the common case: one frame is one message, no copy
  } else {
    pending_.append(frame);
    if (pending_.size() > max_message_) {
      error_ = "zlib-stream message exceeds the size limit before its flush marker";
      pending_.clear();
      return status::error;
    }
    if (!ends_with_marker(pending_)) return status::need_more;
    input = pending_;
  }
  if (hibernating() && !wake()) {
    pending_.clear();
    return status::error;
  }
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  z.avail_in = static_cast<uInt>(input.size());
  std::size_t room = input.size() * 4 + 256;
  begin_message(out_, room);
  for (;;) {
    std::size_t used = out_.size();
    out_.resize(used + room);
    z.next_out = reinterpret_cast<Bytef*>(out_.data() + used);
    z.avail_out = static_cast<uInt>(room);
    int rc = inflate(&z, Z_SYNC_FLUSH);
    out_.resize(used + room - z.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      error_ = std::string("zlib-stream inflate failed: ") + (z.msg ? z.msg : "corrupt data");
      pending_.clear();
      return status::error;
    }
    if (z.avail_in == 0 && z.avail_out != 0) break;
    if (rc == Z_BUF_ERROR && z.avail_in != 0 && z.avail_out != 0) {
      error_ = "zlib-stream inflate made no progress";
      pending_.clear();
      return status::error;
    }
    if (out_.size() > max_message_) {
      error_ = "zlib-stream message inflates beyond the size limit";
      pending_.clear();
      return status::error;
    }
    room = out_.size();
  }
  begin_message(pending_, 0);
  if (out_.capacity() < out_.size() + 64) out_.reserve(out_.size() + 64);
  return status::message;
}

}  // namespace g::net

namespace g::net {

void zlib_stream_inflater::release_large_buffers() {
  release_if_large(out_);
  // Not while it gathers a message that spans several frames: those bytes are the message's beginning.
  if (pending_.empty()) release_if_large(pending_);
}

}  // namespace g::net
