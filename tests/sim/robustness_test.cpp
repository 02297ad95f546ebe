#include <doctest/doctest.h>

#include <random>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

TEST_CASE("garbage from clients gets a close code, never a crash") {
  fakecord_process fc({"--guilds", "2"});
  std::mt19937 rng(1234);
  const std::vector<std::string> shapes = {
      R"({"op":2,"d":{"token":"t","intents":1,"shard":[0,1],"presence":7}})",
      R"({"op":6,"d":{"token":"t","session_id":5,"seq":"x"}})",
      R"({"op":8,"d":{"guild_id":[],"query":""}})",
      R"({"op":1e400,"d":null})",
      R"({"op":2,"d":null})",
      R"({"op":-1})",
      "\"just a string\"",
      "null",
      std::string("{\"op\":1,\"d\":\"\xff\xfe\"}"),
  };
  for (int i = 0; i < 300; ++i) {
    gateway_test_client c(fc.port());
    REQUIRE(c.next_op(10));
    std::string payload;
    if (i < static_cast<int>(shapes.size())) {
      payload = shapes[static_cast<std::size_t>(i)];
    } else {
      // Random mutations of a valid IDENTIFY.
      payload = R"({"op":2,"d":{"token":"t","intents":513,"properties":{"os":"x"},"shard":[0,1]}})";
      for (int m = 0; m < 4; ++m) payload[rng() % payload.size()] = static_cast<char>(rng() % 128);
    }
    c.send(payload);
    int code = c.wait_closed(std::chrono::milliseconds(300));
    // Either the payload happened to stay valid (the connection lives on), or it got one of Discord's codes, or
    // (text that is not UTF-8) the WebSocket protocol's own 1007.
    CAPTURE(i);
    CAPTURE(payload);
    CHECK((code == -1 || code == 1007 || (code >= 4000 && code <= 4014)));
  }
  CHECK(fc.running());
  gateway_test_client ok(fc.port());
  REQUIRE(ok.next_op(10));
}

TEST_CASE("a client that vanishes mid-handshake or mid-request does not disturb others") {
  fakecord_process fc;
  for (int i = 0; i < 20; ++i) {
    gateway_test_client c(fc.port());
    c.drop();
  }
  int status = 0;
  http_request(fc.port(), "GET", "/_fakecord/stats", "", "", status);
  CHECK(status == 200);
  CHECK(fc.running());
}
