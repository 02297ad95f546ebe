// g-fakecord's application commands and interactions: commands registered as Discord stores them, a complete
// INTERACTION_CREATE on the gateway, one callback within 3 s (10062 after, 40060 twice), the original response and
// follow-ups, each response coming back as MESSAGE_CREATE.
#include <doctest/doctest.h>

#include <thread>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

TEST_CASE("application commands: create (201, then 200 for the same name), list, bulk overwrite, get, delete") {
  fakecord_process fc({"--guilds", "2", "--token", "test-token"});
  rest_client r(fc.port());
  const std::string app = json_str(fc.get("/api/v10/oauth2/applications/@me", nullptr, "Bot test-token"), "/id");
  std::string ping = r.call("POST", "/applications/" + app + "/commands", R"({"name":"ping","description":"Pong!"})");
  CHECK(r.status == 201);
  const std::string id = json_str(ping, "/id");
  CHECK(json_str(ping, "/application_id") == app);
  CHECK(json_int(ping, "/type") == 1);
  CHECK(json_has(ping, "/version"));
  std::string again = r.call("POST", "/applications/" + app + "/commands", R"({"name":"ping","description":"Pong again"})");
  CHECK(r.status == 200);
  CHECK(json_str(again, "/id") == id);
  CHECK(json_str(again, "/description") == "Pong again");
  CHECK(json_array_size(r.call("GET", "/applications/" + app + "/commands"), "") == 1);
  std::string all = r.call("PUT", "/applications/" + app + "/commands",
                           R"([{"name":"ping","description":"p"},{"name":"echo","description":"e","options":[{"type":3,"name":"text","description":"t","required":true}]}])");
  CHECK(r.status == 200);
  CHECK(json_array_size(all, "") == 2);
  CHECK(json_str(all, "/0/id") == id);  // kept its id
  CHECK(json_str(r.call("GET", "/applications/" + app + "/commands/" + id), "/name") == "ping");
  r.call("DELETE", "/applications/" + app + "/commands/" + id);
  CHECK(r.status == 204);
  std::string e = r.call("GET", "/applications/" + app + "/commands/" + id);
  CHECK(r.status == 404);
  CHECK(json_int(e, "/code") == 10063);
  const std::string guild = json_str(fc.get("/_fakecord/guilds"), "/guilds/0/id");
  std::string gcmd = r.call("POST", "/applications/" + app + "/guilds/" + guild + "/commands", R"({"name":"local","description":"l"})");
  CHECK(r.status == 201);
  CHECK(json_str(gcmd, "/guild_id") == guild);
  CHECK(json_array_size(r.call("GET", "/applications/" + app + "/guilds/" + guild + "/commands"), "") == 1);
  e = r.call("POST", "/applications/" + app + "/commands", R"({"description":"no name"})");
  CHECK(r.status == 400);
  CHECK(json_int(e, "/code") == 50035);
  r.call("GET", "/applications/1/commands");
  CHECK(r.status == 404);
}

