#include <doctest/doctest.h>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

namespace {

struct shard_client {
  gateway_test_client c;
  std::string session_id;
  std::int64_t seq = 0;
  std::string guild;

  shard_client(const fakecord_process& fc) : c(fc.port()) {
    REQUIRE(c.next_op(10));
    std::string ready = c.identify(0, 1);
    REQUIRE_FALSE(ready.empty());
    session_id = json_str(ready, "/d/session_id");
    auto gc = c.next_dispatch("GUILD_CREATE");
    REQUIRE(gc);
    seq = json_int(*gc, "/s");
    guild = json_str(*gc, "/d/id");
  }
};

std::string fault(int shard, const std::string& kind) {
  return R"({"shard":)" + std::to_string(shard) + R"(,"kind":")" + kind + "\"}";
}

}  // namespace

TEST_CASE("fault reconnect: op 7, then the server closes if the client lingers, the session resumes") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  CHECK(fc.post("/_fakecord/fault", fault(0, "reconnect")) == R"({"applied":1})");
  auto op7 = s.c.next_op(7);
  REQUIRE(op7);
  CHECK(json_str(*op7, "/d") == "null");
  CHECK(s.c.wait_closed(std::chrono::seconds(8)) == 4000);
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.session_id, s.seq);
  CHECK(r.next_dispatch("RESUMED"));
}

TEST_CASE("fault invalidate: op 9 false ends the session, IDENTIFY on the same socket starts a new one") {
  fakecord_process fc({"--guilds", "2", "--max-concurrency", "2"});
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  std::string first = c.identify(0, 2);
  REQUIRE_FALSE(first.empty());
  fc.post("/_fakecord/fault", fault(0, "invalidate"));
  auto op9 = c.next_op(9);
  REQUIRE(op9);
  CHECK(json_str(*op9, "/d") == "false");
  CHECK(fc.stats().find(R"("sessions":[])") != std::string::npos);
  std::string second = c.identify(1, 2);  // another bucket, so no 5 s wait
  REQUIRE_FALSE(second.empty());
  CHECK(json_str(second, "/d/session_id") != json_str(first, "/d/session_id"));
  CHECK(json_int(fc.stats(), "/identifies") == 2);
}

TEST_CASE("fault invalidate_resumable: op 9 true, then RESUME on the same socket succeeds") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  fc.post("/_fakecord/fault", fault(0, "invalidate_resumable"));
  auto op9 = s.c.next_op(9);
  REQUIRE(op9);
  CHECK(json_str(*op9, "/d") == "true");
  s.c.resume(s.session_id, s.seq);
  CHECK(s.c.next_dispatch("RESUMED"));
  CHECK(fc.stats().find(R"("resumes":1)") != std::string::npos);
}

TEST_CASE("fault close:<code> sends that close code, resumable codes keep the session, others end it") {
  fakecord_process fc({"--guilds", "1", "--max-concurrency", "1"});
  {
    shard_client s(fc);
    fc.post("/_fakecord/fault", fault(0, "close:4000"));
    CHECK(s.c.wait_closed() == 4000);
    CHECK(fc.stats().find(R"("connected":false)") != std::string::npos);  // parked, resumable
    gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
    REQUIRE(r.next_op(10));
    r.resume(s.session_id, s.seq);
    REQUIRE(r.next_dispatch("RESUMED"));
    fc.post("/_fakecord/fault", fault(0, "close:4009"));
    CHECK(r.wait_closed() == 4009);
    CHECK(fc.stats().find(R"("sessions":[])") != std::string::npos);  // 4009: session timed out
  }
}

TEST_CASE("fault drop: the socket dies without a close frame and the session stays resumable") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  fc.post("/_fakecord/fault", fault(0, "drop"));
  CHECK(s.c.wait_closed() == 0);
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.session_id, s.seq);
  CHECK(r.next_dispatch("RESUMED"));
}

TEST_CASE("fault zombie: heartbeats are no longer ACKed, dispatches still flow") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  s.c.send(R"({"op":1,"d":null})");
  REQUIRE(s.c.next_op(11));
  fc.post("/_fakecord/fault", fault(0, "zombie"));
  s.c.send(R"({"op":1,"d":null})");
  CHECK_FALSE(s.c.next_op(11, std::chrono::milliseconds(500)));
  fc.post("/_fakecord/dispatch", R"({"guild_id":")" + s.guild + R"(","t":"MESSAGE_CREATE","d":{"content":"z"}})");
  CHECK(s.c.next_dispatch("MESSAGE_CREATE"));
}

TEST_CASE("fault stall: nothing is sent any more, but the session keeps the events for RESUME") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  fc.post("/_fakecord/fault", fault(0, "stall"));
  fc.post("/_fakecord/dispatch", R"({"guild_id":")" + s.guild + R"(","t":"MESSAGE_CREATE","d":{"content":"held"}})");
  s.c.send(R"({"op":1,"d":null})");
  CHECK_FALSE(s.c.next(std::chrono::milliseconds(500)));
  s.c.close(4000);
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.session_id, s.seq);
  auto held = r.next_dispatch("MESSAGE_CREATE");
  REQUIRE(held);
  CHECK(json_str(*held, "/d/content") == "held");
  CHECK(json_int(*held, "/s") == s.seq + 1);
}

TEST_CASE("fault heartbeat_request: the server asks for a heartbeat with op 1") {
  fakecord_process fc({"--guilds", "1"});
  shard_client s(fc);
  fc.post("/_fakecord/fault", fault(0, "heartbeat_request"));
  auto op1 = s.c.next_op(1);
  REQUIRE(op1);
  CHECK(json_str(*op1, "/d") == "null");
}

TEST_CASE("faults are validated and need a connected shard") {
  fakecord_process fc({"--guilds", "1"});
  int status = 0;
  fc.post("/_fakecord/fault", fault(0, "explode"), &status);
  CHECK(status == 400);
  fc.post("/_fakecord/fault", fault(0, "close:99999"), &status);
  CHECK(status == 400);
  fc.post("/_fakecord/fault", fault(0, "reconnect"), &status);
  CHECK(status == 404);
  fc.post("/_fakecord/fault", R"({"kind":"drop"})", &status);
  CHECK(status == 400);
}
