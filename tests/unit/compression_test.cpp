#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"

using namespace g::net;

namespace {
std::vector<std::string> sample_messages() {
  std::vector<std::string> v;
  for (int i = 0; i < 50; ++i)
    v.push_back(R"({"t":"MESSAGE_CREATE","s":)" + std::to_string(i) + R"(,"op":0,"d":{"content":")" +
                std::string(static_cast<std::size_t>(i * 37 % 500), 'x') + R"("}})");
  v.push_back(std::string(200000, 'y'));  // larger than any internal buffer step
  return v;
}
}  // namespace

TEST_CASE("zlib-stream: every message ends with the sync-flush marker and inflates back") {
  zlib_stream_deflater def(6);
  zlib_stream_inflater inf;
  bool first = true;
  for (const auto& m : sample_messages()) {
    std::string frame;
    def.compress(m, frame);
    REQUIRE(frame.size() >= 4);
    CHECK(frame.substr(frame.size() - 4) == std::string("\x00\x00\xff\xff", 4));
    if (first) CHECK(static_cast<unsigned char>(frame[0]) == 0x78);  // zlib header, not raw deflate
    first = false;
    REQUIRE(inf.feed(frame) == zlib_stream_inflater::status::message);
    CHECK(inf.message() == m);
  }
}

TEST_CASE("zlib-stream: a message split over several frames is buffered until its marker") {
  zlib_stream_deflater def(1);
  zlib_stream_inflater inf;
  std::string frame;
  def.compress(R"({"op":10,"d":{"heartbeat_interval":41250}})", frame);
  std::size_t half = frame.size() / 2;
  CHECK(inf.feed(std::string_view(frame).substr(0, half)) == zlib_stream_inflater::status::need_more);
  REQUIRE(inf.feed(std::string_view(frame).substr(half)) == zlib_stream_inflater::status::message);
  CHECK(inf.message() == R"({"op":10,"d":{"heartbeat_interval":41250}})");
}

TEST_CASE("zlib-stream: an idle inflater packs its window and goes on exactly where it stopped") {
  // Messages of words from a small vocabulary, each repeating much of earlier ones: the compressor refers back into
  // the window, across every hibernation.
  std::mt19937 rng(7);
  const char* words[] = {"guild", "member", "presence", "\"id\":", "1234567890", "channel", "role", "emoji"};
  zlib_stream_deflater def(6);
  zlib_stream_inflater inf, reference;
  CHECK_FALSE(inf.hibernate());  // nothing read yet: the zlib header is still ahead
  int hibernated = 0;
  std::size_t repeated_frame = 0;
  const std::string repeated = R"({"t":"GUILD_CREATE","d":{"name":"the same guild again, and again"}})";
  for (int i = 0; i < 400; ++i) {
    std::string m = i % 50 == 49 ? repeated : "{\"s\":" + std::to_string(i) + ",\"d\":\"";
    if (i % 50 != 49)
      for (int w = 0; w < static_cast<int>(rng() % 300); ++w) m += words[rng() % 8];
    if (i % 50 != 49) m += "\"}";
    if (i == 7) m += std::string(100000, 'z');  // larger than the window
    std::string frame;
    def.compress(m, frame);
    if (i % 50 == 49 && i > 49) repeated_frame = frame.size();
    if (i % 3 == 1) {  // half a frame arrives, then a pause: not at a point where it can
      REQUIRE(inf.feed(std::string_view(frame).substr(0, frame.size() / 2)) == zlib_stream_inflater::status::need_more);
      CHECK_FALSE(inf.hibernate());
      REQUIRE(inf.feed(std::string_view(frame).substr(frame.size() / 2)) == zlib_stream_inflater::status::message);
    } else {
      REQUIRE(inf.feed(frame) == zlib_stream_inflater::status::message);
    }
    REQUIRE(reference.feed(frame) == zlib_stream_inflater::status::message);
    CHECK(inf.message() == m);
    CHECK(reference.message() == m);
    if (rng() % 2) {
      REQUIRE(inf.hibernate());
      CHECK(inf.hibernating());
      CHECK(inf.message().empty());
      CHECK_FALSE(inf.hibernate());  // once is enough
      ++hibernated;
    }
  }
  CHECK(hibernated > 150);
  CHECK(repeated_frame < repeated.size() / 3);  // it was sent as a reference into the window
}

