// g-cache end to end: a two-node G cluster and two g-cache workers in front of g-fakecord, under load with
// changes to the world; g-cache and a node are killed and restarted; afterwards the cache equals g-fakecord's
// truth for every guild and every key of the standard, and cache:applied equals every shard's committed seq.
#include <simdjson.h>

#include "net/discord/snowflake.hpp"
#include "tests/node/node_world.hpp"

namespace {

namespace dom = simdjson::dom;
using g::test::world;

// Equal as JSON values (objects by key, whatever the order); `where` names the first difference.
bool same_json(dom::element a, dom::element b, std::string& where) {
  if (a.type() != b.type()) {
    where += " (type)";
    return false;
  }
  switch (a.type()) {
    case dom::element_type::OBJECT: {
      dom::object ao = a, bo = b;
      if (ao.size() != bo.size()) {
        where += " (key count " + std::to_string(ao.size()) + " vs " + std::to_string(bo.size()) + ")";
        return false;
      }
      for (auto f : ao) {
        dom::element other;
        std::string here = where + "/" + std::string(f.key);
        if (bo[f.key].get(other) != simdjson::SUCCESS) {
          where = here + " (missing)";
          return false;
        }
        if (!same_json(f.value, other, here)) {
          where = here;
          return false;
        }
      }
      return true;
    }
    case dom::element_type::ARRAY: {
      dom::array aa = a, ba = b;
      if (aa.size() != ba.size()) {
        where += " (length)";
        return false;
      }
      for (std::size_t i = 0; i < aa.size(); ++i) {
        std::string here = where + "/" + std::to_string(i);
        if (!same_json(aa.at(i).value_unsafe(), ba.at(i).value_unsafe(), here)) {
          where = here;
          return false;
        }
      }
      return true;
    }
    default:
      return simdjson::minify(a) == simdjson::minify(b);
  }
}

bool same_json(const std::string& a, const std::string& b, std::string& where) {
  static dom::parser pa, pb;
  dom::element ea, eb;
  if (pa.parse(a).get(ea) != simdjson::SUCCESS || pb.parse(b).get(eb) != simdjson::SUCCESS) {
    where += " (not JSON)";
    return false;
  }
  return same_json(ea, eb, where);
}

// An object written again without some keys and with guild_id added (when given).
std::string without(dom::object o, std::initializer_list<std::string_view> skip, const std::string& guild_id = {}) {
  std::string out = "{";
  bool first = true;
  for (auto f : o) {
    if (std::find(skip.begin(), skip.end(), f.key) != skip.end()) continue;
    out += (first ? "\"" : ",\"") + std::string(f.key) + "\":" + simdjson::minify(f.value);
    first = false;
  }
  if (!guild_id.empty()) out += std::string(first ? "" : ",") + "\"guild_id\":\"" + guild_id + "\"";
  return out + "}";
}

std::map<std::string, std::string> hash_of(redis_connection& c, const std::string& key) {
  std::map<std::string, std::string> out;
  auto r = c.command({"HGETALL", key});
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].text] = r.elements[i + 1].text;
  return out;
}

struct cache_check {
  int guilds = 0, absent = 0, objects = 0;
  std::vector<std::string> mismatches;
};

