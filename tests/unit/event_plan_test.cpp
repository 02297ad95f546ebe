// The cache planner: what each event does to the cache standard, without Redis.
#include <doctest/doctest.h>

#include <algorithm>

#include "cache/event_plan.hpp"
#include "cache/pending_writes.hpp"

using namespace g::cache;

namespace {

struct planned {
  std::vector<read_request> reads;
  cache_plan plan;
};

planned run(event_planner& p, const std::string& t, const std::string& d, std::vector<read_result> results = {}) {
  stream_entry e;
  e.id = "1-1";
  e.shard = 3;
  e.seq = 7;
  e.t = t;
  e.d = d;
  planned out;
  out.reads = p.prepare(e);
  results.resize(out.reads.size());
  out.plan = p.plan(results);
  return out;
}

// The value an op writes: "H key field" → value, "S key" → value.
std::string written(const cache_plan& plan, const std::string& key, const std::string& field = {}) {
  const auto& o = plan.ops;
  for (std::size_t i = 0; i < o.size();) {
    if (o[i] == "S") {
      if (field.empty() && o[i + 1] == key) return o[i + 2];
      i += 3;
    } else if (o[i] == "H") {
      if (o[i + 1] == key && o[i + 2] == field) return o[i + 3];
      i += 4;
    } else if (o[i] == "X" || o[i] == "M") {
      i += 3;
    } else {
      i += 2;
    }
  }
  return {};
}

bool has_op(const cache_plan& plan, std::initializer_list<std::string> op) {
  std::vector<std::string> want(op);
  return std::search(plan.ops.begin(), plan.ops.end(), want.begin(), want.end()) != plan.ops.end();
}

read_result found(std::string v) {
  read_result r;
  r.found = true;
  r.value = std::move(v);
  return r;
}

}  // namespace

TEST_CASE("cache plan: GUILD_CREATE replaces the guild, keeps its arrays apart, adds guild_id to channels") {
  cache_keys k("g");
  event_planner p(k, {});
  auto r = run(p, "GUILD_CREATE",
               R"({"id":"10","name":"G","member_count":2,"channels":[{"id":"11","type":0}],"roles":[{"id":"10","name":"@everyone"}],)"
               R"("members":[{"user":{"id":"5"},"roles":[]}],"threads":[],"voice_states":[{"user_id":"5","channel_id":"12"}],"presences":[]})");
  CHECK(has_op(r.plan, {"C", "10"}));
  CHECK(has_op(r.plan, {"M", "10", "3"}));
  CHECK(written(r.plan, "g:g:cache:guild:10") == R"({"id":"10","name":"G","member_count":2})");
  CHECK(written(r.plan, "g:g:cache:guild:10:channels", "11") == R"({"id":"11","type":0,"guild_id":"10"})");
  CHECK(written(r.plan, "g:g:cache:channel:11") == "10");
  CHECK(written(r.plan, "g:g:cache:guild:10:members", "5") == R"({"user":{"id":"5"},"roles":[]})");
  CHECK(written(r.plan, "g:g:cache:guild:10:voice_states", "5") == R"({"user_id":"5","channel_id":"12","guild_id":"10"})");
}

TEST_CASE("cache plan: GUILD_DELETE tells an outage from a removal") {
  cache_keys k("g");
  event_planner p(k, {});
  auto outage = run(p, "GUILD_DELETE", R"({"id":"10","unavailable":true})", {found(R"({"id":"10","name":"G","unavailable":false})")});
  CHECK(written(outage.plan, "g:g:cache:guild:10") == R"({"id":"10","name":"G","unavailable":true})");
  auto removed = run(p, "GUILD_DELETE", R"({"id":"10"})");
  CHECK(has_op(removed.plan, {"G", "10"}));
}

TEST_CASE("cache plan: merges keep what the update leaves out") {
  cache_keys k("g");
  event_planner p(k, {});
  auto member = run(p, "GUILD_MEMBER_UPDATE", R"({"guild_id":"10","user":{"id":"5"},"roles":["20"],"nick":"x"})",
                    {found(R"({"user":{"id":"5"},"roles":[],"nick":null,"deaf":true})")});
  REQUIRE(member.reads.size() == 1);
  CHECK(written(member.plan, "g:g:cache:guild:10:members", "5") == R"({"user":{"id":"5"},"roles":["20"],"nick":"x","deaf":true})");
  auto guild = run(p, "GUILD_UPDATE", R"({"id":"10","name":"New","roles":[{"id":"10"}]})",
                   {found(R"({"id":"10","name":"Old","member_count":4,"joined_at":"t"})")});
  CHECK(written(guild.plan, "g:g:cache:guild:10") == R"({"id":"10","name":"New","member_count":4,"joined_at":"t"})");
  CHECK(has_op(guild.plan, {"D", "g:g:cache:guild:10:roles"}));
  auto add = run(p, "GUILD_MEMBER_ADD", R"({"guild_id":"10","user":{"id":"6"},"roles":[]})",
                 {found(R"({"id":"10","member_count":4})"), read_result{}});
  CHECK(written(add.plan, "g:g:cache:guild:10") == R"({"id":"10","member_count":5})");
  auto again = run(p, "GUILD_MEMBER_ADD", R"({"guild_id":"10","user":{"id":"6"},"roles":[]})",
                   {found(R"({"id":"10","member_count":5})"), found(R"({"user":{"id":"6"}})")});
  CHECK(written(again.plan, "g:g:cache:guild:10").empty());  // a repeated join does not count twice
}

