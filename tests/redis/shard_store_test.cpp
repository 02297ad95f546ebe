// The Redis contract against a private redis-server: leases, fencing, the atomic exactly-once commit, identify
// slots, and what happens when Redis goes away.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <thread>

#include "net/redis/shard_store.hpp"
#include "sim/harness/redis_process.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using g::harness::redis_process;
using g::test::at;

namespace {

std::vector<stream_event> events(std::int64_t from, std::int64_t to) {
  std::vector<stream_event> v;
  for (std::int64_t s = from; s <= to; ++s) v.push_back({s, "MESSAGE_CREATE", R"({"content":"m)" + std::to_string(s) + R"(","n":[1,2]})", 1000 + s});
  return v;
}

// The stream's seq fields for one shard, in order.
std::vector<std::int64_t> stream_seqs(redis_connection& c, const redis_keys& k) {
  std::vector<std::int64_t> out;
  auto r = c.command({"XRANGE", k.events(), "-", "+"});
  for (auto& entry : r.elements) {
    auto& fields = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
      if (fields[i].text == "seq") out.push_back(std::stoll(fields[i + 1].text));
  }
  return out;
}

// Two nodes' stores on one private Redis (group "t").
struct two_nodes {
  redis_process redis;
  redis_connection ca{at(redis)}, cb{at(redis)};
  shard_store a{ca, "t", "node-a"}, b{cb, "t", "node-b"};
};

}  // namespace