// Every guild of g-fakecord's world against the cache, key by key.
cache_check compare_cache(world& w, redis_connection& c, int guild_count) {
  cache_check out;
  dom::parser parser;
  const std::string p = "g:g:cache:";
  auto cached_guilds = hash_of(c, p + "guilds");
  // Every guild of the world, the ones the bot left included (the cache must not have those).
  std::set<std::string> ids;
  for (auto& [id, shard] : cached_guilds) ids.insert(id);
  dom::element listed;
  std::string listing = w.fc.get("/_fakecord/guilds");
  REQUIRE(parser.parse(listing).get(listed) == simdjson::SUCCESS);
  for (auto e : dom::array(listed["guilds"])) ids.insert(std::string(std::string_view(e["id"])));
  CHECK(static_cast<int>(ids.size()) == guild_count);
  for (const std::string& gid : ids) {
    int status = 0;
    std::string truth = w.fc.get("/_fakecord/guild/" + gid, &status);
    auto cached = c.command({"GET", p + "guild:" + gid});
    if (status == 404) {
      ++out.absent;
      if (cached.type == g::net::redis_reply::string || cached_guilds.count(gid))
        out.mismatches.push_back("guild " + gid + ": the bot left it, the cache still has it");
      continue;
    }
    ++out.guilds;
    dom::element t;
    REQUIRE(parser.parse(truth).get(t) == simdjson::SUCCESS);
    auto check = [&](const std::string& what, const std::string& expected, const std::string& actual) {
      ++out.objects;
      std::string where = what;
      if (!same_json(expected, actual, where)) out.mismatches.push_back(where + "\n  truth: " + expected + "\n  cache: " + actual);
    };
    // The guild object without its arrays.
    check("guild " + gid, without(dom::object(t), {"channels", "threads", "roles", "members", "emojis", "stickers", "voice_states",
                                                   "presences", "stage_instances", "guild_scheduled_events", "soundboard_sounds"}),
          cached.type == g::net::redis_reply::string ? cached.text : "null");
    if (cached_guilds[gid].empty()) out.mismatches.push_back("guild " + gid + ": not in cache:guilds");
    // Each hash: id → object, as the truth lists them (channels and threads with guild_id).
    auto compare_hash = [&](const char* array, const char* hash, const char* id_path, bool add_guild) {
      auto stored = hash_of(c, p + "guild:" + gid + ":" + hash);
      std::set<std::string> seen;
      for (auto item : dom::array(t[array])) {
        std::string id(std::string_view(item.at_pointer(id_path)));
        seen.insert(id);
        std::string expected = add_guild ? without(dom::object(item), {}, gid) : simdjson::minify(item);
        check(std::string(hash) + " " + gid + "/" + id, expected, stored.count(id) ? stored[id] : "null");
        if (std::string(hash) == "channels" || std::string(hash) == "threads") {
          auto pointer = c.command({"GET", p + "channel:" + id});
          if (pointer.text != gid) out.mismatches.push_back("cache:channel:" + id + " is '" + pointer.text + "', not " + gid);
        }
      }
      for (auto& [id, v] : stored)
        if (!seen.count(id)) out.mismatches.push_back(std::string(hash) + " " + gid + "/" + id + ": cached, not in the truth");
    };
    compare_hash("channels", "channels", "/id", true);
    compare_hash("threads", "threads", "/id", false);
    compare_hash("roles", "roles", "/id", false);
    compare_hash("members", "members", "/user/id", false);
    compare_hash("voice_states", "voice_states", "/user_id", true);
    compare_hash("emojis", "emojis", "/id", false);  // the simulator's guilds have none: nor may the cache
    compare_hash("stickers", "stickers", "/id", false);
  }
  return out;
}

}  // namespace

