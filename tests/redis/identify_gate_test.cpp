// The cluster-wide identify gate against a private redis-server: a bucket's slot counts from when the IDENTIFY
// left, not from the grant, and a grant whose IDENTIFY is late still keeps the next node out.
#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "net/redis/redis_identify_gate.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"
#include "sim/harness/redis_process.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using g::harness::redis_process;
using g::test::at;
using namespace std::chrono;

namespace {

struct gates {
  redis_process redis;
  redis_connection admin{at(redis)};
  redis_worker worker{at(redis)};
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread runner{[this] { io.run(); }};
  std::unique_ptr<identify_gate> a = make_redis_identify_gate(io, worker, "t", "node-a", 4, {}, 500);
  std::unique_ptr<identify_gate> b = make_redis_identify_gate(io, worker, "t", "node-b", 4, {}, 500);
  ~gates() {
    work.reset();
    io.stop();
    runner.join();
  }
  long long ttl(int bucket) {
    return admin.command({"PTTL", shard_store(admin, "t", "x").keys().identify(bucket)}).number;
  }
  void settle() {  // every job posted so far has run
    std::promise<void> p;
    worker.post([&](redis_connection&) { p.set_value(); });
    p.get_future().wait();
  }
};

// Asks for a slot; the future is ready when granted.
std::future<steady_clock::time_point> ask(identify_gate& g, int shard, identify_gate::ticket& t) {
  auto p = std::make_shared<std::promise<steady_clock::time_point>>();
  t = g.request(shard, [p] { p->set_value(steady_clock::now()); });
  return p->get_future();
}

}  // namespace

TEST_CASE_FIXTURE(gates, "identify gate: the slot is held two slots from the grant, then one slot from the IDENTIFY") {
  identify_gate::ticket ta = 0, tb = 0;
  auto granted_a = ask(*a, 0, ta);
  REQUIRE(granted_a.wait_for(seconds(5)) == std::future_status::ready);
  CHECK(ttl(0) > 500);  // not yet sent: held beyond one slot, for an IDENTIFY that leaves late
  std::this_thread::sleep_for(milliseconds(600));  // the IDENTIFY leaves 600 ms after the grant (a busy node)
  const auto sent = steady_clock::now();
  a->sent(ta);
  settle();
  CHECK(ttl(0) <= 500);
  CHECK(ttl(0) > 300);
  auto granted_b = ask(*b, 4, tb);  // same bucket, another node
  REQUIRE(granted_b.wait_for(seconds(5)) == std::future_status::ready);
  CHECK(granted_b.get() - sent >= milliseconds(480));  // a slot after the IDENTIFY, not after the grant
  auto other_bucket = ask(*b, 1, tb);
  CHECK(other_bucket.wait_for(milliseconds(300)) == std::future_status::ready);  // buckets do not wait on each other
}

TEST_CASE_FIXTURE(gates, "identify gate: a node waiting for a held slot gets it a slot after the IDENTIFY, not two after the grant") {
  identify_gate::ticket ta = 0, tb = 0;
  auto granted_a = ask(*a, 0, ta);
  REQUIRE(granted_a.wait_for(seconds(5)) == std::future_status::ready);
  const auto grant = granted_a.get();
  auto granted_b = ask(*b, 4, tb);  // asks while a's slot is held for two slots
  std::this_thread::sleep_for(milliseconds(200));
  const auto sent = steady_clock::now();
  a->sent(ta);
  REQUIRE(granted_b.wait_for(seconds(5)) == std::future_status::ready);
  const auto at = granted_b.get();
  CHECK(at - sent >= milliseconds(480));
  CHECK(at - grant < milliseconds(900));  // two slots would be 1,000 ms
}
