// g-fakecord's world under change: each change is one generated event however many sessions receive it, and a
// later IDENTIFY's GUILD_CREATEs show the world as GET /_fakecord/guild/<id> (the truth) does.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <map>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

namespace {

// Every dispatch that arrives within `quiet` of the previous one, counted by event name.
std::map<std::string, int> drain(gateway_test_client& c, std::chrono::milliseconds quiet = 500ms) {
  std::map<std::string, int> seen;
  while (auto m = c.next(quiet))
    if (json_int(*m, "/op") == 0) ++seen[json_str(*m, "/t")];
  return seen;
}

std::string part(simdjson::dom::parser& p, const std::string& json, const char* key) {
  simdjson::dom::element doc;
  if (p.parse(json).get(doc) != simdjson::SUCCESS) return "not JSON";
  simdjson::dom::element e;
  if (doc.at_pointer(key).get(e) != simdjson::SUCCESS) return "missing";
  return simdjson::minify(e);
}

}  // namespace

TEST_CASE("world: a change counts once in stats.generated, and a later GUILD_CREATE shows it as the truth does") {
  // Three sessions in three identify buckets: a sees every guild, b half of them, c a quarter.
  fakecord_process fc({"--guilds", "8", "--shards", "1", "--members", "5", "--max-concurrency", "4"});
  const std::uint64_t intents = 1 | 2 | 128 | 256;  // GUILDS, GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_PRESENCES
  gateway_test_client a(fc.port()), b(fc.port());
  REQUIRE_FALSE(a.identify(0, 1, intents).empty());
  REQUIRE_FALSE(b.identify(1, 2, intents).empty());
  drain(a, 300ms);
  drain(b, 300ms);

  // Only changes: no chat.
  fc.post("/_fakecord/load", R"({"rate":300,"mix":{"MESSAGE_CREATE":0,"MESSAGE_UPDATE":0,"TYPING_START":0,
    "MESSAGE_REACTION_ADD":0,"PRESENCE_UPDATE":0,"GUILD_ROLE_CREATE":3,"GUILD_ROLE_DELETE":1,"CHANNEL_CREATE":2,
    "CHANNEL_DELETE":1,"THREAD_CREATE":2,"GUILD_MEMBER_ADD":2,"GUILD_MEMBER_REMOVE":1,"VOICE_STATE_UPDATE":2}})");
  std::this_thread::sleep_for(1s);
  fc.post("/_fakecord/load", R"({"rate":0})");
  auto seen_a = drain(a), seen_b = drain(b);
  std::string stats = fc.stats();
  CHECK(seen_a["GUILD_ROLE_CREATE"] > 0);
  CHECK(seen_b["GUILD_ROLE_CREATE"] > 0);
  for (auto t : {"GUILD_ROLE_CREATE", "CHANNEL_CREATE", "THREAD_CREATE", "GUILD_MEMBER_ADD", "VOICE_STATE_UPDATE"}) {
    INFO(t << " in " << stats.substr(0, 600));
    CHECK(seen_b[t] <= seen_a[t]);
    CHECK(json_int(stats, std::string("/generated/") + t) == seen_a[t]);  // delivered to a and b, counted once
  }
  CHECK(json_has(stats, "/generated_total"));

  // A new session's GUILD_CREATEs carry the changed world, field for field as the truth.
  gateway_test_client c(fc.port());
  std::string ready = c.identify(2, 4, intents);
  REQUIRE_FALSE(ready.empty());
  const std::size_t guilds = json_array_size(ready, "/d/guilds");
  REQUIRE(guilds > 0);
  simdjson::dom::parser p1, p2;
  std::size_t compared = 0;
  for (std::size_t i = 0; i < guilds; ++i) {
    auto gc = c.next_dispatch("GUILD_CREATE");
    REQUIRE(gc);
    std::string id = json_str(*gc, "/d/id");
    int status = 0;
    std::string truth = fc.get("/_fakecord/guild/" + id, &status);
    REQUIRE(status == 200);
    for (auto key : {"name", "member_count", "roles", "channels", "threads", "members", "voice_states"}) {
      INFO("guild " << id << " " << key);
      CHECK(part(p1, *gc, (std::string("/d/") + key).c_str()) == part(p2, truth, (std::string("/") + key).c_str()));
      ++compared;
    }
  }
  CHECK(compared == 7 * guilds);
  int status = 0;
  fc.get("/_fakecord/guild/123", &status);
  CHECK(status == 404);
  fc.get("/_fakecord/guild/abc", &status);
  CHECK(status == 400);
}
