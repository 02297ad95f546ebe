#include <doctest/doctest.h>
#include <simdjson.h>

#include <set>

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/world.hpp"

using g::sim::world;
using g::sim::world_shape;

TEST_CASE("the routing formula matches Discord's worked example") {
  CHECK(g::discord::shard_for_guild(81384788765712384ULL, 3) == 1);
  CHECK(g::discord::shard_for_guild(81384788765712384ULL, 16) == 2);
  CHECK(g::discord::snowflake_time_ms(175928847299117063ULL) == 1462015105796ULL);
}

TEST_CASE("world is deterministic per seed and spreads guilds evenly over shards") {
  world a(world_shape{7, 1000, 5}), b(world_shape{7, 1000, 5}), c(world_shape{8, 1000, 5});
  CHECK(a.guild_id(3) == b.guild_id(3));
  CHECK(a.username(2, 4) == b.username(2, 4));
  CHECK(a.guild_id(3) != c.guild_id(3));
  for (int shards : {1, 3, 16}) {
    std::size_t total = 0;
    for (int s = 0; s < shards; ++s) {
      auto gs = a.guilds_of_shard(s, shards);
      CHECK(gs.size() >= static_cast<std::size_t>(1000 / shards));
      CHECK(gs.size() <= static_cast<std::size_t>(1000 / shards + 1));
      for (int g : gs) CHECK(g::discord::shard_for_guild(a.guild_id(g), shards) == s);
      total += gs.size();
    }
    CHECK(total == 1000);
  }
}

TEST_CASE("world ids map back to their guilds and members, and are unique") {
  world w(world_shape{1, 50, 20});
  std::set<std::uint64_t> ids;
  for (int g = 0; g < 50; ++g) {
    REQUIRE(w.guild_index(w.guild_id(g)) == g);
    ids.insert(w.guild_id(g));
    for (int k = 0; k < world::text_channels; ++k) ids.insert(w.text_channel_id(g, k));
    for (int m = 0; m < 20; ++m) {
      REQUIRE(w.member_index(g, w.member_user_id(g, m)) == m);
      ids.insert(w.member_user_id(g, m));
    }
    CHECK_FALSE(w.member_index(g, w.member_user_id((g + 1) % 50, 0)).has_value());
  }
  CHECK(ids.size() == 50 * (1 + world::text_channels + 20));
  CHECK_FALSE(w.guild_index(w.guild_id(0) + 1).has_value());
  CHECK_FALSE(w.guild_index(w.guild_id(49) + (1ULL << 22)).has_value());
}

TEST_CASE("GUILD_CREATE holds what clients need and trims members as Discord does") {
  world w(world_shape{1, 4, 300});
  simdjson::dom::parser p;
  auto render = [&](std::uint64_t intents, int large_threshold) {
    std::string out;
    g::json::writer j(out);
    w.write_guild_create(j, 1, intents, large_threshold);
    return out;
  };
  std::string plain = render(g::discord::intent::guilds, 250);
  simdjson::dom::element doc;
  REQUIRE(p.parse(plain).get(doc) == simdjson::SUCCESS);
  std::string_view id;
  REQUIRE(doc["id"].get_string().get(id) == simdjson::SUCCESS);
  CHECK(id == std::to_string(w.guild_id(1)));
  CHECK(doc["large"].get_bool().value() == true);  // 301 members > 250
  CHECK(doc["channels"].get_array().size() == 4);
  CHECK(doc["roles"].get_array().size() == 3);
  CHECK(doc["members"].get_array().size() == 1);  // without GUILD_PRESENCES: only the bot
  bool everyone = false;
  for (auto role : doc["roles"].get_array()) everyone |= role["id"].get_string().value() == id;
  CHECK(everyone);

  std::string with_presences = render(g::discord::intent::guilds | g::discord::intent::guild_presences, 250);
  REQUIRE(p.parse(with_presences).get(doc) == simdjson::SUCCESS);
  auto members = doc["members"].get_array().size();
  CHECK(members > 1);
  CHECK(members < 301);  // large: only online members or members with a role
  CHECK(doc["presences"].get_array().size() > 0);
}
