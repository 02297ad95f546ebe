#include <doctest/doctest.h>

#include <random>
#include <string>

#include "net/compression/zlib_stream.hpp"
#include "net/gateway/frame_scanner.hpp"

using g::net::frame_scanner;
using g::net::gateway_frame;

TEST_CASE("frame_scanner finds op, s, t, guild and the exact bytes of d") {
  frame_scanner sc;
  gateway_frame f;
  std::string msg = R"({"t":"MESSAGE_CREATE","s":42,"op":0,"d":{"id":"1","content":"a \"quoted\" {brace}","nested":{"guild_id":"9"},"guild_id":"81384788765712384"}})";
  msg.reserve(msg.size() + frame_scanner::padding);  // room for SIMD: scanned in place, no copy
  REQUIRE(sc.scan(msg.data(), msg.size(), msg.capacity(), f));
  CHECK(f.op == 0);
  CHECK(f.s == 42);
  CHECK(f.t == "MESSAGE_CREATE");
  CHECK(f.guild_id == 81384788765712384ULL);
  CHECK(f.d == R"({"id":"1","content":"a \"quoted\" {brace}","nested":{"guild_id":"9"},"guild_id":"81384788765712384"})");
  CHECK(f.d.data() >= msg.data());
  CHECK(f.d.data() + f.d.size() <= msg.data() + msg.size());
}

TEST_CASE("frame_scanner handles any key order, null fields, scalar d and guild events") {
  frame_scanner sc;
  gateway_frame f;
  REQUIRE(sc.scan(R"({"d":{"id":"5","name":"x"},"op":0,"s":7,"t":"GUILD_CREATE"})", f));
  CHECK(f.guild_id == 5);  // GUILD_CREATE's guild is d.id
  CHECK(f.s == 7);
  REQUIRE(sc.scan(R"({"t":null,"s":null,"op":11,"d":null})", f));
  CHECK(f.op == 11);
  CHECK(f.s == -1);
  CHECK(f.t.empty());
  CHECK(f.d == "null");
  REQUIRE(sc.scan(R"({"t":null,"s":null,"op":9,"d":false})", f));
  CHECK(f.d == "false");
  REQUIRE(sc.scan(R"({"op":10,"d":{"heartbeat_interval":41250,"_trace":["x"]}})", f));
  CHECK(f.op == 10);
  CHECK(f.d == R"({"heartbeat_interval":41250,"_trace":["x"]})");
  REQUIRE(sc.scan(R"({"op":7})", f));
  CHECK(f.d == "null");
  REQUIRE(sc.scan(R"({"t":"X","s":3,"op":0,"d":[1,2,{"a":3}]})", f));
  CHECK(f.d == R"([1,2,{"a":3}])");
  CHECK(f.guild_id == 0);
}

TEST_CASE("frame_scanner rejects what is not a gateway message") {
  frame_scanner sc;
  gateway_frame f;
  for (const char* bad : {"", "nul", "[1,2]", "{\"op\":\"1\"}", "{\"d\":null}", "{\"op\":0,\"s\":\"x\"}",
                          "{\"op\":0,\"d\":{\"unterminated\":\"}}", "{\"op\":0,\"d\":{\"a\":[1,2}}", "\xff\xfe"}) {
    CAPTURE(bad);
    CHECK_FALSE(sc.scan(bad, f));
    CHECK_FALSE(sc.error().empty());
  }
}

TEST_CASE("thousands of mutated and truncated inputs through inflate + scan never crash or hang") {
  std::mt19937 rng(99);
  const std::string seed_msg =
      R"({"t":"MESSAGE_CREATE","s":12,"op":0,"d":{"id":"1","channel_id":"2","guild_id":"3","content":"hello \"there\"","embeds":[{"a":[1,2,3]}]}})";
  frame_scanner sc;
  gateway_frame f;
  int parsed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string m = seed_msg;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0: m[rng() % m.size()] = static_cast<char>(rng()); break;
        case 1: m.erase(rng() % m.size(), 1 + rng() % 5); break;
        default: m.insert(rng() % m.size(), 1, "{}[]\",:\\0"[rng() % 9]);
      }
      if (m.empty()) m = "{";
    }
    if (sc.scan(m, f)) {
      ++parsed;
      CHECK_FALSE(f.d.empty());
    }
    // The same bytes through a zlib-stream, corrupted after compression.
    g::net::zlib_stream_deflater def(1);
    g::net::zlib_stream_inflater inf;
    std::string frame;
    def.compress(m, frame);
    if (rng() % 2) frame[rng() % frame.size()] ^= static_cast<char>(1 + rng() % 255);
    if (rng() % 4 == 0) frame.resize(rng() % frame.size());
    auto st = inf.feed(frame);
    if (st == g::net::zlib_stream_inflater::status::message)
      (void)sc.scan(inf.message().data(), inf.message().size(), inf.readable(), f);
  }
  CHECK(parsed > 0);
}
