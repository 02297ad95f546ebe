#include "bench/decode_throughput.hpp"

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <simdjson.h>
#include <string>
#include <vector>
#include <zlib.h>

#include "net/compression/zlib_stream.hpp"
#include "net/gateway/frame_scanner.hpp"
#include "sim/harness/fakecord_process.hpp"

namespace g::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

}  // namespace

std::vector<std::string> record_frames(const std::string& fakecord, int count) {
  harness::fakecord_process fc(fakecord, {"--guilds", "200", "--members", "40", "--seed", "11"});
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws(io);
  beast::get_lowest_layer(ws).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), fc.port()));
  ws.handshake("127.0.0.1", "/?v=10&encoding=json&compress=zlib-stream");
  std::vector<std::string> frames;
  beast::flat_buffer buf;
  ws.read(buf);  // HELLO
  frames.emplace_back(static_cast<const char*>(buf.data().data()), buf.size());
  buf.consume(buf.size());
  ws.text(true);
  ws.write(asio::buffer(std::string(
      R"({"op":2,"d":{"token":"bench","intents":36739,"properties":{"os":"linux","browser":"g","device":"g"},"shard":[0,1],"large_threshold":250}})")));
  fc.post("/_fakecord/load", R"({"rate":20000})");
  while (static_cast<int>(frames.size()) < count) {
    ws.read(buf);
    frames.emplace_back(static_cast<const char*>(buf.data().data()), buf.size());
    buf.consume(buf.size());
  }
  fc.post("/_fakecord/load", R"({"rate":0})");
  return frames;
}

namespace {

template <class F>
double best_seconds(int passes, F&& f) {
  double best = 1e9;
  for (int p = 0; p < passes; ++p) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int run_decode_throughput(const decode_options& o) {
  std::vector<std::string> frames = record_frames(o.fakecord, o.frames);
  std::size_t compressed = 0;
  for (auto& f : frames) compressed += f.size();

  // Inflate once to get the JSON messages for the parse-only floor.
  std::vector<std::string> messages;
  {
    net::zlib_stream_inflater inf;
    for (auto& f : frames)
      if (inf.feed(f) == net::zlib_stream_inflater::status::message) messages.emplace_back(inf.message());
  }
  std::size_t json_bytes = 0;
  for (auto& m : messages) json_bytes += m.size();
  std::vector<simdjson::padded_string> padded;
  padded.reserve(messages.size());
  for (auto& m : messages) padded.emplace_back(m);

  volatile std::uint64_t sink = 0;
  // G's path: one inflater per connection, scan in place.
  double g_path = best_seconds(o.passes, [&] {
    net::zlib_stream_inflater inf;
    net::frame_scanner sc;
    net::gateway_frame f;
    std::uint64_t acc = 0;
    for (auto& fr : frames) {
      if (inf.feed(fr) != net::zlib_stream_inflater::status::message) continue;
      if (sc.scan(inf.message().data(), inf.message().size(), inf.readable(), f)) acc += f.guild_id + f.d.size();
    }
    sink = acc;
  });
  // Floor 1: zlib's inflate alone, one stream, a reused output buffer.
  double inflate_only = best_seconds(o.passes, [&] {
    z_stream z{};
    inflateInit(&z);
    std::vector<unsigned char> out(1 << 22);
    std::uint64_t acc = 0;
    for (auto& fr : frames) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(fr.data()));
      z.avail_in = static_cast<uInt>(fr.size());
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      inflate(&z, Z_SYNC_FLUSH);
      acc += out.size() - z.avail_out;
    }
    inflateEnd(&z);
    sink = acc;
  });
  // Floor 2: simdjson's parse alone (DOM), same messages, already padded.
  double parse_only = best_seconds(o.passes, [&] {
    simdjson::dom::parser p;
    std::uint64_t acc = 0;
    for (auto& m : padded) {
      simdjson::dom::element doc;
      if (p.parse(m).get(doc) == simdjson::SUCCESS) acc += 1;
    }
    sink = acc;
  });
  double floor = inflate_only + parse_only;
  double n = static_cast<double>(frames.size());
  std::printf("| scenario | messages | JSON MB | ratio zlib | G inflate+scan | floor inflate | floor parse | G / floor |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::printf("| decode+scan | %zu | %.1f | %.1fx | %.0f msg/s (%.0f MB/s) | %.2f s | %.2f s | %.2f |\n", frames.size(),
              static_cast<double>(json_bytes) / 1e6, static_cast<double>(json_bytes) / static_cast<double>(compressed),
              n / g_path, static_cast<double>(json_bytes) / g_path / 1e6, inflate_only, parse_only, g_path / floor);
  (void)sink;
  return 0;
}

}  // namespace g::bench
