#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

namespace {

constexpr std::uint64_t all_intents = 1 | 2 | 128 | 256 | 512 | 32768;

struct ready_client {
  gateway_test_client c;
  std::string guild;
  std::string member;  // a user id that is a member of `guild`

  ready_client(const fakecord_process& fc, std::uint64_t intents = all_intents) : c(fc.port()) {
    REQUIRE(c.next_op(10));
    REQUIRE_FALSE(c.identify(0, 1, intents).empty());
    auto gc = c.next_dispatch("GUILD_CREATE");
    REQUIRE(gc);
    guild = json_str(*gc, "/d/id");
    member = json_str(*gc, "/d/members/1/user/id");
  }
};

}  // namespace

TEST_CASE("op 3 presence update is validated and recorded") {
  fakecord_process fc({"--guilds", "1"});
  ready_client r(fc);
  r.c.send(R"({"op":3,"d":{"since":null,"activities":[{"name":"tests","type":0}],"status":"dnd","afk":false}})");
  std::string received;
  for (int i = 0; i < 50; ++i) {
    received = fc.get("/_fakecord/received?op=3");
    if (received.find("dnd") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(json_int(received, "/commands/0/op") == 3);
  CHECK(json_str(received, "/commands/0/d/status") == "dnd");
  CHECK(json_int(received, "/commands/0/shard") == 0);
  r.c.send(R"({"op":3,"d":{"status":"sleepy","activities":[],"afk":false}})");
  CHECK(r.c.wait_closed() == 4001);
}

TEST_CASE("op 4 voice state update answers VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE") {
  fakecord_process fc({"--guilds", "1"});
  ready_client r(fc);
  std::uint64_t voice_channel = std::stoull(r.guild) + 4;  // text channels +1..+3, voice +4
  r.c.send(R"({"op":4,"d":{"guild_id":")" + r.guild + R"(","channel_id":")" + std::to_string(voice_channel) +
           R"(","self_mute":false,"self_deaf":true}})");
  auto state = r.c.next_dispatch("VOICE_STATE_UPDATE");
  REQUIRE(state);
  CHECK(json_str(*state, "/d/guild_id") == r.guild);
  CHECK(json_str(*state, "/d/self_deaf") == "true");
  CHECK(json_str(*state, "/d/session_id").size() == 32);
  auto server = r.c.next_dispatch("VOICE_SERVER_UPDATE");
  REQUIRE(server);
  CHECK(json_has(*server, "/d/token"));
  CHECK(json_has(*server, "/d/endpoint"));
}

TEST_CASE("op 8 request guild members answers GUILD_MEMBERS_CHUNK with nonce, chunk counts and not_found") {
  fakecord_process fc({"--guilds", "1", "--members", "2500"});
  ready_client r(fc);
  r.c.send(R"({"op":8,"d":{"guild_id":")" + r.guild + R"(","query":"","limit":0,"nonce":"all-1"}})");
  std::size_t members = 0;
  for (int i = 0; i < 3; ++i) {
    auto chunk = r.c.next_dispatch("GUILD_MEMBERS_CHUNK");
    REQUIRE(chunk);
    CHECK(json_int(*chunk, "/d/chunk_index") == i);
    CHECK(json_int(*chunk, "/d/chunk_count") == 3);
    CHECK(json_str(*chunk, "/d/nonce") == "all-1");
    members += json_array_size(*chunk, "/d/members");
  }
  CHECK(members == 2501);  // everyone, the bot included

  r.c.send(R"({"op":8,"d":{"guild_id":")" + r.guild + R"(","user_ids":[")" + r.member +
           R"(","1"],"limit":0,"nonce":"ids"}})");
  auto chunk = r.c.next_dispatch("GUILD_MEMBERS_CHUNK");
  REQUIRE(chunk);
  CHECK(json_array_size(*chunk, "/d/members") == 1);
  CHECK(json_str(*chunk, "/d/members/0/user/id") == r.member);
  CHECK(json_str(*chunk, "/d/not_found/0") == "1");
  CHECK(json_int(*chunk, "/d/chunk_count") == 1);

  r.c.send(R"({"op":8,"d":{"guild_id":")" + r.guild + R"(","query":"zzzz","limit":10,"nonce":"none"}})");
  chunk = r.c.next_dispatch("GUILD_MEMBERS_CHUNK");
  REQUIRE(chunk);
  CHECK(json_array_size(*chunk, "/d/members") == 0);  // always at least one chunk, even when nothing matches
  CHECK(json_int(*chunk, "/d/chunk_count") == 1);
}

