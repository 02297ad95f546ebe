// Resharding with zero downtime, against real processes: three g-actor nodes, a private redis-server and
// g-fakecord under load. The new set is prepared beside the old one and the stream switches once: every generated
// MESSAGE_CREATE is in the stream exactly once, through 4 → 8 → 6 with a node killed during a preparation.
#include <set>
#include <sstream>

#include "tests/node/node_world.hpp"

using namespace g::test;

namespace {

struct reshard_world : world {
  using world::world;

  redis_connection redis_conn() { return redis_connection({"127.0.0.1", redis.port(), "", 0, 5000}); }
  int in_force() {
    auto c = redis_conn();
    auto r = c.command({"GET", "g:g:shard_count"});
    return r.type == g::net::redis_reply::string ? std::stoi(r.text) : 0;
  }
  bool preparing() {
    auto c = redis_conn();
    return c.command({"EXISTS", "g:g:reshard"}).number == 1;
  }
  // g-fakecord's sessions: every one of `total` shards connected, and no session of another total left.
  bool only_sessions_of(int total) {
    auto s = fc.stats();
    const std::size_t n = g::test::json_array_size(s, "/sessions");
    if (n != static_cast<std::size_t>(total) || s.find("\"connected\":false") != std::string::npos) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (json_int(s, ("/sessions/" + std::to_string(i) + "/shards").c_str()) != total) return false;
    return true;
  }
  // Every connected session of `total` shards at g-fakecord is in Redis (`session:<total>:<id>`), so a successor
  // can resume it. Before that, a killed owner's session is lost to the cluster and must be identified anew.
  bool sessions_recorded(int total) {
    auto s = fc.stats();
    auto c = redis_conn();
    const std::size_t n = g::test::json_array_size(s, "/sessions");
    for (std::size_t i = 0; i < n; ++i) {
      std::string p = "/sessions/" + std::to_string(i) + "/";
      if (json_int(s, (p + "shards").c_str()) != total || json_str(s, p + "connected") == "false") continue;
      const std::string key = "g:g:session:" + std::to_string(total) + ":" + std::to_string(json_int(s, (p + "shard").c_str()));
      auto id = c.command({"HGET", key, "session_id"});
      if (id.type != g::net::redis_reply::string || id.text != json_str(s, p + "session_id")) return false;
    }
    return true;
  }
  bool sessions_of_two_totals(int a, int b) {
    auto s = fc.stats();
    return s.find("\"shards\":" + std::to_string(a) + ",") != std::string::npos &&
           s.find("\"shards\":" + std::to_string(b) + ",") != std::string::npos;
  }
  // Everything g-fakecord sent the live sessions is committed (the session records' seq: the stream's last entry
  // of a shard may be older, when the new set's last events were ones the old set had written).
  bool caught_up(int total) {
    auto s = fc.stats();
    auto c = redis_conn();
    for (int i = 0; i < total; ++i) {
      std::string p = "/sessions/" + std::to_string(i) + "/";
      const std::string key = "g:g:session:" + std::to_string(total) + ":" + std::to_string(json_int(s, (p + "shard").c_str()));
      auto seq = c.command({"HGET", key, "seq"});
      if (seq.type != g::net::redis_reply::string || std::stoll(seq.text) != json_int(s, (p + "seq").c_str())) return false;
    }
    return true;
  }
  std::pair<int, std::string> reshard(const std::vector<std::string>& how, const std::string& log) {
    std::vector<std::string> args = {G_ACTOR_PATH, "reshard"};
    args.insert(args.end(), how.begin(), how.end());
    child_process p(std::move(args), (dir / log).string());
    int rc = p.wait(60s);
    return {rc, p.log()};
  }
};

// The message ids of every MESSAGE_CREATE in the stream, with how often each appears; and the markers.
struct stream_census {
  std::map<std::string, int> messages;
  std::vector<std::string> markers;
};

stream_census census(reshard_world& w) {
  auto c = w.redis_conn();
  stream_census out;
  for (auto& f : stream_entries(c)) {
    if (f["t"] == "G_RESHARD") out.markers.push_back(f["d"]);
    if (f["t"] != "MESSAGE_CREATE") continue;
    ++out.messages[json_str(f["d"], "/id")];
  }
  return out;
}

// Load stopped, the set of `total` shards caught up: every MESSAGE_CREATE g-fakecord generated is in the stream
// exactly once, and each had a session to go to (G never left a shard with no session in either total). Returns
// g-fakecord's stats and the stream's census for further checks.
std::pair<std::string, stream_census> check_every_message_once(reshard_world& w, int total) {
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.caught_up(total); }, 15s), w.fc.stats());
  std::this_thread::sleep_for(500ms);
  auto stats = w.fc.stats();
  auto seen = census(w);
  std::size_t twice = 0;
  for (auto& [id, n] : seen.messages) twice += n > 1;
  CHECK(twice == 0);
  CHECK(static_cast<std::int64_t>(seen.messages.size()) == json_int(stats, "/generated/MESSAGE_CREATE"));  // none lost
  CHECK_MESSAGE(!g::test::json_has(stats, "/undelivered/MESSAGE_CREATE"), stats.substr(stats.find("undelivered_recent")));
  return {stats, seen};
}

}  // namespace

