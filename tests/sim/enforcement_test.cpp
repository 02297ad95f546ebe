#include <doctest/doctest.h>

#include <csignal>
#include <thread>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

namespace {

// Opens a connection, reads HELLO, sends one payload and returns the close code it gets.
// With identify_first >= 0 it first identifies as shard [identify_first, 16] (give each its own bucket).
int close_code_for(const fakecord_process& fc, const std::string& payload, int identify_first = -1) {
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  if (identify_first >= 0) REQUIRE_FALSE(c.identify(identify_first, 16).empty());
  c.send(payload);
  return c.wait_closed();
}

bool counted(const fakecord_process& fc, const std::string& kind, int n = 1) {
  return fc.stats().find("\"" + kind + "\":" + std::to_string(n)) != std::string::npos;
}

const std::string good_identify_head = R"({"op":2,"d":{"token":"test-token","properties":{"os":"x","browser":"y","device":"y"},)";

}  // namespace

TEST_CASE("a payload other than heartbeat before IDENTIFY closes with 4003") {
  fakecord_process fc;
  CHECK(close_code_for(fc, R"({"op":3,"d":{"since":null,"activities":[],"status":"online","afk":false}})") == 4003);
  CHECK(counted(fc, "not_authenticated"));
}

TEST_CASE("a bad token closes with 4004") {
  fakecord_process fc({"--token", "right"});
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"token":"wrong"}})") == 4004);
  CHECK(close_code_for(fc, R"({"op":2,"d":{"intents":1}})") == 4004);
  CHECK(counted(fc, "authentication_failed", 2));
}

TEST_CASE("a second IDENTIFY closes with 4005") {
  fakecord_process fc({"--max-concurrency", "16"});
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[1,2]}})", 0) == 4005);
  CHECK(counted(fc, "already_authenticated"));
}

TEST_CASE("invalid intents close with 4013, privileged ones not enabled with 4014") {
  fakecord_process fc({"--privileged-intents", "0"});
  CHECK(close_code_for(fc, good_identify_head + R"("intents":131072}})") == 4013);  // bit 17: undocumented
  CHECK(close_code_for(fc, good_identify_head + R"("intents":"all"}})") == 4013);
  CHECK(close_code_for(fc, good_identify_head + R"("intents":32768}})") == 4014);  // MESSAGE_CONTENT
  CHECK(counted(fc, "invalid_intents", 2));
  CHECK(counted(fc, "disallowed_intents"));
}

TEST_CASE("an invalid shard closes with 4010, too many guilds on one shard with 4011") {
  fakecord_process fc({"--guilds", "2600", "--max-concurrency", "8"});
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[2,2]}})") == 4010);
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[0]}})") == 4010);
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[-1,2]}})") == 4010);
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[0,1]}})") == 4011);
  CHECK(counted(fc, "invalid_shard", 3));
  CHECK(counted(fc, "sharding_required"));
  gateway_test_client ok(fc.port());
  CHECK_FALSE(ok.identify(1, 2).empty());  // 1300 guilds per shard is fine
}

TEST_CASE("oversized or undecodable payloads close with 4002") {
  fakecord_process fc;
  std::string big = R"({"op":1,"d":")" + std::string(4100, 'a') + "\"}";
  CHECK(close_code_for(fc, big) == 4002);
  CHECK(close_code_for(fc, "{not json") == 4002);
  CHECK(close_code_for(fc, "[1,2,3]") == 4002);
  CHECK(close_code_for(fc, R"({"d":null})") == 4002);
  CHECK(counted(fc, "payload_too_large"));
  CHECK(counted(fc, "decode_error", 3));
}

TEST_CASE("an unknown or receive-only opcode closes with 4001") {
  fakecord_process fc({"--max-concurrency", "16"});
  CHECK(close_code_for(fc, R"({"op":99,"d":null})") == 4001);
  CHECK(close_code_for(fc, R"({"op":11,"d":null})", 1) == 4001);
  CHECK(close_code_for(fc, R"({"op":4,"d":"nonsense"})", 2) == 4001);
  CHECK(counted(fc, "unknown_opcode", 2));
  CHECK(counted(fc, "invalid_payload", 1));
}

TEST_CASE("the 121st payload within 60 s closes with 4008") {
  fakecord_process fc;
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  for (int i = 0; i < 120; ++i) c.send(R"({"op":1,"d":null})");
  for (int i = 0; i < 120; ++i) REQUIRE(c.next_op(11));
  CHECK(c.wait_closed(std::chrono::milliseconds(200)) == -1);  // 120 is still within the limit
  c.send(R"({"op":1,"d":null})");
  CHECK(c.wait_closed() == 4008);
  CHECK(counted(fc, "rate_limit"));
}

