// g-cache against a private redis-server: each shard's entries apply once and in stream order whichever worker
// holds them, a dead worker's entries are claimed, and a READY waits for the older session's tail.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "cache/cache_store.hpp"
#include "cache/cache_worker.hpp"
#include "cache/event_plan.hpp"
#include "sim/harness/redis_process.hpp"

using namespace g::cache;
using g::harness::redis_process;
using g::net::redis_connection;

namespace {

g::net::redis_endpoint endpoint(const redis_process& r) {
  g::net::redis_endpoint e;
  e.port = r.port();
  e.timeout_ms = 2000;
  return e;
}

// An entry as G's commit script writes it, with an id chosen here so the prev chain is known.
void xadd(redis_connection& c, const std::string& id, const std::string& prev, int seq, const std::string& t,
          const std::string& d) {
  auto r = c.command({"XADD", "g:t:events", id, "shard", "0", "seq", std::to_string(seq), "t", t, "d", d, "node", "n",
                      "ts", "0", "prev", prev});
  REQUIRE(r.text == id);
}

}  // namespace

TEST_CASE("g-cache: a dead worker's entries are claimed, and session B's READY waits for session A's tail") {
  redis_process redis;
  redis_connection c(endpoint(redis));
  cache_keys keys("t");
  xadd(c, "1-1", "0-0", 1, "READY",
       R"({"session_id":"A","user":{"id":"1","bot":true},"guilds":[{"id":"10","unavailable":true},{"id":"11","unavailable":true}]})");
  xadd(c, "1-2", "1-1", 2, "GUILD_CREATE", R"({"id":"10","name":"ten","member_count":1,"channels":[],"roles":[],"members":[]})");
  xadd(c, "1-3", "1-2", 3, "GUILD_CREATE", R"({"id":"11","name":"eleven","member_count":1,"channels":[],"roles":[],"members":[]})");
  xadd(c, "1-4", "1-3", 4, "GUILD_UPDATE", R"({"id":"10","name":"ten again"})");  // session A's tail
  xadd(c, "2-1", "1-4", 1, "READY", R"({"session_id":"B","user":{"id":"1","bot":true},"guilds":[{"id":"11","unavailable":true}]})");
  xadd(c, "2-2", "2-1", 2, "GUILD_CREATE", R"({"id":"11","name":"eleven B","member_count":1,"channels":[],"roles":[],"members":[]})");

  // A worker that took session A's entries and died before applying them.
  cache_store ghost(c, keys, "cache", "ghost");
  REQUIRE(ghost.prepare().ok());
  auto taken = ghost.read_new(4, 0);
  REQUIRE(taken.ok());
  REQUIRE(taken.value.size() == 4);

  redis_connection c2(endpoint(redis));
  cache_store store(c2, keys, "cache", "live");
  REQUIRE(store.prepare().ok());
  event_planner planner(keys, {});
  worker_settings settings;
  settings.claim_idle_ms = 300;
  cache_worker worker(store, planner, settings, "live");
  REQUIRE(worker.step().ok());
  // Session B's entries are held, not applied: their predecessor is the ghost's.
  CHECK(worker.counters().applied == 0);
  CHECK(worker.held() == 2);
  CHECK(c.command({"HGET", "g:t:cache:applied", "0"}).type == g::net::redis_reply::nil);

  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (worker.counters().applied < 6 && std::chrono::steady_clock::now() < until) REQUIRE(worker.step().ok());
  CHECK(worker.counters().applied == 6);
  CHECK(worker.counters().claimed == 4);
  CHECK(c.command({"HGET", "g:t:cache:applied", "0"}).text == "B:2");
  CHECK(c.command({"HGET", "g:t:cache:applied_id", "0"}).text == "2-2");
  // In stream order: A's tail updated guild 10, then B's READY dropped it (had B gone first, 10 would be back).
  CHECK(c.command({"EXISTS", "g:t:cache:guild:10"}).number == 0);
  CHECK(c.command({"GET", "g:t:cache:guild:11"}).text == R"({"id":"11","name":"eleven B","member_count":1})");
  CHECK(c.command({"SMEMBERS", "g:t:cache:shard:0:guilds"}).elements.size() == 1);
  CHECK(c.command({"XPENDING", "g:t:events", "cache"}).elements[0].number == 0);

  // Once applied, an entry applies no more: the script acknowledges it as a duplicate.
  auto again = store.fetch("1-3");
  REQUIRE(again.ok());
  REQUIRE(again.value);
  auto outcome = store.apply({pending_apply{&*again.value, cache_plan{}, true}});
  CHECK(outcome.ok());
  CHECK(outcome.value[0] == apply_outcome::duplicate);
  // Not in the stream: found nothing, which is not a failure.
  auto none = store.fetch("9-9");
  CHECK(none.ok());
  CHECK_FALSE(none.value);
  CHECK(c.command({"GET", "g:t:cache:guild:11"}).text == R"({"id":"11","name":"eleven B","member_count":1})");
}
