// g-fakecord's REST for messages, channels and guilds: Discord's shapes, status codes and JSON error codes, the
// world reacting (the bot's messages come back as MESSAGE_CREATE/UPDATE/DELETE), rate limits with their headers,
// and the record of every call for assertions.
#include <doctest/doctest.h>

#include <map>
#include <thread>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

TEST_CASE("REST: messages are created, read, edited and deleted as on Discord, and the gateway sees each change") {
  fakecord_process fc({"--guilds", "2", "--shards", "1", "--token", "test-token"});
  gateway_test_client bot(fc.port());
  REQUIRE_FALSE(bot.identify(0, 1, 1 | 512 | 2048 | 32768).empty());  // GUILDS, GUILD_MESSAGES, typing, content
  auto gc = bot.next_dispatch("GUILD_CREATE");
  REQUIRE(gc);
  const std::string guild = json_str(*gc, "/d/id"), channel = json_str(*gc, "/d/channels/0/id");
  rest_client r(fc.port());

  std::string created = r.call("POST", "/channels/" + channel + "/messages", R"({"content":"pong","nonce":"n-1"})");
  REQUIRE(r.status == 200);
  const std::string id = json_str(created, "/id");
  CHECK(json_str(created, "/content") == "pong");
  CHECK(json_str(created, "/channel_id") == channel);
  CHECK(json_str(created, "/author/id") == json_str(fc.get("/api/v10/users/@me", nullptr, "Bot test-token"), "/id"));
  CHECK(json_str(created, "/nonce") == "n-1");
  CHECK(json_int(created, "/type") == 0);
  for (auto key : {"/timestamp", "/edited_timestamp", "/tts", "/mentions", "/embeds", "/attachments", "/pinned"})
    CHECK_MESSAGE(json_has(created, key), key);
  // The bot's own message comes back on the gateway, with guild_id and member, content included.
  auto mc = bot.next_dispatch("MESSAGE_CREATE");
  REQUIRE(mc);
  CHECK(json_str(*mc, "/d/id") == id);
  CHECK(json_str(*mc, "/d/guild_id") == guild);
  CHECK(json_has(*mc, "/d/member/roles"));
  CHECK(json_str(*mc, "/d/content") == "pong");

  CHECK(json_str(r.call("GET", "/channels/" + channel + "/messages/" + id), "/content") == "pong");
  CHECK(r.status == 200);
  std::string edited = r.call("PATCH", "/channels/" + channel + "/messages/" + id, R"({"content":"pong!"})");
  CHECK(r.status == 200);
  CHECK(json_str(edited, "/content") == "pong!");
  CHECK(json_has(edited, "/edited_timestamp"));
  auto mu = bot.next_dispatch("MESSAGE_UPDATE");
  REQUIRE(mu);
  CHECK(json_str(*mu, "/d/content") == "pong!");
  // A reply to it, then the list, newest first.
  r.call("POST", "/channels/" + channel + "/messages", R"({"content":"reply","message_reference":{"message_id":")" + id + "\"}}");
  CHECK(r.status == 200);
  std::string list = r.call("GET", "/channels/" + channel + "/messages?limit=10");
  CHECK(r.status == 200);
  CHECK(json_array_size(list, "") == 2);
  CHECK(json_str(list, "/0/content") == "reply");
  CHECK(json_int(list, "/0/type") == 19);
  r.call("DELETE", "/channels/" + channel + "/messages/" + id);
  CHECK(r.status == 204);
  auto md = bot.next_dispatch("MESSAGE_DELETE");
  REQUIRE(md);
  CHECK(json_str(*md, "/d/id") == id);
  r.call("POST", "/channels/" + channel + "/typing");
  CHECK(r.status == 204);
  CHECK(bot.next_dispatch("TYPING_START"));

  // Discord's errors.
  std::string e = r.call("GET", "/channels/" + channel + "/messages/" + id);
  CHECK(r.status == 404);
  CHECK(json_int(e, "/code") == 10008);
  e = r.call("POST", "/channels/123/messages", R"({"content":"x"})");
  CHECK(r.status == 404);
  CHECK(json_int(e, "/code") == 10003);
  e = r.call("POST", "/channels/" + channel + "/messages", R"({"content":""})");
  CHECK(r.status == 400);
  CHECK(json_int(e, "/code") == 50006);
  e = r.call("POST", "/channels/" + channel + "/messages", R"({"content":")" + std::string(2001, 'a') + "\"}");
  CHECK(r.status == 400);
  CHECK(json_int(e, "/code") == 50035);
  CHECK(json_str(e, "/errors/content/_errors/0/code") == "BASE_TYPE_MAX_LENGTH");
  e = r.call("POST", "/channels/" + channel + "/messages", R"({"content":"x","message_reference":{"message_id":"1"}})");
  CHECK(r.status == 400);
  CHECK(json_int(e, "/code") == 50035);
  e = r.call("GET", "/guilds/1");
  CHECK(r.status == 404);
  CHECK(json_int(e, "/code") == 10004);
  e = r.call("GET", "/guilds/" + guild + "/members/1");
  CHECK(json_int(e, "/code") == 10007);
  e = r.call("GET", "/nowhere");
  CHECK(r.status == 404);
  CHECK(json_int(e, "/code") == 0);

  // Channels and guilds, as the gateway showed them.
  CHECK(json_str(r.call("GET", "/channels/" + channel), "/guild_id") == guild);
  CHECK(json_str(r.call("GET", "/guilds/" + guild + "?with_counts=true"), "/id") == guild);
  CHECK(json_has(r.call("GET", "/guilds/" + guild + "?with_counts=true"), "/approximate_member_count"));
  CHECK(json_array_size(r.call("GET", "/guilds/" + guild + "/channels"), "") == json_array_size(*gc, "/d/channels"));
  CHECK(json_array_size(r.call("GET", "/guilds/" + guild + "/roles"), "") == json_array_size(*gc, "/d/roles"));
  CHECK(r.status == 200);

  // Every call is recorded, filterable.
  std::string log = fc.get("/_fakecord/rest?method=POST&route=%2Fchannels%2F%7Bchannel.id%7D%2Fmessages");
  CHECK(json_array_size(log, "/calls") == 6);
  CHECK(json_str(log, "/calls/0/body") == R"({"content":"pong","nonce":"n-1"})");
  CHECK(json_int(log, "/calls/0/status") == 200);
  CHECK(json_int(fc.stats(), "/rest_calls") > 20);
}