TEST_CASE("reshard: 4 → 8 → 6 under load, a node killed while 8 are prepared: every message once, one marker each") {
  // max_concurrency 2: a large bot's counts are rounded up to a multiple of it, and 8 and 6 both are.
  reshard_world w(4, {"--max-concurrency", "2", "--guilds", "60"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.only_sessions_of(4); }, 30s), a.log());
  w.load(300);  // from now on every generated message has a session to go to
  auto b = w.extra_node("b");
  auto c = w.extra_node("c");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners().size() == 3; }, 30s), std::string(a.log() + b.log() + c.log()));
  const std::string cfg = (w.dir / "a.toml").string();

  // Through the config (the CLI finds the master in Redis).
  auto r8 = w.reshard({"--config", cfg, "--shards", "8"}, "reshard8.log");
  REQUIRE_MESSAGE(r8.first == 0, std::string(r8.second + a.log()));
  CHECK(r8.second.find("OK: preparing 8 shards") != std::string::npos);
  CHECK(w.preparing());
  // g-fakecord runs sessions of both totals side by side, each routed by its own.
  REQUIRE_MESSAGE(w.wait_for([&] { return w.sessions_of_two_totals(4, 8); }, 30s), w.fc.stats());
  // A second request while one runs is refused.
  auto busy = w.reshard({"--config", cfg, "--shards", "6"}, "busy.log");
  CHECK(busy.first == 1);
  CHECK(busy.second.find("in progress") != std::string::npos);
  // Discord invalidates one new session during the preparation: it IDENTIFYs again (one more from the budget).
  REQUIRE_MESSAGE(w.wait_for([&] {
    int status = 0;
    return w.fc.post("/_fakecord/fault", R"({"shard":1,"shards":8,"kind":"invalidate"})", &status).find("\"applied\":1") !=
           std::string::npos;
  }, 30s), w.fc.stats());
  // A worker dies during the preparation: its shards of both sets resume elsewhere.
  b.kill();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.in_force() == 8 && w.only_sessions_of(8); }, 60s),
                  std::string(w.fc.stats() + a.log() + c.log()));
  CHECK(a.log().find("switched to 8 shards") != std::string::npos);

  // Through another node than the master (it passes the request on), by its cluster address.
  auto c_id = world::node_id(c);
  auto conn = w.redis_conn();
  auto entry = conn.command({"HGET", "g:g:nodes", c_id}).text;
  const std::string peer = "127.0.0.1:" + std::to_string(json_int(entry, "/port"));
  setenv("NODE_COOKIE", "0123456789abcdef-test", 1);
  auto r6 = w.reshard({"--peer", peer, "--shards", "6"}, "reshard6.log");
  REQUIRE_MESSAGE(r6.first == 0, std::string(r6.second + a.log() + c.log()));
  REQUIRE_MESSAGE(w.wait_for([&] { return w.in_force() == 6 && w.only_sessions_of(6); }, 60s),
                  std::string(w.fc.stats() + a.log() + c.log()));

  auto [stats, seen] = check_every_message_once(w, 6);
  CHECK(json_int(stats, "/generated/MESSAGE_CREATE") > 1000);
  CHECK(seen.markers.size() == 2);
  CHECK(json_int(seen.markers.at(0), "/from") == 4);
  CHECK(json_int(seen.markers.at(0), "/to") == 8);
  CHECK(json_int(seen.markers.at(1), "/to") == 6);
  // One IDENTIFY per shard of each set and one for the invalidated session (the killed node's shards resumed),
  // and nothing Discord would punish.
  CHECK(json_int(stats, "/identifies") == 4 + 8 + 1 + 6);
  CHECK_MESSAGE(stats.find(R"("violations":{})") != std::string::npos, stats);
  // What the switches took (the figures docs/resharding.md quotes), from the master's log.
  std::istringstream lines(a.log());
  for (std::string line; std::getline(lines, line);)
    if (line.find("reshard: switched") != std::string::npos) MESSAGE(line);
  // Workers' routing: shard_count moved with the marker.
  CHECK(w.in_force() == 6);
  world::stop_all({&a, &c});
}

