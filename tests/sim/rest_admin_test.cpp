#include <doctest/doctest.h>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

TEST_CASE("REST: /gateway/bot needs the bot token and reports the gateway, shards and session_start_limit") {
  fakecord_process fc({"--guilds", "2500", "--max-concurrency", "16", "--token", "sekrit"});
  int status = 0;
  std::string ctype;
  std::string body = http_request(fc.port(), "GET", "/api/v10/gateway/bot", "", "Bot sekrit", status, &ctype);
  CHECK(status == 200);
  CHECK(ctype == "application/json");
  CHECK(json_str(body, "/url") == "ws://127.0.0.1:" + std::to_string(fc.port()) + "/");
  CHECK(json_int(body, "/shards") == 3);
  CHECK(json_int(body, "/session_start_limit/total") == 1000);
  CHECK(json_int(body, "/session_start_limit/max_concurrency") == 16);
  CHECK(json_int(body, "/session_start_limit/reset_after") > 0);
  http_request(fc.port(), "GET", "/api/v10/gateway/bot", "", "Bot wrong", status);
  CHECK(status == 401);
  http_request(fc.port(), "GET", "/api/v10/gateway/bot", "", "", status);
  CHECK(status == 401);
  body = http_request(fc.port(), "GET", "/api/v10/gateway", "", "", status);
  CHECK(status == 200);
  CHECK(json_has(body, "/url"));
}

TEST_CASE("REST: /users/@me and /oauth2/applications/@me carry what discord.py reads") {
  fakecord_process fc;
  int status = 0;
  std::string me = http_request(fc.port(), "GET", "/api/v10/users/@me", "", "Bot t", status);
  CHECK(status == 200);
  for (auto key : {"/id", "/username", "/discriminator", "/avatar"}) CHECK(json_has(me, key));
  std::string app = http_request(fc.port(), "GET", "/api/v10/oauth2/applications/@me", "", "Bot t", status);
  CHECK(status == 200);
  for (auto key : {"/id", "/name", "/description", "/icon", "/bot_public", "/bot_require_code_grant", "/owner/id",
                   "/verify_key"})
    CHECK(json_has(app, key));
  http_request(fc.port(), "GET", "/api/v10/channels/1", "", "Bot t", status);
  CHECK(status == 404);
  http_request(fc.port(), "POST", "/api/v10/gateway/bot", "{}", "Bot t", status);
  CHECK(status == 405);
}

TEST_CASE("admin: stats lists sessions, dispatch validates its input, load takes a mix") {
  fakecord_process fc({"--guilds", "3", "--max-concurrency", "2"});
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  REQUIRE_FALSE(c.identify(1, 2).empty());
  std::string stats = fc.stats();
  CHECK(json_int(stats, "/connections") == 1);
  CHECK(json_int(stats, "/identifies") == 1);
  CHECK(json_int(stats, "/sessions/0/shard") == 1);
  CHECK(json_int(stats, "/sessions/0/shards") == 2);
  CHECK(json_str(stats, "/sessions/0/connected") == "true");
  CHECK(json_int(stats, "/sessions/0/seq") >= 1);
  int status = 0;
  fc.post("/_fakecord/dispatch", R"({"t":"MESSAGE_CREATE"})", &status);
  CHECK(status == 400);
  fc.post("/_fakecord/dispatch", R"({"guild_id":"1","t":"MESSAGE_CREATE","d":{}})", &status);
  CHECK(status == 404);
  fc.post("/_fakecord/dispatch", "not json", &status);
  CHECK(status == 400);
  fc.post("/_fakecord/load", R"({"rate":-1})", &status);
  CHECK(status == 400);
  fc.post("/_fakecord/load", R"({"mix":{"NOT_AN_EVENT":1}})", &status);
  CHECK(status == 400);
  CHECK(fc.post("/_fakecord/load", R"({"rate":0,"mix":{"TYPING_START":5}})") == R"({"rate":0})");
  fc.get("/_fakecord/nothing", &status);
  CHECK(status == 404);
}

TEST_CASE("admin: a DM (no guild_id) goes to shard 0 only") {
  fakecord_process fc({"--guilds", "2", "--max-concurrency", "2"});
  gateway_test_client s0(fc.port()), s1(fc.port());
  REQUIRE(s0.next_op(10));
  REQUIRE(s1.next_op(10));
  REQUIRE_FALSE(s0.identify(0, 2, 4096 | 1).empty());
  REQUIRE_FALSE(s1.identify(1, 2, 4096 | 1).empty());
  CHECK(fc.post("/_fakecord/dispatch", R"({"t":"MESSAGE_CREATE","d":{"id":"5","channel_id":"6","content":"dm"}})") ==
        R"({"delivered":1})");
  CHECK(s0.next_dispatch("MESSAGE_CREATE"));
  CHECK_FALSE(s1.next_dispatch("MESSAGE_CREATE", std::chrono::milliseconds(300)));
}