TEST_CASE("REST: rate limits as Discord sends them: per-route buckets per channel, headers, 429 with retry_after") {
  fakecord_process fc({"--guilds", "2", "--shards", "1", "--token", "test-token"});
  std::string ready_guilds = fc.get("/_fakecord/guilds");
  const std::string guild = json_str(ready_guilds, "/guilds/0/id");
  const std::string channel = json_str(fc.get("/_fakecord/guild/" + guild), "/channels/0/id");
  const std::string other = json_str(fc.get("/_fakecord/guild/" + json_str(ready_guilds, "/guilds/1/id")), "/channels/0/id");
  rest_client r(fc.port());
  int created = 0;
  std::string last;
  for (int i = 0; i < 7; ++i) {
    last = r.call("POST", "/channels/" + channel + "/messages", R"({"content":"m"})");
    if (r.status == 200) {
      ++created;
      CHECK(r.headers["x-ratelimit-limit"] == "5");
      CHECK(r.headers["x-ratelimit-remaining"] == std::to_string(5 - created));
      CHECK_FALSE(r.headers["x-ratelimit-bucket"].empty());
      CHECK(std::stod(r.headers["x-ratelimit-reset-after"]) > 0);
      CHECK(std::stod(r.headers["x-ratelimit-reset"]) > 1.7e9);
    }
  }
  CHECK(created == 5);
  CHECK(r.status == 429);
  CHECK(json_has(last, "/retry_after"));
  CHECK(last.find("\"global\":false") != std::string::npos);
  CHECK(r.headers["x-ratelimit-scope"] == "user");
  CHECK(std::stoi(r.headers["retry-after"]) >= 1);
  // Another channel is another bucket instance: not limited, same bucket id.
  std::string bucket = r.headers["x-ratelimit-bucket"];
  r.call("POST", "/channels/" + other + "/messages", R"({"content":"m"})");
  CHECK(r.status == 200);
  CHECK(r.headers["x-ratelimit-bucket"] == bucket);
  CHECK(json_int(fc.stats(), "/rest_429s") == 2);  // the two over the channel's bucket
  // The bot's global limit: 50 requests a second, whatever the route and resource.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  int global_429 = 0;
  std::string global_body;
  for (int i = 0; i < 60; ++i) {
    std::string b = r.call("GET", "/channels/" + (i % 2 ? channel : other));
    if (r.status == 429 && r.headers["x-ratelimit-global"] == "true") {
      ++global_429;
      global_body = b;
      CHECK(r.headers["x-ratelimit-scope"] == "global");
    }
  }
  CHECK(global_429 >= 5);
  CHECK(global_body.find("\"global\":true") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // rest_fault still applies to any route.
  fc.post("/_fakecord/rest_fault", R"({"status":503,"count":1})");
  r.call("GET", "/channels/" + channel);
  CHECK(r.status == 503);
  r.call("GET", "/channels/" + channel);
  CHECK(r.status == 200);
}

TEST_CASE("REST: reactions, bulk delete and DMs, a DM reaches shard 0 with DIRECT_MESSAGES, dispatch says why not") {
  fakecord_process fc({"--guilds", "4", "--shards", "2", "--max-concurrency", "2", "--token", "test-token", "--members", "3"});
  // Shard 0 with DIRECT_MESSAGES and reactions, shard 1 without.
  gateway_test_client s0(fc.port()), s1(fc.port());
  REQUIRE_FALSE(s0.identify(0, 2, 1 | 512 | 1024 | 4096 | 32768).empty());
  REQUIRE_FALSE(s1.identify(1, 2, 1 | 512 | 32768).empty());
  auto gc = s0.next_dispatch("GUILD_CREATE");
  REQUIRE(gc);
  const std::string channel = json_str(*gc, "/d/channels/0/id");
  const std::string member = json_str(fc.get("/_fakecord/guild/" + json_str(*gc, "/d/id")), "/members/1/user/id");
  rest_client r(fc.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(json_str(r.call("POST", "/channels/" + channel + "/messages", R"({"content":"m"})"), "/id"));
  // A reaction of the bot's, added and removed.
  r.call("PUT", "/channels/" + channel + "/messages/" + ids[0] + "/reactions/%F0%9F%91%8D/@me");
  CHECK(r.status == 204);
  auto ra = s0.next_dispatch("MESSAGE_REACTION_ADD");
  REQUIRE(ra);
  CHECK(json_str(*ra, "/d/emoji/name") == "\xF0\x9F\x91\x8D");
  CHECK(json_str(*ra, "/d/message_id") == ids[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // reactions: 1 per 250 ms, as on Discord
  r.call("DELETE", "/channels/" + channel + "/messages/" + ids[0] + "/reactions/%F0%9F%91%8D/@me");
  CHECK(r.status == 204);
  CHECK(s0.next_dispatch("MESSAGE_REACTION_REMOVE"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string e = r.call("PUT", "/channels/" + channel + "/messages/1/reactions/x/@me");
  CHECK(json_int(e, "/code") == 10008);
  // Bulk delete: 2 to 100 ids, not older than two weeks.
  e = r.call("POST", "/channels/" + channel + "/messages/bulk-delete", R"({"messages":[")" + ids[0] + "\"]}");
  CHECK(r.status == 400);
  CHECK(json_int(e, "/code") == 50016);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // bulk delete: 1 a second here
  e = r.call("POST", "/channels/" + channel + "/messages/bulk-delete", R"({"messages":[")" + ids[0] + R"(","4194304"]})");
  CHECK(json_int(e, "/code") == 50034);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r.call("POST", "/channels/" + channel + "/messages/bulk-delete", R"({"messages":[")" + ids[0] + R"(",")" + ids[1] + "\"]}");
  CHECK(r.status == 204);
  auto bulk = s0.next_dispatch("MESSAGE_DELETE_BULK");
  REQUIRE(bulk);
  CHECK(json_array_size(*bulk, "/d/ids") == 2);
  r.call("GET", "/channels/" + channel + "/messages/" + ids[1]);
  CHECK(r.status == 404);
  // A DM: the same channel each time; its message goes to shard 0 only, without guild_id.
  std::string dm = r.call("POST", "/users/@me/channels", R"({"recipient_id":")" + member + "\"}");
  CHECK(r.status == 200);
  CHECK(json_int(dm, "/type") == 1);
  CHECK(json_str(dm, "/recipients/0/id") == member);
  CHECK(json_str(r.call("POST", "/users/@me/channels", R"({"recipient_id":")" + member + "\"}"), "/id") == json_str(dm, "/id"));
  r.call("POST", "/channels/" + json_str(dm, "/id") + "/messages", R"({"content":"hi in private"})");
  CHECK(r.status == 200);
  auto dmc = s0.next_where([](const std::string& m) { return json_str(m, "/t") == "MESSAGE_CREATE" && json_str(m, "/d/content") == "hi in private"; });
  REQUIRE(dmc);
  CHECK_FALSE(json_has(*dmc, "/d/guild_id"));
  CHECK_FALSE(s1.next_where([](const std::string& m) { return json_str(m, "/d/content") == "hi in private"; },
                            std::chrono::milliseconds(300)));
  e = r.call("POST", "/users/@me/channels", R"({"recipient_id":"1"})");
  CHECK(json_int(e, "/code") == 10013);
  // An admin dispatch nobody receives says why.
  std::string none = fc.post("/_fakecord/dispatch", R"({"t":"TYPING_START","d":{"channel_id":"1","user_id":"2"}})");
  CHECK(json_int(none, "/delivered") == 0);
  CHECK(json_str(none, "/reason").find("lack the intent") != std::string::npos);
}
