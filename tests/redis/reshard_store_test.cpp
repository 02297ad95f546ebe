// A reshard against a private redis-server: the commit script routes each shard set's events (the set in force to
// the stream, the set in preparation to the held stream, any other set refused), and the switch writes the
// marker and the held events the stream lacks, exactly once.
#include <doctest/doctest.h>

#include <map>

#include "net/redis/reshard_store.hpp"
#include "net/redis/shard_store.hpp"
#include "sim/harness/redis_process.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using g::harness::redis_process;
using g::test::at;

namespace {

stream_event message(std::int64_t seq, const std::string& id) {
  return {seq, "MESSAGE_CREATE", R"({"id":")" + id + R"(","content":"hi"})", 1000 + seq};
}

struct entry {
  std::string id;
  std::map<std::string, std::string> f;
};

std::vector<entry> read_stream(redis_connection& c, const std::string& key) {
  std::vector<entry> out;
  auto r = c.command({"XRANGE", key, "-", "+"});
  for (auto& e : r.elements) {
    entry x{e.elements[0].text, {}};
    auto& kv = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) x.f[kv[i].text] = kv[i + 1].text;
    out.push_back(std::move(x));
  }
  return out;
}

// How many entries of the stream carry this message id.
int copies(const std::vector<entry>& s, const std::string& id) {
  int n = 0;
  for (auto& e : s)
    if (e.f.at("d").find("\"" + id + "\"") != std::string::npos) ++n;
  return n;
}

// Node "n", master of epoch 1, ran one shard (its session "old" committed "a"), and began preparing two.
struct preparing_world {
  redis_process redis;
  redis_connection c{at(redis)};
  shard_store store{c, "t", "n"};
  reshard_store reshard{c, "t", "n"};
  std::string url = "wss://x";
  struct view {
    redis_connection& c;
    shard_store& store;
    reshard_store& reshard;
    const std::string& url;
  } v{c, store, reshard, url};

  preparing_world() {
    REQUIRE(c.command({"SET", "g:t:epoch", "1"}).ok());
    REQUIRE(c.command({"SET", "g:t:master", "n"}).ok());
    REQUIRE(store.commit(1, 0, "old", url, {message(1, "a")}, 0, 1).ok());  // sets the count
    REQUIRE(reshard.begin(1, 2, 1, 1).ok());
  }
  view& parts() { return v; }
};

}  // namespace

