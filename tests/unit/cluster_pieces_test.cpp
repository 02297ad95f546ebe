#include <doctest/doctest.h>

#include <set>

#include "cluster/event_filter.hpp"
#include "cluster/identify_schedule.hpp"
#include "cluster/snowflake.hpp"

using namespace g::cluster;

TEST_CASE("snowflake ids are unique, ordered by time, and carry the worker") {
  snowflake_generator gen(5);
  std::set<std::uint64_t> seen;
  std::uint64_t last = 0;
  for (int i = 0; i < 10000; ++i) {
    std::uint64_t id = gen.next(1700000000000ULL + static_cast<std::uint64_t>(i / 5000));
    CHECK(id > last);
    last = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 10000);
  CHECK(((last >> 12) & 0x3FF) == 5);
  CHECK(snowflake_generator::time_ms(gen.next(1700000000500ULL)) == 1700000000500ULL);
  CHECK(gen.next(1600000000000ULL) > last);  // a clock step back does not go back
}

TEST_CASE("identify schedule: one grant per bucket per slot, in order of request") {
  identify_schedule s(2, 5000);
  auto a = s.request(0), b = s.request(2), c = s.request(1);
  auto g = s.grant(0);
  CHECK(g == std::vector<identify_schedule::ticket>{a, c});
  CHECK(s.grant(4999).empty());
  CHECK(s.next_grant_at() == 5000);
  CHECK(s.grant(5000) == std::vector<identify_schedule::ticket>{b});
  auto d = s.request(3);
  s.cancel(d);
  CHECK(s.grant(20000).empty());
  CHECK(s.next_grant_at() == INT64_MAX);
}

TEST_CASE("identify schedule: the slot runs again from when the granted IDENTIFY left") {
  identify_schedule s(1, 5100);
  auto a = s.request(0), b = s.request(1);
  REQUIRE(s.grant(0) == std::vector<identify_schedule::ticket>{a});
  s.sent(a, 300);  // it waited 300 ms behind other work before leaving
  CHECK(s.grant(5100).empty());  // 5100 after the grant would be only 4800 after the IDENTIFY
  CHECK(s.next_grant_at() == 5400);
  CHECK(s.grant(5400) == std::vector<identify_schedule::ticket>{b});
  auto c = s.request(2);
  s.sent(a, 6000);  // an old grant's report changes nothing: the bucket's slot runs from b's grant
  CHECK(s.next_grant_at() == 5400 + 5100);
  CHECK(s.grant(10500) == std::vector<identify_schedule::ticket>{c});
}

TEST_CASE("event filter: include wins, else exclude, else everything") {
  CHECK(event_filter().passes("MESSAGE_CREATE"));
  event_filter inc({"MESSAGE_CREATE"}, {});
  CHECK(inc.passes("MESSAGE_CREATE"));
  CHECK_FALSE(inc.passes("TYPING_START"));
  event_filter exc({}, {"TYPING_START", "PRESENCE_UPDATE"});
  CHECK(exc.passes("MESSAGE_CREATE"));
  CHECK_FALSE(exc.passes("TYPING_START"));
  event_filter both({"TYPING_START"}, {"TYPING_START"});  // the config refuses this; the filter still lets include win
  CHECK(both.passes("TYPING_START"));
  CHECK_FALSE(both.passes("MESSAGE_CREATE"));
}

#include "cluster/session_budget_guard.hpp"

TEST_CASE("session budget guard: refuses at the reserve, until the window resets") {
  session_budget_guard g(1000, 12, 60000, 10, 0);
  CHECK(g.allows(0));
  g.spent();
  CHECK(g.allows(1));
  g.spent();
  CHECK_FALSE(g.allows(2));  // 10 left = the reserve
  CHECK(g.remaining() == 10);
  CHECK(g.allows(60000));    // the window reset
  CHECK(g.remaining() == 1000);
}

#include "net/gateway/member_chunking.hpp"

TEST_CASE("member chunking: only guilds with an incomplete member list are requested") {
  using g::net::guild_needing_members;
  CHECK(guild_needing_members(R"({"id":"42","large":true,"member_count":5000,"members":[{}]})") == 42u);
  CHECK(guild_needing_members(R"({"id":"43","large":false,"member_count":3,"members":[{},{}]})") == 43u);
  CHECK_FALSE(guild_needing_members(R"({"id":"44","large":false,"member_count":2,"members":[{},{}]})"));
  CHECK_FALSE(guild_needing_members("not json"));
  std::string req = g::net::request_all_members(81384788765712384ULL, false);
  CHECK(req.find(R"("guild_id":"81384788765712384")") != std::string::npos);
  CHECK(req.find(R"("query":"","limit":0)") != std::string::npos);
}

#include "net/rest/node_id_service.hpp"

TEST_CASE("node ids from an id service: bare, JSON number, JSON string, or an object with id") {
  using g::net::parse_node_id;
  CHECK(parse_node_id("175928847299117063\n") == 175928847299117063ULL);
  CHECK(parse_node_id("175928847299117063") == 175928847299117063ULL);
  CHECK(parse_node_id(R"("175928847299117063")") == 175928847299117063ULL);
  CHECK(parse_node_id(R"({"id":"175928847299117063"})") == 175928847299117063ULL);
  CHECK(parse_node_id(R"({"id":175928847299117063})") == 175928847299117063ULL);
  CHECK(parse_node_id("nope") == 0);
  CHECK(parse_node_id(R"({"ids":[1]})") == 0);
}