TEST_CASE("reshard: refused for lack of session budget, a bad count, or nothing to change, and nothing changes") {
  // 20 session starts: 4 are spent at start, 16 left, 10 kept in reserve: 6 cannot cover 8 IDENTIFYs.
  reshard_world w(4, {"--rate", "100", "--session-limit", "20"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.only_sessions_of(4); }, 30s), std::string(a.log() + w.fc.stats()));
  const std::string cfg = (w.dir / "a.toml").string();
  REQUIRE(w.wait_for([&] { return w.in_force() == 4; }));
  auto r = w.reshard({"--config", cfg, "--shards", "8"}, "refused.log");
  CHECK(r.first == 1);
  CHECK_MESSAGE(r.second.find("session budget cannot cover 8") != std::string::npos, std::string(r.second + a.log() + w.fc.stats()));
  auto same = w.reshard({"--config", cfg, "--shards", "4"}, "same.log");
  CHECK(same.first == 1);
  CHECK(same.second.find("runs 4 shards already") != std::string::npos);
  auto bad = w.reshard({"--config", cfg, "--shards", "0"}, "bad.log");
  CHECK(bad.first == 2);
  CHECK(bad.second.find("--shards takes a number") != std::string::npos);
  auto none = w.reshard({"--config", cfg}, "none.log");
  CHECK(none.first == 2);
  CHECK_FALSE(w.preparing());
  CHECK(w.in_force() == 4);
  CHECK(w.only_sessions_of(4));
  CHECK(w.stat("/identifies") == 4);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.caught_up(4); }, 10s));
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(census(w).markers.empty());
  world::stop_all({&a});
}

TEST_CASE("reshard: --cancel gives a preparation up, the set in force stays, and a reshard after it switches as usual") {
  reshard_world w(2, {"--rate", "100"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.only_sessions_of(2); }, 30s), a.log());
  const std::string cfg = (w.dir / "a.toml").string();
  auto none = w.reshard({"--config", cfg, "--cancel"}, "cancel0.log");
  CHECK(none.first == 1);
  CHECK(none.second.find("no reshard is in progress") != std::string::npos);
  auto r4 = w.reshard({"--config", cfg, "--shards", "4"}, "r4.log");
  REQUIRE_MESSAGE(r4.first == 0, r4.second);
  REQUIRE(w.wait_for([&] { return w.sessions_of_two_totals(2, 4); }, 20s));
  auto cancel = w.reshard({"--config", cfg, "--cancel"}, "cancel.log");
  REQUIRE_MESSAGE(cancel.first == 0, std::string(cancel.second + a.log()));
  CHECK(cancel.second.find("given up; 2 stay in force") != std::string::npos);
  CHECK_FALSE(w.preparing());
  // The prepared sessions close with 1000 (g-fakecord forgets them); the two in force never stopped.
  REQUIRE_MESSAGE(w.wait_for([&] { return w.only_sessions_of(2); }, 20s), w.fc.stats());
  CHECK(w.in_force() == 2);
  CHECK(census(w).markers.empty());
  auto again = w.reshard({"--config", cfg, "--shards", "4"}, "again.log");
  REQUIRE_MESSAGE(again.first == 0, again.second);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.in_force() == 4 && w.only_sessions_of(4); }, 40s), a.log());
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.caught_up(4); }, 15s));
  CHECK(census(w).markers.size() == 1);
  auto stats = w.fc.stats();
  CHECK_MESSAGE(stats.find(R"("violations":{})") != std::string::npos, stats);
  world::stop_all({&a});
}