TEST_CASE_FIXTURE(two_nodes, "leases: one holder at a time, renewal, release, expiry") {
  CHECK(a.acquire_lease(4, 1, 1000).ok());
  CHECK(a.acquire_lease(4, 1, 1000).ok());  // ours: renewed
  auto taken = b.acquire_lease(4, 1, 1000);
  CHECK(taken.lost());
  std::int64_t wait = taken.value;
  CHECK(wait > 0);
  CHECK(wait <= 1000);
  CHECK(a.lease_holder(4, 1).value == "node-a");
  CHECK(a.renew_lease(4, 1, 1000).ok());
  CHECK(b.renew_lease(4, 1, 1000).lost());
  CHECK(b.release_lease(4, 1).lost());  // not b's: nothing happens
  CHECK(a.lease_holder(4, 1).value == "node-a");
  CHECK(a.release_lease(4, 1).ok());
  CHECK(a.lease_holder(4, 1).value.empty());
  CHECK(b.acquire_lease(4, 1, 150).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK(a.acquire_lease(4, 1, 1000).ok());  // b's lease expired
}

TEST_CASE_FIXTURE(two_nodes, "leases renewed many at once: each answered as its own renewal, in order") {
  std::vector<int> ids;
  for (int i = 0; i < 2500; ++i) ids.push_back(i);  // more than one call's worth
  for (int i : ids)
    if (i % 7 != 3) REQUIRE(a.acquire_lease(2500, i, 2000).ok());  // 2 s: taking 2,143 one by one can take 0.3 s on a busy machine
  REQUIRE(b.acquire_lease(2500, 10, 5000).ok());  // b's, a never had it
  auto r = a.renew_leases(2500, ids, 5000);
  REQUIRE(r.size() == ids.size());
  for (int i : ids) {
    CAPTURE(i);
    CHECK(r[i].lost() == (i % 7 == 3));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // past the 2 s they were taken for
  CHECK(a.lease_holder(2500, 0).value == "node-a");  // renewed for 5 s
  CHECK(a.lease_holder(2500, 2499).value == "node-a");
  CHECK(a.lease_holder(2500, 10).value == "node-b");
  CHECK(a.renew_leases(2500, {}, 5000).empty());
}

TEST_CASE_FIXTURE(two_nodes, "status lines written many at once") {
  std::vector<std::pair<int, std::string>> lines;
  for (int i = 0; i < 1500; ++i) lines.emplace_back(i, "{\"seq\":" + std::to_string(i) + "}");
  REQUIRE(a.set_statuses(lines).ok());
  redis_connection check(at(redis));
  CHECK(check.command({"HLEN", a.keys().status()}).number == 1500);
  CHECK(check.command({"HGET", a.keys().status(), "1499"}).text == "{\"seq\":1499}");
  CHECK(a.set_statuses({}).ok());
}

TEST_CASE("commit: events and the committed seq move together, exactly once, per session") {
  redis_process redis;
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  REQUIRE(s.acquire_lease(2, 0, 5000).ok());
  auto r = s.commit(2, 0, "sess1", "ws://resume", events(1, 3), 1000, 5000);
  REQUIRE(r.ok());
  CHECK(r.value.committed_seq == 3);
  CHECK(r.value.appended == 3);
  // A replay overlapping what was committed (a resume from an older seq): only the new events are written.
  r = s.commit(2, 0, "sess1", "ws://resume", events(2, 5), 1000, 5001);
  CHECK(r.ok());
  CHECK(r.value.committed_seq == 5);
  CHECK(r.value.appended == 2);
  CHECK(stream_seqs(c, s.keys()) == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  // A gap is refused and nothing is written.
  r = s.commit(2, 0, "sess1", "ws://resume", events(7, 8), 1000, 5002);
  CHECK(r.value.refused == commit_outcome::gap);
  CHECK(r.value.committed_seq == 5);
  CHECK(stream_seqs(c, s.keys()).size() == 5);
  // A new session starts again at 1.
  r = s.commit(2, 0, "sess2", "ws://resume2", events(1, 2), 1000, 5003);
  CHECK(r.ok());
  CHECK(r.value.committed_seq == 2);
  auto loaded = s.load_session(2, 0);
  REQUIRE(loaded.ok());
  auto& rec = loaded.value;
  REQUIRE(rec);
  CHECK(rec->session_id == "sess2");
  CHECK(rec->seq == 2);
  CHECK(rec->resume_url == "ws://resume2");
  CHECK(rec->node == "node-a");
  CHECK(rec->updated_ms == 5003);
  // The stream entry carries the contract's fields, d byte for byte.
  auto entry = c.command({"XRANGE", s.keys().events(), "-", "+", "COUNT", "1"});
  auto& f = entry.elements[0].elements[1].elements;
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) fields[f[i].text] = f[i + 1].text;
  CHECK(fields["shard"] == "0");
  CHECK(fields["seq"] == "1");
  CHECK(fields["t"] == "MESSAGE_CREATE");
  CHECK(fields["d"] == R"({"content":"m1","n":[1,2]})");
  CHECK(fields["node"] == "node-a");
  CHECK(fields["ts"] == "1001");
  // Each entry names the shard's previous entry, across sessions: the chain a cache worker follows.
  auto all = c.command({"XRANGE", s.keys().events(), "-", "+"});
  REQUIRE(all.elements.size() == 7);
  std::string expected_prev = "0-0";
  for (auto& e : all.elements) {
    auto& ef = e.elements[1].elements;
    CHECK(ef[ef.size() - 2].text == "prev");
    CHECK(ef[ef.size() - 1].text == expected_prev);
    expected_prev = e.elements[0].text;
  }
  CHECK(c.command({"HGET", s.keys().session(2, 0), "last_id"}).text == expected_prev);
}

TEST_CASE("an expired lease nobody took is taken back by the next commit") {
  redis_process redis;
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  REQUIRE(s.acquire_lease(1, 0, 100).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK(s.lease_holder(1, 0).value.empty());
  CHECK(s.commit(1, 0, "s", "u", events(1, 1), 1000, 1, 5000).ok());
  CHECK(s.lease_holder(1, 0).value == "node-a");
}

TEST_CASE_FIXTURE(two_nodes, "a lease its node gave up is not taken back by that node's commit still in flight") {
  REQUIRE(a.acquire_lease(1, 0, 5000).ok());
  REQUIRE(a.commit(1, 0, "s", "u", events(1, 2), 1000, 1).ok());
  CHECK(a.release_lease(1, 0).ok());  // a migration: a hands the shard over
  CHECK(a.lease_holder(1, 0).value.empty());
  auto late = a.commit(1, 0, "s", "u", events(3, 3), 1000, 2);  // queued before the release
  CHECK_MESSAGE(late.value.refused == commit_outcome::fenced, late.reason);
  CHECK(a.lease_holder(1, 0).value.empty());  // still free for the new owner
  REQUIRE(b.acquire_lease(1, 0, 5000).ok());
  REQUIRE(b.commit(1, 0, "s", "u", events(3, 4), 1000, 2).ok());
  CHECK(stream_seqs(ca, a.keys()) == std::vector<std::int64_t>{1, 2, 3, 4});
  // Later, a takes the shard back the ordinary way and commits again.
  CHECK(b.release_lease(1, 0).ok());
  REQUIRE(a.acquire_lease(1, 0, 5000).ok());
  CHECK(a.commit(1, 0, "s", "u", events(5, 5), 1000, 3).ok());
}

TEST_CASE("filtered events move the committed seq without being written") {
  redis_process redis;
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  REQUIRE(s.acquire_lease(1, 0, 5000).ok());
  auto ev = events(1, 4);
  ev[1].t.clear();
  ev[2].t.clear();
  auto r = s.commit(1, 0, "s", "u", ev, 1000, 1);
  CHECK(r.value.committed_seq == 4);
  CHECK(r.value.appended == 2);
  CHECK(stream_seqs(c, s.keys()) == std::vector<std::int64_t>{1, 4});
}

TEST_CASE_FIXTURE(two_nodes, "fencing: a node that lost the lease writes nothing") {
  REQUIRE(a.acquire_lease(1, 0, 100).ok());
  REQUIRE(a.commit(1, 0, "s", "u", events(1, 2), 1000, 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // a froze; its lease ran out
  REQUIRE(b.acquire_lease(1, 0, 5000).ok());
  REQUIRE(b.commit(1, 0, "s", "u", events(3, 4), 1000, 2).ok());
  auto late = a.commit(1, 0, "s", "u", events(3, 6), 1000, 3);
  CHECK_MESSAGE(late.value.refused == commit_outcome::fenced, late.reason);
  CHECK(a.renew_lease(1, 0, 5000).lost());
  CHECK(stream_seqs(ca, a.keys()) == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(a.load_session(1, 0).value->node == "node-b");
}

TEST_CASE_FIXTURE(two_nodes, "session stealing: a lease taken over at once fences the previous owner") {
  REQUIRE(a.acquire_lease(1, 0, 60000).ok());
  REQUIRE(a.commit(1, 0, "s", "u", events(1, 3), 1000, 1).ok());
  REQUIRE(b.take_over_lease(1, 0, 60000).ok());  // no wait for a 60 s lease
  auto loaded = b.load_session(1, 0);
  REQUIRE(loaded.ok());
  auto& rec = loaded.value;
  REQUIRE(rec);
  CHECK(rec->seq == 3);  // where the new owner resumes
  CHECK(a.commit(1, 0, "s", "u", events(4, 4), 1000, 2).value.refused == commit_outcome::fenced);
  CHECK(b.commit(1, 0, "s", "u", events(4, 5), 1000, 3).ok());
  CHECK(stream_seqs(ca, a.keys()) == std::vector<std::int64_t>{1, 2, 3, 4, 5});
}

TEST_CASE_FIXTURE(two_nodes, "the master lease: one holder, a new epoch per claim, kept while held, free after resigning") {
  auto first = a.claim_master(60000);
  REQUIRE(first.ok());
  CHECK(b.claim_master(60000).lost());
  CHECK(a.keep_master(60000).ok());
  CHECK(b.keep_master(60000).lost());
  CHECK(a.resign_master().ok());
  auto second = b.claim_master(60000);
  REQUIRE(second.ok());
  CHECK(second.value > first.value);
  CHECK(a.keep_master(60000).lost());
}

TEST_CASE("the master lease of a departed node is taken once unrenewed for 750 ms, never one that is renewed") {
  redis_process redis;
  redis_connection ca(at(redis)), cb(at(redis)), cc(at(redis));
  shard_store a(ca, "t", "node-a"), b(cb, "t", "node-b"), c(cc, "t", "node-c");
  auto first = a.claim_master(2000);
  REQUIRE(first.ok());
  CHECK(b.claim_master(2000, {"node-x"}).lost());  // a is not known to be gone
  CHECK(b.claim_master(2000, {"node-a"}).lost());  // gone, but renewed just now: it may be alive behind a partition
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto second = b.claim_master(60000, {"node-a"});  // unrenewed for over 750 ms: no wait for the rest of the lease
  REQUIRE(second.ok());
  CHECK(second.value > first.value);
  CHECK(a.keep_master(60000).lost());  // the old master learns it at its next renewal
  CHECK(c.claim_master(60000, {"node-a"}).lost());  // b holds it now
}

TEST_CASE_FIXTURE(two_nodes, "identify slots: one per bucket per slot length, cluster-wide") {
  CHECK(a.take_identify_slot(0, 300).ok());
  auto taken = b.take_identify_slot(0, 300);
  CHECK(taken.lost());
  std::int64_t wait = taken.value;
  CHECK(wait > 0);
  CHECK(wait <= 300);
  CHECK(b.take_identify_slot(1, 300).ok());  // another bucket
  std::this_thread::sleep_for(std::chrono::milliseconds(wait + 20));
  CHECK(b.take_identify_slot(0, 300).ok());
}

TEST_CASE("Redis down: clear errors, nothing half-written, and back up the connection recovers") {
  redis_process redis;
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  REQUIRE(s.acquire_lease(1, 0, 60000).ok());
  redis.kill();
  auto r = s.commit(1, 0, "s", "u", events(1, 1), 1000, 1);
  CHECK(r.unavailable());
  CHECK(r.reason.find("connection") != std::string::npos);
  CHECK(s.acquire_lease(1, 0, 1000).unavailable());
  CHECK(s.take_identify_slot(0, 5000).unavailable());
  redis.start();  // empty: a restarted Redis without persistence
  // After a failure, calls fail at once for 200 ms (a queue of jobs drains fast instead of each waiting out the
  // timeout); then the connection comes back.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK(s.acquire_lease(1, 0, 60000).ok());
  r = s.commit(1, 0, "s", "u", events(1, 2), 1000, 2);
  CHECK(r.ok());
  CHECK(r.value.committed_seq == 2);
}

TEST_CASE("AUTH and SELECT failures are reported as such") {
  redis_process redis;
  redis_endpoint e = at(redis);
  e.password = "wrong";
  redis_connection c(e);
  CHECK_FALSE(c.ensure_connected());
  CHECK(c.last_error().find("AUTH") != std::string::npos);
  redis_endpoint nowhere;
  nowhere.port = g::harness::free_tcp_port();
  redis_connection d(nowhere);
  CHECK_FALSE(d.ensure_connected());
  CHECK(d.last_error().find("cannot connect to Redis") != std::string::npos);
  redis_endpoint bad_db = at(redis);
  bad_db.db = 100000;  // beyond redis-server's 16 databases
  redis_connection s(bad_db);
  CHECK_FALSE(s.ensure_connected());
  CHECK(s.last_error().find("SELECT") != std::string::npos);
}

TEST_CASE("Redis witnesses which nodes live: named connections in use, not idle ones, not closed ones") {
  redis_process redis;
  auto named = [&](const std::string& node) {
    redis_endpoint e = at(redis);
    e.client_name = redis_keys("t").client_name(node);
    return std::make_unique<redis_connection>(e);
  };
  auto a = named("111"), b = named("222");
  auto other_group = std::make_unique<redis_connection>([&] {
    redis_endpoint e = at(redis);
    e.client_name = redis_keys("u").client_name("333");
    return e;
  }());
  REQUIRE(a->command({"PING"}).text == "PONG");
  REQUIRE(b->command({"PING"}).text == "PONG");
  REQUIRE(other_group->command({"PING"}).text == "PONG");
  redis_connection plain(at(redis));
  shard_store witness(plain, "t", "");
  CHECK(witness.connected_nodes().value == std::vector<std::string>{"111", "222"});
  // b goes quiet (a frozen process, or a dead host whose connection Redis has not seen close); a keeps working.
  for (int i = 0; i < 16; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    a->command({"PING"});
  }
  CHECK(witness.connected_nodes(2).value == std::vector<std::string>{"111"});
  b->command({"PING"});
  CHECK(witness.connected_nodes(2).value == std::vector<std::string>{"111", "222"});
  a.reset();  // the process is gone: its connection closes
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(witness.connected_nodes().value == std::vector<std::string>{"222"});
}

TEST_CASE_FIXTURE(two_nodes, "member requests still to send travel with the session record to the next owner, once") {
  REQUIRE(a.acquire_lease(1, 0, 5000).ok());
  REQUIRE(a.commit(1, 0, "s", "u", {{1, "GUILD_CREATE", "{}", 1, 7}}, 1000, 1).ok());
  REQUIRE(a.save_chunk_pending(1, 0, {81384788765712384ull, 7}).ok());
  REQUIRE(a.release_lease(1, 0).ok());
  REQUIRE(b.acquire_lease(1, 0, 5000).ok());
  auto first = b.load_session(1, 0);
  REQUIRE(first.ok());
  REQUIRE(first.value);
  CHECK(first.value->chunk_pending == std::vector<std::uint64_t>{81384788765712384ull, 7});
  auto again = b.load_session(1, 0);  // taken by the first load
  REQUIRE(again.ok());
  CHECK(again.value->chunk_pending.empty());
  CHECK(again.value->seq == 1);
  REQUIRE(a.save_chunk_pending(1, 0, {}).ok());  // nothing pending: an empty list reads as none
  CHECK(b.load_session(1, 0).value->chunk_pending.empty());
}
