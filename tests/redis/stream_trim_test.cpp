// Consumer protection against a private redis-server: trimming never cuts what a protected group has not read or
// acknowledged, until the hard cap, which cuts on and counts what each group lost.
#include <doctest/doctest.h>

#include "net/redis/stream_trim.hpp"
#include "sim/harness/redis_process.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using g::harness::redis_process;
using g::test::at;

namespace {

const std::string key = "g:g:events";

// n entries; returns their ids in order.
std::vector<std::string> add(redis_connection& c, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(c.command({"XADD", key, "*", "seq", std::to_string(i)}).text);
  return ids;
}

// The group reads `n` entries (from where it is) and acknowledges the first `acked` of them.
void consume(redis_connection& c, const std::string& group, int n, int acked) {
  auto r = c.command({"XREADGROUP", "GROUP", group, "worker", "COUNT", std::to_string(n), "STREAMS", key, ">"});
  REQUIRE(r.type == redis_reply::array);
  auto& entries = r.elements[0].elements[1].elements;
  REQUIRE(entries.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < acked; ++i) c.command({"XACK", key, group, entries[static_cast<std::size_t>(i)].elements[0].text});
}

std::string first_id(redis_connection& c) { return c.command({"XRANGE", key, "-", "+", "COUNT", "1"}).elements[0].elements[0].text; }

const consumer_group_state* group(const trim_report& r, const std::string& name) {
  for (auto& g : r.groups)
    if (g.name == name) return &g;
  return nullptr;
}

}  // namespace

TEST_CASE("trimming waits for a protected group's unacknowledged entries, then trims to stream_maxlen once it caught up") {
  redis_process redis;
  redis_connection c(at(redis));
  auto ids = add(c, 1000);
  REQUIRE(c.command({"XGROUP", "CREATE", key, "slow", "0"}).ok());
  REQUIRE(c.command({"XGROUP", "CREATE", key, "fast", "0"}).ok());
  consume(c, "slow", 300, 250);  // entries 251..300 pending, 301..1000 unread
  consume(c, "fast", 1000, 1000);
  trim_policy p;
  p.maxlen = 200;
  p.hard = 5000;
  auto result = trim_stream(c, key, p);
  REQUIRE(result.ok());
  auto& r = result.value;
  CHECK(r.held_by == "slow");
  CHECK(!r.over_hard);
  // Everything from the oldest unacknowledged entry on is there; approximate trimming removed whole nodes before it.
  CHECK(r.length == c.command({"XLEN", key}).number);
  CHECK(r.length >= 750);
  CHECK(r.length < 1000);
  CHECK(c.command({"XRANGE", key, ids[250], ids[250]}).elements.size() == 1);
  REQUIRE(group(r, "slow"));
  CHECK(group(r, "slow")->pending == 50);
  CHECK(group(r, "slow")->lag == 700);
  CHECK(group(r, "slow")->is_protected);
  CHECK(group(r, "fast")->lag == 0);

  consume(c, "slow", 700, 700);  // caught up, but 50 still pending
  r = trim_stream(c, key, p).value;
  CHECK(c.command({"XRANGE", key, ids[250], ids[250]}).elements.size() == 1);
  for (int i = 250; i < 300; ++i) c.command({"XACK", key, "slow", ids[static_cast<std::size_t>(i)]});
  r = trim_stream(c, key, p).value;
  CHECK(r.held_by.empty());
  CHECK(r.length >= 200);
  CHECK(r.length <= 300);  // MAXLEN ~: within a macro node
}

TEST_CASE("past stream_maxlen_hard trimming goes on and counts what each protected group lost, read or not") {
  redis_process redis;
  redis_connection c(at(redis));
  REQUIRE(c.command({"XGROUP", "CREATE", key, "stuck", "$", "MKSTREAM"}).ok());
  auto ids = add(c, 1000);
  consume(c, "stuck", 100, 0);  // 100 pending, 900 unread
  trim_policy p;
  p.maxlen = 100;
  p.hard = 400;
  auto result = trim_stream(c, key, p);
  REQUIRE(result.ok());
  auto& r = result.value;
  CHECK(r.over_hard);
  CHECK(r.length == 400);  // exactly the hard cap: the newest 400
  CHECK(first_id(c) == ids[600]);
  REQUIRE(group(r, "stuck"));
  CHECK(group(r, "stuck")->pending_trimmed == 100);
  CHECK(group(r, "stuck")->unread_trimmed == 500);
  // The next round has nothing more to cut and reports no new loss.
  r = trim_stream(c, key, p).value;
  CHECK(r.trimmed == 0);
  CHECK(group(r, "stuck")->unread_trimmed + group(r, "stuck")->pending_trimmed == 0);
  // More comes and the group still reads nothing: only the new cut counts (its pending ids of the first cut, still
  // in its pending list, neither hold the stream up nor count again).
  auto more = add(c, 200);
  r = trim_stream(c, key, p).value;
  CHECK(r.length == 400);
  CHECK(first_id(c) == ids[800]);
  CHECK(group(r, "stuck")->unread_trimmed == 200);
  CHECK(group(r, "stuck")->pending_trimmed == 0);
}

TEST_CASE("protect_groups names the groups trimming waits for: the others, or all with an empty list, are trimmed past") {
  redis_process redis;
  redis_connection c(at(redis));
  REQUIRE(c.command({"XGROUP", "CREATE", key, "analytics", "$", "MKSTREAM"}).ok());
  REQUIRE(c.command({"XGROUP", "CREATE", key, "cache", "$"}).ok());
  add(c, 1000);
  consume(c, "cache", 1000, 1000);
  trim_policy p;
  p.maxlen = 200;
  p.hard = 5000;
  p.every_group = false;
  p.groups = {"cache"};
  auto result = trim_stream(c, key, p);
  REQUIRE(result.ok());
  auto& r = result.value;
  CHECK(r.held_by.empty());
  CHECK(r.length <= 300);
  CHECK(!group(r, "analytics")->is_protected);
  CHECK(group(r, "cache")->is_protected);
  CHECK(group(r, "analytics")->unread_trimmed == 0);  // unprotected: not counted as a loss, by choice

  add(c, 1000);
  p.groups.clear();  // protect none
  r = trim_stream(c, key, p).value;
  CHECK(r.length <= 300);
  CHECK(!group(r, "cache")->is_protected);
}

TEST_CASE("a missing stream is nothing to trim") {
  redis_process redis;
  redis_connection c(at(redis));
  auto result = trim_stream(c, key, {});
  REQUIRE(result.ok());
  auto& r = result.value;
  CHECK(r.length == 0);
  CHECK(r.groups.empty());
}
