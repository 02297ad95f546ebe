// libFuzzer target: the hot path's decoding (zlib-stream inflate, then the frame scanner) on arbitrary bytes.
// The first input byte chooses how the rest is cut into WebSocket frames; each frame goes through one
// connection's inflater, and every completed message through the scanner. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/compression/zlib_stream.hpp"
#include "net/gateway/frame_scanner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  g::net::zlib_stream_inflater inflater;
  inflater.set_max_message(1u << 20);
  g::net::frame_scanner scanner;
  g::net::gateway_frame frame;
  // The same bytes as uncompressed JSON …
  (void)scanner.scan(rest, frame);
  // … and as a zlib stream in frames of `cut` bytes.
  while (!rest.empty()) {
    std::string_view piece = rest.substr(0, cut);
    rest.remove_prefix(piece.size());
    auto st = inflater.feed(piece);
    if (st == g::net::zlib_stream_inflater::status::error) break;
    if (st == g::net::zlib_stream_inflater::status::message)
      (void)scanner.scan(inflater.message().data(), inflater.message().size(), inflater.readable(), frame);
  }
  return 0;
}
