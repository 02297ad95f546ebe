// g-fakecord's judge of max_concurrency driven in-process: the time an IDENTIFY arrived is the kernel's time of the
// socket's newest data (socket_sink::received_ms), which a message sent after it and read with it makes later.
#include <doctest/doctest.h>

#include <string>

#include "sim/fakecord.hpp"
#include "sim/gateway_connection.hpp"

namespace {

using g::sim::millis;

// A socket whose newest data arrived when the test says.
struct stamped_sink : g::net::socket_sink {
  millis newest = 0;
  int closed = 0;
  void send(std::string_view) override {}
  void close(int code, std::string_view) override { closed = code; }
  void drop() override {}
  std::size_t backlog_bytes() const override { return 0; }
  millis received_ms(millis) const override { return newest; }
};

g::sim::options two_buckets() {
  g::sim::options o;
  o.max_concurrency = 2;
  o.guilds = 4;
  return o;
}

std::string identify(int shard) {
  return R"({"op":2,"d":{"token":"t","intents":1,"properties":{"os":"x","browser":"y","device":"y"},"shard":[)" +
         std::to_string(shard) + R"(,4]}})";
}
const std::string heartbeat = R"({"op":1,"d":null})";

g::net::socket_params plain() {
  g::net::socket_params p;
  p.path = "/";
  p.version = "10";
  return p;
}

std::int64_t violations(const g::sim::fakecord& fc) {
  std::int64_t n = 0;
  for (auto& [kind, k] : fc.violations()) n += k;
  return n;
}

// Shard 0 opened at 1,000 and its IDENTIFY, stamped by the kernel at `stamped`, read at `read`; then shard 2 (the
// same bucket of two) on a second connection.
struct two_shards {
  g::sim::fakecord fc{two_buckets(), 0};
  stamped_sink a_sink, b_sink;
  g::sim::gateway_connection a{fc, a_sink, plain()}, b{fc, b_sink, plain()};
  two_shards(millis stamped, millis read) {
    a.on_open(1000);
    a_sink.newest = stamped;
    a.on_message(identify(0), read);
  }
  void identify_shard_2(millis stamped) {
    b.on_open(stamped - 1000);
    b_sink.newest = stamped;
    b.on_message(identify(2), stamped + 10);
  }
};

}  // namespace

TEST_CASE("fakecord identify arrival: a message read together with the IDENTIFY makes its bucket count from the HELLO") {
  // Shard 0 IDENTIFYs at 10,000; its first heartbeat follows at 10,200, and the loop reads both at 10,300: the
  // kernel stamps both with 10,200.
  two_shards s(10200, 10300);
  CHECK(s.fc.identify().last(0) == 10200);
  s.a.on_message(heartbeat, 10300);
  CHECK(s.fc.identify().last(0) == 1000);  // from its HELLO: it can have come any time since
  CHECK(s.fc.identify_arrivals_uncertain == 1);
  // Shard 2 IDENTIFYs 5,100 ms after shard 0 really did: 4,900 after the stamp. Not a violation.
  s.identify_shard_2(15100);
  CHECK(violations(s.fc) == 0);
  CHECK(s.b_sink.closed == 0);
}

TEST_CASE("fakecord identify arrival: a message that arrived later leaves the IDENTIFY's time, and the bucket is enforced") {
  two_shards s(10000, 10010);
  s.a_sink.newest = 12000;  // the heartbeat came two seconds after the IDENTIFY was read
  s.a.on_message(heartbeat, 12001);
  CHECK(s.fc.identify().last(0) == 10000);
  CHECK(s.fc.identify_arrivals_uncertain == 0);
  s.identify_shard_2(14900);  // 4,900 ms after shard 0's IDENTIFY, in its bucket
  CHECK(violations(s.fc) == 1);
  CHECK(s.fc.violations().at("identify_concurrency") == 1);
}

TEST_CASE("fakecord identify arrival: an uncertain IDENTIFY does not undo a later one in its bucket") {
  g::sim::identify_buckets b(2);
  b.record(0, 10200);
  b.record(2, 15300);          // the bucket's next IDENTIFY, recorded before the first one's doubt was known
  b.restamp(0, 10200, 1000);   // no effect: the bucket counts from 15,300
  CHECK(b.last(0) == 15300);
  b.restamp(2, 15300, 14000);
  CHECK(b.last(0) == 14000);
}