TEST_CASE("reshard: the master killed during the preparation, and its successor finishes it with every message once") {
  reshard_world w(4, {"--max-concurrency", "2", "--guilds", "60"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.only_sessions_of(4); }, 30s), a.log());
  auto b = w.extra_node("b");
  auto c = w.extra_node("c");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners().size() == 3; }, 30s), std::string(a.log() + b.log() + c.log()));
  w.load(300);
  auto r8 = w.reshard({"--config", (w.dir / "a.toml").string(), "--shards", "8"}, "reshard8.log");
  REQUIRE_MESSAGE(r8.first == 0, r8.second);
  // Killed between a new session's READY and its record in Redis, a node takes the session with it: its successor
  // rightly identifies anew. This test is about a preparation resumed, so the kill waits for the records.
  REQUIRE(w.wait_for([&] { return w.sessions_of_two_totals(4, 8) && w.sessions_recorded(8); }, 30s));
  a.kill();  // the master, and its shards of both sets
  REQUIRE_MESSAGE(w.wait_for([&] { return w.in_force() == 8 && w.only_sessions_of(8); }, 60s),
                  std::string(w.fc.stats() + b.log() + c.log()));
  const std::string logs = b.log() + c.log();
  CHECK(logs.find("going on with the preparation of 8 shards") != std::string::npos);
  CHECK(logs.find("switched to 8 shards") != std::string::npos);
  auto [stats, seen] = check_every_message_once(w, 8);
  CHECK(seen.markers.size() == 1);
  CHECK(json_int(stats, "/identifies") == 4 + 8);
  CHECK_MESSAGE(stats.find(R"("violations":{})") != std::string::npos, stats);
  world::stop_all({&b, &c});
}

TEST_CASE("reshard: [discord] reshard = auto grows to Discord's recommended count on its own") {
  // Discord recommends 4; the group was started with 2.
  reshard_world w(2, {"--shards", "4", "--max-concurrency", "2", "--rate", "100"});
  auto path = w.write_config("auto.toml", "test-token", w.redis.port());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  text.replace(text.find("[discord]\n"), 10, "[discord]\nshards = 2\nreshard = \"auto\"\nreshard_check_s = 10\n");
  std::ofstream(path) << text;
  auto a = w.node(path, "auto.log");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.in_force() == 4 && w.only_sessions_of(4); }, 40s),
                  std::string(a.log() + w.fc.stats()));
  CHECK(a.log().find("OK: preparing 4 shards beside the 2 in force") != std::string::npos);
  CHECK(census(w).markers.size() == 1);
  CHECK(w.stat("/identifies") == 2 + 4);
  // Backend commands go to the new set: shard 3 exists only there.
  auto c = w.redis_conn();
  c.command({"XADD", "g:g:commands:3", "*", "op", "3", "d", R"({"since":null,"activities":[],"status":"dnd","afk":false})"});
  REQUIRE_MESSAGE(w.wait_for([&] {
    auto got = w.fc.get("/_fakecord/received?op=3");
    return got.find("dnd") != std::string::npos && got.find(R"("shard":3,"shards":4)") != std::string::npos;
  }, 10s), std::string(a.log() + w.fc.get("/_fakecord/received?op=3")));
  world::stop_all({&a});
}
