#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

namespace {

struct started_session {
  std::string id;
  std::int64_t last_seq = 0;
  std::vector<std::string> guilds;
};

// Identifies shard [shard, shards] and reads READY and every GUILD_CREATE.
started_session start(gateway_test_client& c, int shard, int shards, std::size_t guilds) {
  REQUIRE(c.next_op(10));
  std::string ready = c.identify(shard, shards);
  REQUIRE_FALSE(ready.empty());
  CHECK(json_int(ready, "/s") == 1);
  REQUIRE(json_array_size(ready, "/d/guilds") == guilds);
  started_session s;
  s.id = json_str(ready, "/d/session_id");
  s.last_seq = 1;
  for (std::size_t i = 0; i < guilds; ++i) {
    auto gc = c.next_dispatch("GUILD_CREATE");
    REQUIRE(gc);
    CHECK(json_int(*gc, "/s") == s.last_seq + 1);
    s.last_seq = json_int(*gc, "/s");
    s.guilds.push_back(json_str(*gc, "/d/id"));
  }
  return s;
}

std::string dispatch_to_guild(const std::string& guild_id, const std::string& text) {
  return R"({"guild_id":")" + guild_id + R"(","t":"MESSAGE_CREATE","d":{"content":")" + text + R"("}})";
}

}  // namespace

TEST_CASE("READY lists this shard's guilds as unavailable stubs with a session and resume URL") {
  fakecord_process fc({"--guilds", "9", "--max-concurrency", "3"});
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  std::string ready = c.identify(1, 3);
  REQUIRE_FALSE(ready.empty());
  CHECK(json_array_size(ready, "/d/guilds") == 3);
  CHECK(json_str(ready, "/d/guilds/0/unavailable") == "true");
  CHECK(json_str(ready, "/d/session_id").size() == 32);
  CHECK(json_str(ready, "/d/resume_gateway_url") == "ws://127.0.0.1:" + std::to_string(fc.port()) + "/resume");
  CHECK(json_int(ready, "/d/shard/0") == 1);
  CHECK(json_int(ready, "/d/shard/1") == 3);
  CHECK(json_int(ready, "/d/v") == 10);
  CHECK(json_has(ready, "/d/application/id"));
  CHECK(json_has(ready, "/d/user/discriminator"));
  for (int i = 0; i < 3; ++i) {
    auto gc = c.next_dispatch("GUILD_CREATE");
    REQUIRE(gc);
    std::uint64_t id = std::stoull(json_str(*gc, "/d/id"));
    CHECK((id >> 22) % 3 == 1);
    CHECK(json_str(*gc, "/d/unavailable") == "false");
  }
}

TEST_CASE("RESUME replays exactly the dispatches after seq, then RESUMED, and the series continues") {
  fakecord_process fc({"--guilds", "2"});
  started_session s;
  {
    gateway_test_client c(fc.port());
    s = start(c, 0, 1, 2);
    c.drop();  // no close frame: the session stays resumable
  }
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.id, s.last_seq - 1);  // as if the last GUILD_CREATE had not been processed
  auto replayed = r.next();
  REQUIRE(replayed);
  CHECK(json_int(*replayed, "/s") == s.last_seq);
  CHECK(json_str(*replayed, "/t") == "GUILD_CREATE");
  auto resumed = r.next();
  REQUIRE(resumed);
  CHECK(json_str(*resumed, "/t") == "RESUMED");
  CHECK(json_int(*resumed, "/s") == s.last_seq + 1);
  CHECK(json_has(*resumed, "/d/_trace"));
  fc.post("/_fakecord/dispatch", dispatch_to_guild(json_str(*replayed, "/d/id"), "after"));
  auto msg = r.next_dispatch("MESSAGE_CREATE");
  REQUIRE(msg);
  CHECK(json_int(*msg, "/s") == s.last_seq + 2);
  CHECK(fc.stats().find(R"("resumes":1)") != std::string::npos);
  CHECK(fc.stats().find(R"("resume_not_on_resume_url")") == std::string::npos);
}

TEST_CASE("events dispatched while the socket is gone are replayed on RESUME, in order, without gaps") {
  fakecord_process fc({"--guilds", "1"});
  gateway_test_client c(fc.port());
  started_session s = start(c, 0, 1, 1);
  c.close(4000);  // a resumable close
  const std::string gid = s.guilds.at(0);
  for (int i = 0; i < 5; ++i) fc.post("/_fakecord/dispatch", dispatch_to_guild(gid, "m" + std::to_string(i)));
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.id, s.last_seq);
  for (int i = 0; i < 5; ++i) {
    auto m = r.next();
    REQUIRE(m);
    CHECK(json_str(*m, "/t") == "MESSAGE_CREATE");
    CHECK(json_int(*m, "/s") == s.last_seq + 1 + i);
    CHECK(json_str(*m, "/d/content") == "m" + std::to_string(i));
  }
  CHECK(r.next_dispatch("RESUMED"));
}