TEST_CASE("cache plan: a deleted role leaves its members, a deleted channel takes its threads, an archived thread leaves") {
  cache_keys k("g");
  event_planner p(k, {});
  read_result members;
  members.found = true;
  members.pairs = {{"5", R"({"user":{"id":"5"},"roles":["20","21"]})"}, {"6", R"({"user":{"id":"6"},"roles":["21"]})"}};
  auto role = run(p, "GUILD_ROLE_DELETE", R"({"guild_id":"10","role_id":"20"})", {members});
  CHECK(has_op(role.plan, {"X", "g:g:cache:guild:10:roles", "20"}));
  CHECK(written(role.plan, "g:g:cache:guild:10:members", "5") == R"({"user":{"id":"5"},"roles":["21"]})");
  CHECK(written(role.plan, "g:g:cache:guild:10:members", "6").empty());
  read_result threads;
  threads.found = true;
  threads.pairs = {{"30", R"({"id":"30","parent_id":"11"})"}, {"31", R"({"id":"31","parent_id":"12"})"}};
  auto channel = run(p, "CHANNEL_DELETE", R"({"id":"11","guild_id":"10","type":0})", {threads});
  CHECK(has_op(channel.plan, {"X", "g:g:cache:guild:10:threads", "30"}));
  CHECK_FALSE(has_op(channel.plan, {"X", "g:g:cache:guild:10:threads", "31"}));
  auto archived = run(p, "THREAD_UPDATE", R"({"id":"31","guild_id":"10","thread_metadata":{"archived":true}})", {found("{}"), {}});
  CHECK(has_op(archived.plan, {"X", "g:g:cache:guild:10:threads", "31"}));
  CHECK(has_op(archived.plan, {"D", "g:g:cache:channel:31"}));
}

TEST_CASE("cache plan: READY names its session and drops the shard's guilds it no longer lists") {
  cache_keys k("g");
  event_planner p(k, {});
  read_result shard_set;
  shard_set.found = true;
  shard_set.members = {"10", "40"};
  auto r = run(p, "READY", R"({"session_id":"abc","user":{"id":"1","bot":true},"guilds":[{"id":"10","unavailable":true},{"id":"50","unavailable":true}]})",
               {shard_set});
  CHECK(r.plan.session_id == "abc");
  CHECK(has_op(r.plan, {"G", "40"}));
  CHECK_FALSE(has_op(r.plan, {"G", "10"}));
  CHECK(written(r.plan, "g:g:cache:guild:50") == R"({"id":"50","unavailable":true})");
  CHECK(written(r.plan, "g:g:cache:me") == R"({"id":"1","bot":true})");
  auto bad = run(p, "GUILD_CREATE", "not json");
  CHECK_FALSE(bad.plan.problem.empty());
  CHECK(bad.plan.ops.empty());
}

TEST_CASE("cache batch: later reads see the writes planned before them, over what Redis had") {
  cache_keys k("g");
  pending_writes w(k);
  read_result before_member = found(R"({"user":{"id":"5"},"nick":null})");
  read_request member{read_request::hget, "g:g:cache:guild:10:members", "5"};
  read_request guild{read_request::get, "g:g:cache:guild:10", ""};
  read_request members{read_request::hgetall, "g:g:cache:guild:10:members", ""};
  // Untouched: what Redis had.
  CHECK(w.resolve(member, before_member)->value == before_member.value);
  cache_plan p;
  p.ops = {"H", "g:g:cache:guild:10:members", "5", R"({"nick":"a"})", "X", "g:g:cache:guild:10:members", "6",
           "S", "g:g:cache:guild:10", R"({"id":"10"})"};
  w.record(p);
  CHECK(w.resolve(member, before_member)->value == R"({"nick":"a"})");
  CHECK(w.resolve(guild, read_result{})->value == R"({"id":"10"})");
  read_result all;
  all.found = true;
  all.pairs = {{"5", "old"}, {"6", "gone"}, {"7", "kept"}};
  auto merged = w.resolve(members, all);
  REQUIRE(merged);
  CHECK(merged->pairs.size() == 2);  // 7 kept, 5 replaced, 6 deleted
  // A guild cleared (GUILD_CREATE's C) answers from the writes alone; a dropped one (G) has no guild object.
  cache_plan drop;
  drop.ops = {"G", "10"};
  w.record(drop);
  CHECK_FALSE(w.resolve(member, before_member)->found);
  CHECK_FALSE(w.resolve(guild, found("{}"))->found);
  CHECK(w.resolve(members, all)->pairs.empty());
  // A shard's guild set after guilds moved is not known: the caller reads Redis again.
  CHECK_FALSE(w.resolve(read_request{read_request::smembers, "g:g:cache:shard:3:guilds", ""}, read_result{}).has_value());
}
