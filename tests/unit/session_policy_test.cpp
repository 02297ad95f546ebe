#include <doctest/doctest.h>

#include "net/gateway/close_policy.hpp"
#include "net/gateway/send_budget.hpp"

using namespace g::net;

TEST_CASE("close policy: fatal codes never reconnect, session-ending codes identify, the rest resume") {
  for (int code : {4004, 4010, 4011, 4012, 4013, 4014}) CHECK(close_policy(code).action == after_close::fatal);
  for (int code : {4003, 4005, 4007, 4009}) CHECK(close_policy(code).action == after_close::reidentify);
  for (int code : {0, 1000, 1001, 1006, 1011, 4000, 4001, 4002, 4008, 4900})
    CHECK(close_policy(code).action == after_close::resume);
  CHECK(resumable_close_code != 1000);
  CHECK(resumable_close_code != 1001);
}

TEST_CASE("send budget: commands leave headroom, critical payloads use it, never more than 120 per 60 s") {
  send_budget b;
  std::int64_t t = 0;
  int commands = 0;
  while (b.allows(send_budget::kind::command, t)) {
    b.record(t);
    ++commands;
  }
  CHECK(commands == 110);
  int critical = 0;
  while (b.allows(send_budget::kind::critical, t)) {
    b.record(t);
    ++critical;
  }
  CHECK(critical == 10);
  CHECK(b.used(t) == 120);
  CHECK(b.wait_ms(send_budget::kind::critical, t) == 60000);
  CHECK(b.wait_ms(send_budget::kind::command, 30000) == 30000);
  CHECK(b.allows(send_budget::kind::command, 60000));
  b.reset();
  CHECK(b.used(60000) == 0);
}

TEST_CASE("send budget under a steady flood never exceeds 120 in any 60 s window") {
  send_budget b;
  std::vector<std::int64_t> sent;
  for (std::int64_t t = 0; t < 300000; t += 7) {
    auto k = (t % 41250 < 7) ? send_budget::kind::critical : send_budget::kind::command;
    if (b.allows(k, t)) {
      b.record(t);
      sent.push_back(t);
    }
  }
  std::size_t lo = 0;
  for (std::size_t hi = 0; hi < sent.size(); ++hi) {
    while (sent[hi] - sent[lo] >= 60000) ++lo;
    REQUIRE(hi - lo + 1 <= 120);
  }
  CHECK(sent.size() > 500);
}