TEST_CASE("RESUME with a seq the session never reached closes with 4007, an unknown session gets op 9 false") {
  fakecord_process fc({"--guilds", "1"});
  gateway_test_client c(fc.port());
  started_session s = start(c, 0, 1, 1);
  c.drop();
  {
    gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
    REQUIRE(r.next_op(10));
    r.resume(s.id, s.last_seq + 10);
    CHECK(r.wait_closed() == 4007);
  }
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume("0123456789abcdef0123456789abcdef", 1);
  auto invalid = r.next_op(9);
  REQUIRE(invalid);
  CHECK(json_str(*invalid, "/d") == "false");
  CHECK(fc.stats().find(R"("invalid_seq":1)") != std::string::npos);
}

TEST_CASE("a client close with 1000 ends the session") {
  fakecord_process fc({"--guilds", "1", "--max-concurrency", "1"});
  started_session ended;
  {
    gateway_test_client c(fc.port());
    ended = start(c, 0, 1, 1);
    c.close(1000);
  }
  CHECK(fc.stats().find(R"("sessions":[])") != std::string::npos);
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(ended.id, ended.last_seq);
  CHECK(r.next_op(9));
}

TEST_CASE("resuming a session whose old socket is still open closes the old socket") {
  fakecord_process fc({"--guilds", "1"});
  gateway_test_client old(fc.port());
  started_session s = start(old, 0, 1, 1);
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.id, s.last_seq);
  REQUIRE(r.next_dispatch("RESUMED"));
  int code = old.wait_closed();
  CHECK(code != -1);
  CHECK(code != 1000);
}

TEST_CASE("a parked session expires after the TTL") {
  fakecord_process fc({"--guilds", "1", "--session-ttl-ms", "200"});
  gateway_test_client c(fc.port());
  started_session s = start(c, 0, 1, 1);
  c.drop();
  for (int i = 0; i < 50 && fc.stats().find(R"("sessions":[])") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gateway_test_client r(fc.port(), "/resume?v=10&encoding=json");
  REQUIRE(r.next_op(10));
  r.resume(s.id, s.last_seq);
  auto invalid = r.next_op(9);
  REQUIRE(invalid);
  CHECK(json_str(*invalid, "/d") == "false");
}

TEST_CASE("RESUME on the bootstrap URL works but is counted, as Discord penalises it") {
  fakecord_process fc({"--guilds", "1"});
  gateway_test_client c(fc.port());
  started_session s = start(c, 0, 1, 1);
  c.drop();
  gateway_test_client r(fc.port());
  REQUIRE(r.next_op(10));
  r.resume(s.id, s.last_seq);
  CHECK(r.next_dispatch("RESUMED"));
  CHECK(fc.stats().find(R"("resume_not_on_resume_url":1)") != std::string::npos);
}

TEST_CASE("sessions of two shard totals at once, as during a reshard: each routed by its own total, counted once") {
  // 8 guilds; shard 1 of 2 beside shards 2 and 3 of 4 (Discord allows sets of different totals side by side; the
  // identify buckets, shard % max_concurrency, are 1, 2 and 3).
  fakecord_process fc({"--guilds", "8", "--max-concurrency", "4"});
  gateway_test_client odd(fc.port()), q2(fc.port()), q3(fc.port());
  started_session o = start(odd, 1, 2, 4);
  started_session s2 = start(q2, 2, 4, 2), s3 = start(q3, 3, 4, 2);
  CHECK(fc.stats().find(R"("shards":2,)") != std::string::npos);
  CHECK(fc.stats().find(R"("shards":4,)") != std::string::npos);
  // A guild of shard 3 of 4 is on shard 1 of 2: both sessions get its message, with the same d; shard 2 of 4 not.
  const std::string gid = s3.guilds.front();
  fc.post("/_fakecord/dispatch", dispatch_to_guild(gid, "both"));
  auto a = odd.next_dispatch("MESSAGE_CREATE");
  auto b = q3.next_dispatch("MESSAGE_CREATE");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(json_int(*a, "/s") == o.last_seq + 1);
  CHECK(json_int(*b, "/s") == s3.last_seq + 1);
  CHECK(a->substr(a->find("\"d\":")) == b->substr(b->find("\"d\":")));  // the payload a reshard's switch recognises
  // A guild of shard 2 of 4 (shard 0 of 2, which nobody runs) reaches only q2.
  fc.post("/_fakecord/dispatch", dispatch_to_guild(s2.guilds.front(), "two"));
  auto c = q2.next_dispatch("MESSAGE_CREATE");
  REQUIRE(c);
  CHECK(json_str(*c, "/d/content") == "two");
  fc.post("/_fakecord/dispatch", dispatch_to_guild(gid, "last"));
  auto d = q3.next_dispatch("MESSAGE_CREATE");
  REQUIRE(d);
  CHECK(json_str(*d, "/d/content") == "last");  // q3 never saw "two"
  auto e = odd.next_dispatch("MESSAGE_CREATE");
  REQUIRE(e);
  CHECK(json_str(*e, "/d/content") == "last");
  // Each event counted once, whatever number of sessions received it; every one reached a session.
  CHECK(json_int(fc.stats(), "/generated/MESSAGE_CREATE") == 3);
  CHECK_FALSE(json_has(fc.stats(), "/undelivered/MESSAGE_CREATE"));
}