TEST_CASE("cache: under load with world changes and kills, the cache equals g-fakecord's truth and cache:applied the commits") {
  world w(4, {"--members", "6"});
  // GUILDS, GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_MESSAGES, MESSAGE_CONTENT; chunking fills the member lists.
  const std::uint64_t intents = 1 | 2 | 128 | 512 | 32768;
  const std::string extra = "[chunking]\nenabled = true\n[cache]\nclaim_idle_ms = 2000\n";
  auto cfg = [&](const std::string& name, const std::string& consumer) {
    return w.write_config(name + ".toml", "test-token", w.redis.port(),
                          extra + (consumer.empty() ? "" : "consumer = \"" + consumer + "\"\n"), intents,
                          g::harness::free_tcp_port(), "0123456789abcdef-test", name);
  };
  auto c1_cfg = cfg("c1", "c1"), c2_cfg = cfg("c2", "c2");
  auto cache_worker = [&](const std::string& config, const std::string& log) {
    return child_process({G_CACHE_PATH, "--config", config}, (w.dir / log).string());
  };
  child_process c1 = cache_worker(c1_cfg, "c1.log"), c2 = cache_worker(c2_cfg, "c2.log");
  child_process n1 = w.node(cfg("n1", ""), "n1.log");
  child_process n2 = w.node(cfg("n2", ""), "n2.log");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }, 30s), w.fc.stats());
  // Chunking asks one guild a second per shard: let the member lists arrive before anything is killed.
  std::this_thread::sleep_for(12s);

  // Chat with about a third of the events changing the world.
  const std::string mix = R"("MESSAGE_CREATE":20,"TYPING_START":5,"GUILD_MEMBER_ADD":2,
    "GUILD_MEMBER_REMOVE":2,"GUILD_MEMBER_UPDATE":3,"CHANNEL_CREATE":1,"CHANNEL_UPDATE":1,"CHANNEL_DELETE":1,
    "THREAD_CREATE":1,"THREAD_UPDATE":1,"THREAD_DELETE":0.5,"GUILD_ROLE_CREATE":1,"GUILD_ROLE_UPDATE":1,
    "GUILD_ROLE_DELETE":0.5,"GUILD_UPDATE":1,"VOICE_STATE_UPDATE":2)";
  w.fc.post("/_fakecord/load", R"({"rate":300,"mix":{)" + mix + "}}");
  std::this_thread::sleep_for(3s);
  c1.kill();  // kill -9 of a cache worker: its pending entries wait for it or for c2's claim
  std::this_thread::sleep_for(2s);
  n1.kill();  // kill -9 of a node: its shards resume on n2
  std::this_thread::sleep_for(2s);
  c1 = cache_worker(c1_cfg, "c1.log");  // back under the same name: takes its own pending entries first
  std::this_thread::sleep_for(2s);
  c2.kill();
  n1 = w.node(cfg("n1b", ""), "n1b.log");
  std::this_thread::sleep_for(3s);
  c2 = cache_worker(c2_cfg, "c2.log");
  std::this_thread::sleep_for(2s);
  // Then the bot leaves and joins guilds too (a rejoined guild's members come by chunks), and a cache worker
  // dies once more. (Not while a node dies: a node keeps its queue of member requests in memory.)
  REQUIRE(w.wait_for([&] { return w.all_connected(); }, 20s));
  w.fc.post("/_fakecord/load", R"({"rate":300,"mix":{)" + mix + R"(,"BOT_GUILD_JOIN":0.5,"BOT_GUILD_LEAVE":0.5}})");
  std::this_thread::sleep_for(2s);
  c1.kill();
  std::this_thread::sleep_for(2s);
  c1 = cache_worker(c1_cfg, "c1.log");
  std::this_thread::sleep_for(1s);
  w.load(0);

  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 5000});
  // Caught up: the stream holds everything sent, and every shard's marker equals its committed session and seq.
  auto applied_equals_commits = [&] {
    if (!w.stream_caught_up()) return false;
    auto total = c.command({"GET", "g:g:shard_count"}).text;
    for (int s = 0; s < w.shards; ++s) {
      auto sess = c.command({"HMGET", "g:g:session:" + total + ":" + std::to_string(s), "session_id", "seq"});
      auto marker = c.command({"HGET", "g:g:cache:applied", std::to_string(s)});
      if (sess.elements.size() != 2 || marker.text != sess.elements[0].text + ":" + sess.elements[1].text) return false;
    }
    return true;
  };
  CHECK_MESSAGE(w.wait_for(applied_equals_commits, 30s), c.command({"HGETALL", "g:g:cache:applied"}).elements.size());

  auto generated = w.fc.stats();
  INFO(generated.substr(0, 900));
  CHECK(json_int(generated, "/generated/GUILD_MEMBER_ADD") > 0);
  CHECK(json_int(generated, "/generated/CHANNEL_DELETE") > 0);
  CHECK(json_int(generated, "/generated/GUILD_ROLE_DELETE") > 0);

  // Member lists of guilds the bot rejoined arrive by chunks, which Discord allows once per guild per 30 s.
  cache_check result;
  w.wait_for([&] { return (result = compare_cache(w, c, w.shards * 10)).mismatches.empty(); }, 45s);
  INFO("guilds " << result.guilds << ", left " << result.absent << ", objects " << result.objects);
  for (std::size_t i = 0; i < std::min<std::size_t>(result.mismatches.size(), 10); ++i) MESSAGE(result.mismatches[i]);
  CHECK(result.mismatches.empty());
  CHECK(result.guilds > 20);
  CHECK(result.objects > 500);
  CHECK(c.command({"GET", "g:g:cache:version"}).text == "1");
  CHECK(c.command({"GET", "g:g:cache:me"}).text.find("\"bot\":true") != std::string::npos);
  // Nothing is left unacknowledged in the cache's group.
  auto pending = c.command({"XPENDING", "g:g:events", "cache"});
  CHECK(pending.elements.size() > 0);
  CHECK(pending.elements[0].number == 0);

  // The cache-reading examples agree with the truth too (a member's roles, a channel's permissions).
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"node", std::string(G_SOURCE_DIR) + "/examples/node/cache.mjs"},
        std::vector<std::string>{"/usr/bin/python3", std::string(G_SOURCE_DIR) + "/examples/python/cache.py"}}) {
    std::vector<std::string> argv = cmd;
    argv.insert(argv.end(), {"--redis-port", std::to_string(w.redis.port()), "--fakecord-port",
                             std::to_string(w.fc.port()), "--guilds", "0"});
    child_process reader(argv, (w.dir / "reader.log").string());
    int code = reader.wait(60s);
    CHECK_MESSAGE(code == 0, cmd[0] << ": " << reader.log());
  }
  c1.signal(SIGTERM);
  c2.signal(SIGTERM);
  CHECK(c1.wait(10s) == 0);
  CHECK(c2.wait(10s) == 0);
  world::stop_all({&n1, &n2});
}