TEST_CASE("a reshard: held while prepared, switched once, duplicates written once, the old set refused after") {
  redis_process redis;
  redis_connection c(at(redis));
  shard_store store(c, "t", "node-a");
  reshard_store reshard(c, "t", "node-a");
  const std::string old_session = "old", new0 = "new0", new1 = "new1", url = "wss://x";
  // One shard in force; the master of epoch 7.
  REQUIRE(c.command({"SET", "g:t:shard_count", "1"}).ok());
  REQUIRE(c.command({"SET", "g:t:epoch", "7"}).ok());
  REQUIRE(c.command({"SET", "g:t:master", "node-a"}).ok());
  REQUIRE(store.commit(1, 0, old_session, url, {message(1, "m1")}, 0, 1).ok());

  CHECK(reshard.begin(2, 3, 7, 1).lost());  // 2 is not in force
  CHECK(reshard.begin(1, 2, 6, 1).lost());  // not the master of the current epoch
  CHECK(reshard_store(c, "t", "node-b").begin(1, 2, 7, 1).lost());
  REQUIRE(reshard.begin(1, 2, 7, 1).ok());
  auto busy = reshard.begin(1, 3, 7, 1);
  CHECK(busy.lost());
  CHECK(busy.reason.find("to 2 shards is in progress") != std::string::npos);
  auto loaded = reshard.current();
  REQUIRE(loaded.ok());
  auto& rec = loaded.value;
  REQUIRE(rec);
  CHECK(rec->from == 1);
  CHECK(rec->to == 2);
  CHECK(rec->epoch == 7);

  // Both sets receive m2..m4; the old set commits m2 and m3 before the switch, the new set holds m2..m3 (shard 0
  // and 1 of the new set each get some). A set nobody prepared is refused.
  CHECK(store.commit(3, 0, "x", url, {message(1, "zz")}, 0, 1).value.refused == commit_outcome::superseded);
  REQUIRE(store.commit(1, 0, old_session, url, {message(2, "m2")}, 0, 2).ok());
  REQUIRE(store.commit(2, 0, new0, url, {{1, "", "", 5}, message(2, "m2")}, 0, 3).ok());
  REQUIRE(store.commit(2, 1, new1, url, {{1, "", "", 5}, message(2, "m3"), message(3, "n1")}, 0, 3).ok());
  REQUIRE(store.commit(1, 0, old_session, url, {message(3, "m3")}, 0, 4).ok());
  CHECK(read_stream(c, "g:t:events").size() == 3);  // m1..m3: the new set's events are held
  CHECK(read_stream(c, "g:t:reshard:held").size() == 3);

  // Every new shard must run its stored session live: one that is starting a new session would miss events.
  REQUIRE(reshard.set_live(0, new0).ok());
  CHECK(reshard.switch_over(2, 7, 5, 0).value.not_ready == 1);
  REQUIRE(reshard.set_live(1, "an-older-session").ok());
  CHECK(reshard.switch_over(2, 7, 5, 0).value.not_ready == 1);
  REQUIRE(reshard.set_live(1, new1).ok());
  // Only the master of the current epoch switches.
  CHECK(reshard_store(c, "t", "node-b").switch_over(2, 7, 5, 0).lost());
  CHECK(reshard.switch_over(2, 6, 5, 0).lost());
  auto sw = reshard.switch_over(2, 7, 5, 0);
  REQUIRE(sw.ok());
  CHECK(sw.value.skipped == 2);   // m2, m3: the stream has them
  CHECK(sw.value.appended == 1);  // n1: only the new set received it (the old one was fenced before it committed it)
  CHECK(sw.value.left_out == 0);
  CHECK(c.command({"GET", "g:t:shard_count"}).text == "2");
  CHECK(c.command({"EXISTS", "g:t:reshard"}).number == 0);
  CHECK(c.command({"EXISTS", "g:t:reshard:held"}).number == 0);

  // The old set is refused from now on: its sessions are to be closed.
  CHECK(store.commit(1, 0, old_session, url, {message(4, "m4")}, 0, 6).value.refused == commit_outcome::superseded);
  // m4 reached the new set only after the switch: straight to the stream, after n1 in shard 1's chain.
  REQUIRE(store.commit(2, 1, new1, url, {message(4, "m4")}, 0, 6).ok());

  auto s = read_stream(c, "g:t:events");
  REQUIRE(s.size() == 6);
  CHECK(s[3].f["t"] == "G_RESHARD");
  CHECK(s[3].f["shard"] == "-1");
  CHECK(s[3].f["d"].find("\"to\":2") != std::string::npos);
  CHECK(s[3].f["d"].find("\"session_id\":\"new1\"") != std::string::npos);
  CHECK(s[3].f["d"].find("\"0\":\"" + s[2].id + "\"") != std::string::npos);  // the old shard's last entry
  for (const char* id : {"m1", "m2", "m3", "n1", "m4"}) CHECK(copies(s, id) == 1);
  CHECK(s[4].f["shard"] == "1");
  CHECK(s[4].f["prev"] == s[3].id);  // the new shard's chain starts at the marker
  CHECK(s[5].f["prev"] == s[4].id);
  CHECK(c.command({"HGET", "g:t:session:2:0", "last_id"}).text == s[3].id);
}

