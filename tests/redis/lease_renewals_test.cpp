// A node's lease renewals and status lines go to Redis in rounds: what came while the Redis thread was busy goes
// in one script call and one HSET, each renewal still gets its own answer (against a private redis-server).
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "net/redis/lease_renewals.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"
#include "sim/harness/redis_process.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using g::harness::redis_process;
using g::test::at;

namespace {

// How many times Redis ran `command` (INFO commandstats).
long calls_of(redis_connection& c, const std::string& command) {
  auto info = c.command({"INFO", "commandstats"}).text;
  auto at = info.find("cmdstat_" + command + ":calls=");
  if (at == std::string::npos) return 0;
  return std::stol(info.substr(at + command.size() + 15));
}

}  // namespace

TEST_CASE("lease renewals: what arrives while Redis is busy goes in one round, each renewal answered once") {
  redis_process redis;
  redis_connection admin(at(redis)), other_conn(at(redis)), mine(at(redis));
  shard_store other(other_conn, "t", "node-b"), me(mine, "t", "node-a");
  const int n = 600;
  for (int i = 0; i < n; ++i)
    if (i != 5 && i != 6) REQUIRE(me.acquire_lease(n, i, 5000).ok());
  REQUIRE(other.acquire_lease(n, 5, 5000).ok());  // another node's: lost
  REQUIRE(me.renew_leases(n, {0}, 5000)[0].ok());  // the script is loaded: each call below is one EVALSHA
  // 6 is nobody's (expired, or gone with a Redis restart): taken back.

  redis_worker worker(at(redis));
  lease_renewals rounds(worker, "t", "node-a", 5000);
  std::promise<void> go;
  auto busy = go.get_future().share();
  worker.post([busy](redis_connection&) { busy.wait(); });  // the Redis thread is busy meanwhile
  const long evals = calls_of(admin, "evalsha") + calls_of(admin, "eval"), hsets = calls_of(admin, "hset");

  std::vector<store_outcome> answers(n, store_outcome::unavailable);
  std::atomic<int> answered{0}, twice{0};
  std::vector<std::atomic<int>> times(n);
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    rounds.renew(n, i, [&, i](store_result<> r) {
      answers[i] = r.outcome;
      if (++times[i] > 1) ++twice;
      if (++answered == n) all.set_value();
    });
    rounds.set_status(i, "{\"old\":true}");
    rounds.set_status(i, "{\"seq\":" + std::to_string(i) + "}");  // the latest line wins
  }
  go.set_value();
  REQUIRE(all.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  std::promise<void> flushed;  // the worker runs in order: once this runs, the round is over
  worker.post([&](redis_connection&) { flushed.set_value(); });
  flushed.get_future().wait();

  CHECK(twice == 0);
  for (int i = 0; i < n; ++i) {
    CAPTURE(i);
    CHECK(answers[i] == (i == 5 ? store_outcome::lost : store_outcome::ok));
  }
  CHECK(me.lease_holder(n, 6).value == "node-a");
  CHECK(me.lease_holder(n, 5).value == "node-b");
  // One renewal script for the 600, the acquires of 5 and 6 (lost to the renewal), one HSET for the 600 lines.
  CHECK(calls_of(admin, "evalsha") + calls_of(admin, "eval") - evals == 3);
  CHECK(calls_of(admin, "hset") - hsets == 1);
  CHECK(admin.command({"HLEN", me.keys().status()}).number == n);
  CHECK(admin.command({"HGET", me.keys().status(), "599"}).text == "{\"seq\":599}");
}

TEST_CASE("lease renewals: Redis gone answers each renewal unavailable with the reason, and later rounds work again") {
  redis_process redis;
  redis_worker worker(at(redis));
  lease_renewals rounds(worker, "t", "node-a", 5000);
  auto renew_once = [&](int id) {
    std::promise<store_result<>> p;
    rounds.renew(1, id, [&](store_result<> r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  };
  CHECK(renew_once(0).ok());  // free: taken
  redis.kill();
  auto down = renew_once(0);
  CHECK(down.unavailable());
  CHECK_FALSE(down.reason.empty());
  redis.start();  // empty: the lease is gone, and taken back
  store_result<> back;
  for (int i = 0; i < 50 && !back.ok(); ++i) {  // the connection backs off for up to 1 s after a failure
    back = renew_once(0);
    if (!back.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(back.ok());
}