TEST_CASE("zlib-stream: a hibernating inflater still reports corrupt input as an error") {
  zlib_stream_deflater def(6);
  zlib_stream_inflater inf;
  std::string frame;
  def.compress(R"({"op":10})", frame);
  REQUIRE(inf.feed(frame) == zlib_stream_inflater::status::message);
  REQUIRE(inf.hibernate());
  CHECK(inf.feed(std::string("\xff\xff\xff\xff\x00\x00\xff\xff", 8)) == zlib_stream_inflater::status::error);
  CHECK_FALSE(inf.error().empty());
}

TEST_CASE("zlib-stream: corrupt input is an error, not a crash") {
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    zlib_stream_inflater inf;
    std::string junk(static_cast<std::size_t>(rng() % 300 + 4), '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    junk.replace(junk.size() - 4, 4, std::string("\x00\x00\xff\xff", 4));
    auto st = inf.feed(junk);
    CHECK(st != zlib_stream_inflater::status::need_more);
    if (st == zlib_stream_inflater::status::error) CHECK_FALSE(inf.error().empty());
  }
}

TEST_CASE("zlib-stream: a frame that never ends is bounded by the size limit") {
  zlib_stream_inflater inf;
  inf.set_max_message(1000);
  std::string chunk(600, 'a');
  CHECK(inf.feed(chunk) == zlib_stream_inflater::status::need_more);
  CHECK(inf.feed(chunk) == zlib_stream_inflater::status::error);
}

TEST_CASE("zstd-stream: one persistent stream, one message per frame") {
  zstd_stream_compressor comp(1);
  zstd_stream_decompressor dec;
  bool first = true;
  for (const auto& m : sample_messages()) {
    std::string frame;
    comp.compress(m, frame);
    if (first) CHECK(frame.substr(0, 4) == std::string("\x28\xb5\x2f\xfd", 4));  // zstd frame magic
    first = false;
    REQUIRE(dec.feed(frame));
    CHECK(dec.message() == m);
  }
}

TEST_CASE("zstd-stream: corrupt input is an error") {
  zstd_stream_decompressor dec;
  CHECK_FALSE(dec.feed("this is not a zstd frame at all"));
  CHECK_FALSE(dec.error().empty());
}

TEST_CASE("a large message's buffers are released once it was handled, a small one's are kept for the next") {
  zlib_stream_deflater def(1);
  zlib_stream_inflater inf;
  zstd_stream_compressor comp(1);
  zstd_stream_decompressor dec;
  const std::string small(500, 's'), large(200000, 'l');
  for (const auto* m : {&large, &small, &large}) {
    std::string zframe, sframe;
    def.compress(*m, zframe);
    comp.compress(*m, sframe);
    REQUIRE(inf.feed(zframe) == zlib_stream_inflater::status::message);
    REQUIRE(dec.feed(sframe));
    CHECK(inf.message() == *m);
    CHECK(dec.message() == *m);
    const bool was_large = m == &large;
    CHECK((inf.readable() > 100000) == was_large);
    inf.release_large_buffers();
    dec.release_large_buffers();
    CHECK(inf.readable() <= 8192);  // an idle shard keeps at most 8 KiB here
    CHECK(dec.readable() <= 8192);
    if (!was_large) CHECK(inf.readable() >= small.size());  // kept: the next small message needs no allocation
  }
}

TEST_CASE("zlib-stream: releasing buffers between the frames of one message keeps what was gathered") {
  zlib_stream_deflater def(1);
  zlib_stream_inflater inf;
  std::mt19937 rng(7);
  std::string large(300000, ' ');
  for (auto& c : large) c = static_cast<char>('a' + rng() % 26);  // barely compressible: a frame of ~300 KB
  std::string frame;
  def.compress(large, frame);
  REQUIRE(frame.size() > 3 * 8192);
  const std::size_t third = frame.size() / 3;
  CHECK(inf.feed(std::string_view(frame).substr(0, third)) == zlib_stream_inflater::status::need_more);
  inf.release_large_buffers();  // what a shard does after every frame
  CHECK(inf.feed(std::string_view(frame).substr(third, third)) == zlib_stream_inflater::status::need_more);
  inf.release_large_buffers();
  REQUIRE(inf.feed(std::string_view(frame).substr(2 * third)) == zlib_stream_inflater::status::message);
  CHECK(inf.message() == large);
}