TEST_CASE("a reshard: old events the new set commits after the switch are skipped, and an unprepared switch is refused") {
  preparing_world pw;
  auto& [c, store, reshard, url] = pw.parts();
  REQUIRE(store.commit(1, 0, "old", url, {message(2, "b"), message(3, "c")}, 0, 2).ok());
  REQUIRE(store.commit(2, 0, "s0", url, {{1, "", "", 1}}, 0, 2).ok());
  REQUIRE(reshard.set_live(0, "s0").ok());
  auto early = reshard.switch_over(2, 1, 3, 0);
  CHECK(early.lost());
  CHECK(early.value.not_ready == 1);
  REQUIRE(store.commit(2, 1, "s1", url, {{1, "", "", 1}}, 0, 2).ok());
  REQUIRE(reshard.set_live(1, "s1").ok());
  auto sw = reshard.switch_over(2, 1, 3, 0);
  REQUIRE(sw.ok());
  CHECK(sw.value.left_out == 2);  // b and c: the new set has not committed them yet
  // The new set commits b (and d, new) after the switch: b is skipped, d written; then it commits c.
  REQUIRE(store.commit(2, 0, "s0", url, {message(2, "b"), message(3, "d")}, 0, 4).ok());
  REQUIRE(store.commit(2, 1, "s1", url, {message(2, "c")}, 0, 4).ok());
  auto s = read_stream(c, "g:t:events");
  for (const char* id : {"a", "b", "c", "d"}) CHECK(copies(s, id) == 1);
  CHECK(c.command({"EXISTS", "g:t:reshard:seen"}).number == 0);  // used up
  CHECK(c.command({"HGET", "g:t:session:2:0", "seq"}).text == "3");  // skipped events still move the seq

  // Abandoning: nothing to abandon now; a new preparation can be given up and changes nothing in force.
  CHECK(reshard.abandon(3).lost());
  REQUIRE(reshard.begin(2, 3, 1, 9).ok());
  CHECK(reshard.abandon(3).ok());
  CHECK(c.command({"GET", "g:t:shard_count"}).text == "2");
  CHECK_FALSE(reshard.current().value);
}

TEST_CASE("a reshard: a copy the old set received before the new session had its guild is never matched") {
  preparing_world pw;
  auto& [c, store, reshard, url] = pw.parts();
  auto in_guild = [](std::int64_t seq, const std::string& id, std::int64_t ts) {
    auto e = message(seq, id);
    e.ts_ms = ts;
    e.guild_id = 7;
    return e;
  };
  // The old set writes p (at 1002), before the new session's GUILD_CREATE for guild 7 (at 5000), then q (at 5500),
  // which the new set receives too and holds.
  REQUIRE(store.commit(1, 0, "old", url, {in_guild(2, "p", 1002)}, 0, 2).ok());
  stream_event opens{1, "*", "", 5000, 7};
  REQUIRE(store.commit(2, 1, "s1", url, {opens}, 0, 5000).ok());
  REQUIRE(store.commit(2, 0, "s0", url, {{1, "*", "", 4000}}, 0, 4000).ok());
  REQUIRE(store.commit(1, 0, "old", url, {in_guild(3, "q", 5500)}, 0, 5500).ok());
  REQUIRE(store.commit(2, 1, "s1", url, {in_guild(2, "q", 5501)}, 0, 5501).ok());
  CHECK(c.command({"HGET", "g:t:reshard:present", "7"}).text == "5000");
  CHECK(c.command({"HGET", "g:t:reshard:present", "0"}).text == "4000");  // shard 0's READY: where DMs go
  REQUIRE(reshard.set_live(0, "s0").ok());
  REQUIRE(reshard.set_live(1, "s1").ok());
  auto sw = reshard.switch_over(2, 1, 6000, 0);
  REQUIRE(sw.ok());
  CHECK(sw.value.skipped == 1);    // q
  CHECK(sw.value.appended == 0);
  CHECK(sw.value.left_out == 0);   // p was never the new set's to commit
  // Later the same payload as p comes again (a channel flapping back to what it was): a new event, written.
  REQUIRE(store.commit(2, 1, "s1", url, {in_guild(3, "p", 7000)}, 0, 7000).ok());
  auto s2 = read_stream(c, "g:t:events");
  CHECK(copies(s2, "p") == 2);
  CHECK(copies(s2, "q") == 1);
  CHECK(c.command({"EXISTS", "g:t:reshard:present"}).number == 0);
}