TEST_CASE("interactions: a complete INTERACTION_CREATE, one callback within 3 s, original response and follow-ups") {
  fakecord_process fc({"--guilds", "2", "--shards", "1", "--token", "test-token", "--members", "3"});
  gateway_test_client bot(fc.port());
  REQUIRE_FALSE(bot.identify(0, 1, 1 | 512 | 32768).empty());
  auto gc = bot.next_dispatch("GUILD_CREATE");
  REQUIRE(gc);
  const std::string guild = json_str(*gc, "/d/id");
  rest_client r(fc.port());
  const std::string app = json_str(fc.get("/api/v10/oauth2/applications/@me", nullptr, "Bot test-token"), "/id");
  const std::string cmd = json_str(r.call("POST", "/applications/" + app + "/commands", R"({"name":"echo","description":"e"})"), "/id");

  std::string made = fc.post("/_fakecord/interaction", R"({"kind":"command","guild_id":")" + guild +
                                                           R"(","name":"echo","options":[{"name":"text","type":3,"value":"hi"}]})");
  CHECK(json_int(made, "/delivered") == 1);
  auto ic = bot.next_dispatch("INTERACTION_CREATE");
  REQUIRE(ic);
  // What discord.js and discord.py read, all there.
  for (auto key : {"/d/id", "/d/application_id", "/d/token", "/d/guild_id", "/d/channel_id", "/d/channel/id", "/d/channel/type",
                   "/d/member/user/id", "/d/member/roles", "/d/member/permissions", "/d/app_permissions", "/d/locale",
                   "/d/guild_locale", "/d/entitlements", "/d/authorizing_integration_owners/0", "/d/guild/id"})
    CHECK_MESSAGE(json_has(*ic, key), key);
  CHECK(json_int(*ic, "/d/type") == 2);
  CHECK(json_int(*ic, "/d/version") == 1);
  CHECK(json_int(*ic, "/d/context") == 0);
  CHECK(json_str(*ic, "/d/data/id") == cmd);
  CHECK(json_str(*ic, "/d/data/name") == "echo");
  CHECK(json_str(*ic, "/d/data/options/0/value") == "hi");
  const std::string id = json_str(made, "/id"), token = json_str(made, "/token");
  CHECK(json_str(*ic, "/d/token") == token);

  // A wrong token is unknown; the right one answers once.
  r.call("POST", "/interactions/" + id + "/wrong/callback", R"({"type":4,"data":{"content":"x"}})");
  CHECK(r.status == 404);
  r.call("POST", "/interactions/" + id + "/" + token + "/callback", R"({"type":4,"data":{"content":"echo: hi"}})");
  CHECK(r.status == 204);
  auto mc = bot.next_dispatch("MESSAGE_CREATE");
  REQUIRE(mc);
  CHECK(json_str(*mc, "/d/content") == "echo: hi");
  CHECK(json_int(*mc, "/d/type") == 20);
  CHECK(json_str(*mc, "/d/interaction_metadata/id") == id);
  std::string twice = r.call("POST", "/interactions/" + id + "/" + token + "/callback", R"({"type":4,"data":{"content":"again"}})");
  CHECK(r.status == 400);
  CHECK(json_int(twice, "/code") == 40060);
  CHECK(json_str(r.call("GET", "/webhooks/" + app + "/" + token + "/messages/@original"), "/content") == "echo: hi");
  CHECK(json_str(r.call("PATCH", "/webhooks/" + app + "/" + token + "/messages/@original", R"({"content":"edited"})"),
                 "/content") == "edited");
  CHECK(bot.next_dispatch("MESSAGE_UPDATE"));
  std::string follow = r.call("POST", "/webhooks/" + app + "/" + token, R"({"content":"and more"})");
  CHECK(r.status == 200);
  CHECK(json_str(follow, "/content") == "and more");
  CHECK(bot.next_dispatch("MESSAGE_CREATE"));
  r.call("DELETE", "/webhooks/" + app + "/" + token + "/messages/@original");
  CHECK(r.status == 204);

  // A deferred response: created by its first edit.
  std::string deferred = fc.post("/_fakecord/interaction", R"({"kind":"command","guild_id":")" + guild + R"(","name":"echo"})");
  const std::string did = json_str(deferred, "/id"), dtoken = json_str(deferred, "/token");
  REQUIRE(bot.next_dispatch("INTERACTION_CREATE"));
  r.call("POST", "/interactions/" + did + "/" + dtoken + "/callback", R"({"type":5})");
  CHECK(r.status == 204);
  r.call("GET", "/webhooks/" + app + "/" + dtoken + "/messages/@original");
  CHECK(r.status == 404);
  std::string done = r.call("PATCH", "/webhooks/" + app + "/" + dtoken + "/messages/@original", R"({"content":"done"})");
  CHECK_MESSAGE(json_str(done, "/content") == "done", r.status << " " << done);

  // A button and a modal: their data; a callback after 3 s is too late.
  std::string button = fc.post("/_fakecord/interaction", R"({"kind":"button","guild_id":")" + guild + R"(","custom_id":"yes"})");
  auto bc = bot.next_dispatch("INTERACTION_CREATE");
  REQUIRE(bc);
  CHECK(json_int(*bc, "/d/type") == 3);
  CHECK(json_str(*bc, "/d/data/custom_id") == "yes");
  CHECK(json_int(*bc, "/d/data/component_type") == 2);
  std::string modal = fc.post("/_fakecord/interaction", R"({"kind":"modal","guild_id":")" + guild +
                                                            R"(","custom_id":"form","fields":{"name":"G"}})");
  auto mo = bot.next_dispatch("INTERACTION_CREATE");
  REQUIRE(mo);
  CHECK(json_int(*mo, "/d/type") == 5);
  CHECK(json_str(*mo, "/d/data/components/0/components/0/value") == "G");
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  std::string late = r.call("POST", "/interactions/" + json_str(button, "/id") + "/" + json_str(button, "/token") + "/callback",
                            R"({"type":6})");
  CHECK(r.status == 404);
  CHECK(json_int(late, "/code") == 10062);
  int status = 0;
  fc.post("/_fakecord/interaction", R"({"kind":"command","guild_id":"1","name":"x"})", &status);
  CHECK(status == 404);
  fc.post("/_fakecord/interaction", R"({"kind":"dance","guild_id":")" + guild + "\"}", &status);
  CHECK(status == 400);
}

TEST_CASE("webhooks: created on a channel, executed with their token (?wait=true returns the message)") {
  fakecord_process fc({"--guilds", "2", "--shards", "1", "--token", "test-token"});
  gateway_test_client bot(fc.port());
  REQUIRE_FALSE(bot.identify(0, 1, 1 | 512 | 32768).empty());
  auto gc = bot.next_dispatch("GUILD_CREATE");
  REQUIRE(gc);
  const std::string channel = json_str(*gc, "/d/channels/0/id");
  rest_client r(fc.port());
  std::string hook = r.call("POST", "/channels/" + channel + "/webhooks", R"({"name":"Alerts"})");
  CHECK(r.status == 200);
  const std::string id = json_str(hook, "/id"), token = json_str(hook, "/token");
  CHECK(json_str(hook, "/channel_id") == channel);
  CHECK_FALSE(token.empty());
  int status = 0;
  std::string m = http_request(fc.port(), "POST", "/api/v10/webhooks/" + id + "/" + token + "?wait=true",
                               R"({"content":"disk full","username":"Monitor"})", "", status);
  CHECK(status == 200);
  CHECK(json_str(m, "/author/username") == "Monitor");
  CHECK(json_str(m, "/webhook_id") == id);
  auto mc = bot.next_dispatch("MESSAGE_CREATE");
  REQUIRE(mc);
  CHECK(json_str(*mc, "/d/content") == "disk full");
  http_request(fc.port(), "POST", "/api/v10/webhooks/" + id + "/" + token, R"({"content":"again"})", "", status);
  CHECK(status == 204);
  std::string e = http_request(fc.port(), "POST", "/api/v10/webhooks/" + id + "/wrong", R"({"content":"x"})", "", status);
  CHECK(status == 401);
  CHECK(json_int(e, "/code") == 50027);
  e = http_request(fc.port(), "POST", "/api/v10/webhooks/123/abc", R"({"content":"x"})", "", status);
  CHECK(status == 404);
  CHECK(json_int(e, "/code") == 10015);
}