TEST_CASE("identify concurrency: a second IDENTIFY in the same bucket within 5 s gets op 9 false") {
  fakecord_process fc({"--max-concurrency", "2"});
  gateway_test_client a(fc.port()), b(fc.port()), c(fc.port());
  REQUIRE(a.next_op(10));
  REQUIRE(b.next_op(10));
  REQUIRE(c.next_op(10));
  REQUIRE_FALSE(a.identify(0, 4).empty());  // bucket 0
  REQUIRE_FALSE(b.identify(1, 4).empty());  // bucket 1: allowed at the same time
  c.send(good_identify_head + R"("intents":1,"shard":[2,4]}})");  // bucket 0 again
  auto invalid = c.next_op(9);
  REQUIRE(invalid);
  CHECK(json_str(*invalid, "/d") == "false");
  CHECK(counted(fc, "identify_concurrency"));
  const std::string stats = fc.stats();
  CHECK(stats.find(R"("identifies":2)") != std::string::npos);
  // Which shard, which bucket, and how soon after the bucket's last IDENTIFY: what a bot's author needs to fix it.
  CHECK(json_str(stats, "/violations_recent/0/kind") == "identify_concurrency");
  const std::string detail = json_str(stats, "/violations_recent/0/detail");
  CHECK_MESSAGE(detail.rfind("shard 2 (bucket 0 of 2): the bucket's last IDENTIFY arrived ", 0) == 0, detail);
  CHECK(json_int(stats, "/violations_recent/0/at_us") > 0);
}

TEST_CASE("identify concurrency counts from when an IDENTIFY arrives, not from when a busy g-fakecord reads it") {
  using namespace std::chrono;
  fakecord_process fc({"--max-concurrency", "1"});
  gateway_test_client a(fc.port()), b(fc.port()), c(fc.port());
  REQUIRE(a.next_op(10));
  REQUIRE(b.next_op(10));
  REQUIRE(c.next_op(10));
  ::kill(fc.pid(), SIGSTOP);  // as a loop busy for 2 s would be: a's IDENTIFY waits in its socket
  a.send(good_identify_head + R"("intents":1,"shard":[0,3]}})");
  const auto a_sent = steady_clock::now();
  std::this_thread::sleep_for(2s);
  ::kill(fc.pid(), SIGCONT);
  REQUIRE(a.next_dispatch("READY"));
  // 5.3 s after a's IDENTIFY arrived, 3.3 s after g-fakecord read it: the bucket is free again.
  std::this_thread::sleep_until(a_sent + 5300ms);
  REQUIRE_FALSE(b.identify(1, 3).empty());
  CHECK_MESSAGE(fc.stats().find(R"("violations":{})") != std::string::npos, fc.stats());
  // Arrival times still hold a client to the rule: c, right after b in the same bucket, is refused.
  c.send(good_identify_head + R"("intents":1,"shard":[2,3]}})");
  REQUIRE(c.next_op(9));
  CHECK(counted(fc, "identify_concurrency"));
}

TEST_CASE("the session start budget counts down, past it IDENTIFY fails with 4004") {
  fakecord_process fc({"--session-limit", "1", "--max-concurrency", "2"});
  CHECK(fc.get("/api/v10/gateway/bot", nullptr, "Bot t").find(R"("remaining":1)") != std::string::npos);
  gateway_test_client a(fc.port());
  REQUIRE(a.next_op(10));
  REQUIRE_FALSE(a.identify(0, 2).empty());
  CHECK(fc.get("/api/v10/gateway/bot", nullptr, "Bot t").find(R"("remaining":0)") != std::string::npos);
  CHECK(close_code_for(fc, good_identify_head + R"("intents":1,"shard":[1,2]}})") == 4004);
  CHECK(counted(fc, "session_limit"));
}

TEST_CASE("a connection that stops heartbeating is closed with 4009 and its session ends") {
  fakecord_process fc({"--heartbeat-ms", "100"});
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  std::string ready = c.identify(0, 1);
  REQUIRE_FALSE(ready.empty());
  CHECK(c.wait_closed(std::chrono::seconds(4)) == 4009);
  CHECK(counted(fc, "heartbeat_timeout"));
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(json_str(ready, "/d/session_id"), 1);
  auto invalid = r.next_op(9);
  REQUIRE(invalid);
  CHECK(json_str(*invalid, "/d") == "false");
}