TEST_CASE("a second whole-member-list request for a guild within 30 s gets RATE_LIMITED") {
  fakecord_process fc({"--guilds", "1", "--members", "5"});
  ready_client r(fc);
  const std::string req = R"({"op":8,"d":{"guild_id":")" + r.guild + R"(","query":"","limit":0,"nonce":"n"}})";
  r.c.send(req);
  REQUIRE(r.c.next_dispatch("GUILD_MEMBERS_CHUNK"));
  r.c.send(req);
  auto limited = r.c.next_dispatch("RATE_LIMITED");
  REQUIRE(limited);
  CHECK(json_int(*limited, "/d/opcode") == 8);
  CHECK(json_str(*limited, "/d/meta/guild_id") == r.guild);
  CHECK(json_str(*limited, "/d/meta/nonce") == "n");
  CHECK(fc.stats().find(R"("request_members_rate_limited":1)") != std::string::npos);
}

TEST_CASE("a whole-member-list request without GUILD_MEMBERS closes with 4001") {
  fakecord_process fc({"--guilds", "1"});
  ready_client r(fc, 1 | 512);
  r.c.send(R"({"op":8,"d":{"guild_id":")" + r.guild + R"(","query":"","limit":0}})");
  CHECK(r.c.wait_closed() == 4001);
}

TEST_CASE("op 31 answers SOUNDBOARD_SOUNDS per guild and op 43 answers CHANNEL_INFO") {
  fakecord_process fc({"--guilds", "1"});
  ready_client r(fc);
  r.c.send(R"({"op":31,"d":{"guild_ids":[")" + r.guild + R"("]}})");
  auto sounds = r.c.next_dispatch("SOUNDBOARD_SOUNDS");
  REQUIRE(sounds);
  CHECK(json_str(*sounds, "/d/guild_id") == r.guild);
  r.c.send(R"({"op":43,"d":{"guild_id":")" + r.guild + R"(","fields":["status","voice_start_time"]}})");
  auto info = r.c.next_dispatch("CHANNEL_INFO");
  REQUIRE(info);
  CHECK(json_array_size(*info, "/d/channels") == 1);
}

TEST_CASE("generated load: MESSAGE_CREATE with the send time in nonce, and a mix of other events") {
  fakecord_process fc({"--guilds", "4", "--members", "5", "--seed", "3"});
  ready_client r(fc);
  fc.post("/_fakecord/load", R"({"rate":400})");
  int messages = 0, others = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while ((messages < 50 || others < 5) && std::chrono::steady_clock::now() < until) {
    auto m = r.c.next();
    REQUIRE(m);
    if (json_int(*m, "/op") != 0) continue;
    if (json_str(*m, "/t") == "MESSAGE_CREATE") {
      ++messages;
      auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
      std::int64_t sent = std::stoll(json_str(*m, "/d/nonce"));
      CHECK(sent <= now_us);
      CHECK(now_us - sent < 2'000'000);
      CHECK(json_has(*m, "/d/author/id"));
      CHECK(json_str(*m, "/d/content").size() > 0);
    } else {
      ++others;
    }
  }
  CHECK(messages >= 50);
  CHECK(others >= 5);
  fc.post("/_fakecord/load", R"({"rate":0})");
}

TEST_CASE("sessions without MESSAGE_CONTENT see messages with empty content") {
  fakecord_process fc({"--guilds", "1"});
  ready_client r(fc, 1 | 512);
  fc.post("/_fakecord/dispatch", R"({"guild_id":")" + r.guild + R"(","t":"MESSAGE_CREATE","d":{"content":"secret"}})");
  auto m = r.c.next_dispatch("MESSAGE_CREATE");
  REQUIRE(m);
  CHECK(json_str(*m, "/d/content").empty());
}