TEST_CASE("cache: through a reshard (4 → 8) under load with world changes, g-cache follows the marker and equals the truth") {
  world w(4, {"--members", "6"});
  const std::uint64_t intents = 1 | 2 | 128 | 512 | 32768;
  const std::string extra = "[chunking]\nenabled = true\n";
  auto cfg = [&](const std::string& name) {
    return w.write_config(name + ".toml", "test-token", w.redis.port(), extra, intents, g::harness::free_tcp_port(),
                          "0123456789abcdef-test", name);
  };
  const std::string n1_cfg = cfg("n1");
  child_process c1({G_CACHE_PATH, "--config", cfg("c1")}, (w.dir / "c1.log").string());
  child_process n1 = w.node(n1_cfg, "n1.log");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }, 30s), w.fc.stats());
  std::this_thread::sleep_for(12s);  // the member lists arrive by chunks, one guild a second per shard
  const std::string mix = R"("MESSAGE_CREATE":20,"GUILD_MEMBER_ADD":2,"GUILD_MEMBER_REMOVE":2,"GUILD_MEMBER_UPDATE":3,
    "CHANNEL_CREATE":1,"CHANNEL_UPDATE":1,"CHANNEL_DELETE":1,"THREAD_CREATE":1,"GUILD_ROLE_CREATE":1,"GUILD_ROLE_UPDATE":1,
    "GUILD_UPDATE":1,"VOICE_STATE_UPDATE":2)";
  w.fc.post("/_fakecord/load", R"({"rate":200,"mix":{)" + mix + "}}");
  child_process r({G_ACTOR_PATH, "reshard", "--config", n1_cfg, "--shards", "8"}, (w.dir / "reshard.log").string());
  REQUIRE_MESSAGE(r.wait(60s) == 0, r.log());
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 5000});
  REQUIRE_MESSAGE(w.wait_for([&] { return c.command({"GET", "g:g:shard_count"}).text == "8"; }, 60s), n1.log());
  std::this_thread::sleep_for(2s);  // changes after the switch too
  w.load(0);
  // Caught up: each new shard's last entry (its session's last_id) is the one g-cache applied last.
  auto applied_everything = [&] {
    for (int s = 0; s < 8; ++s) {
      auto last = c.command({"HGET", "g:g:session:8:" + std::to_string(s), "last_id"});
      auto applied = c.command({"HGET", "g:g:cache:applied_id", std::to_string(s)});
      if (last.type != g::net::redis_reply::string || applied.text != last.text) return false;
    }
    return w.fc.stats().find("\"shards\":4,") == std::string::npos;
  };
  REQUIRE_MESSAGE(w.wait_for(applied_everything, 30s), c1.log());
  // The cache is filed by the new total: each guild under its shard of 8, each shard's set holding its guilds.
  auto guilds = hash_of(c, "g:g:cache:guilds");
  REQUIRE(!guilds.empty());
  for (auto& [gid, shard] : guilds) {
    CHECK(shard == std::to_string(g::discord::shard_for_guild(std::stoull(gid), 8)));
    CHECK(c.command({"SISMEMBER", "g:g:cache:shard:" + shard + ":guilds", gid}).number == 1);
  }
  for (int s = 0; s < 8; ++s) {
    auto session = c.command({"HGET", "g:g:session:8:" + std::to_string(s), "session_id"}).text;
    CHECK(c.command({"HGET", "g:g:cache:applied", std::to_string(s)}).text.rfind(session + ":", 0) == 0);
  }
  cache_check result;
  w.wait_for([&] { return (result = compare_cache(w, c, w.shards * 10)).mismatches.empty(); }, 30s);
  for (std::size_t i = 0; i < std::min<std::size_t>(result.mismatches.size(), 10); ++i) MESSAGE(result.mismatches[i]);
  if (!result.mismatches.empty()) {  // DEBUG
    auto r = c.command({"XRANGE", "g:g:events", "-", "+"});
    std::string dump;
    for (auto& e : r.elements) {
      std::map<std::string, std::string> f;
      auto& kv = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) f[kv[i].text] = kv[i + 1].text;
      if (f["d"].find("72839961038815233") == std::string::npos && f["t"] != "G_RESHARD") continue;
      dump += e.elements[0].text + " " + f["shard"] + " " + f["seq"] + " " + f["t"] + " " + f["ts"] + " " + f["d"].substr(0, 200) + "\n";
    }
    MESSAGE(dump);
  }
  CHECK(result.mismatches.empty());
  CHECK(result.objects > 300);
  n1.signal(SIGTERM);
  CHECK(n1.wait(20s) == 0);
  c1.signal(SIGTERM);
  c1.wait(10s);
}
