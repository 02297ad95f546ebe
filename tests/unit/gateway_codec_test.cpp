// The gateway codec: every server op decoded into its event, every malformed message refused with a reason, and
// the client's payloads as Discord expects them.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>

#include "net/gateway/gateway_codec.hpp"

using namespace g::net;

namespace {

gateway_event decoded(const std::string& text) {
  gateway_codec codec;
  gateway_event e;
  REQUIRE_MESSAGE(codec.decode(text, e), codec.error());
  return e;
}

std::string refusal(const std::string& text) {
  gateway_codec codec;
  gateway_event e;
  CHECK_FALSE(codec.decode(text, e));
  return codec.error();
}

}  // namespace

TEST_CASE("codec: HELLO, heartbeats, op 7 and op 9 become their events") {
  auto hello = decoded(R"({"op":10,"d":{"heartbeat_interval":41250,"_trace":["x"]},"s":null,"t":null})");
  CHECK(hello.what == gateway_event::hello);
  CHECK(hello.heartbeat_interval == 41250);
  CHECK(decoded(R"({"op":11,"d":null})").what == gateway_event::heartbeat_ack);
  CHECK(decoded(R"({"op":1,"d":251})").what == gateway_event::heartbeat_request);
  CHECK(decoded(R"({"op":7,"d":null})").what == gateway_event::reconnect);
  auto resumable = decoded(R"({"op":9,"d":true})");
  CHECK(resumable.what == gateway_event::invalid_session);
  CHECK(resumable.resumable);
  auto not_resumable = decoded(R"({"op":9,"d":false})");
  CHECK(not_resumable.what == gateway_event::invalid_session);
  CHECK_FALSE(not_resumable.resumable);
  CHECK(decoded(R"({"op":42,"d":{}})").what == gateway_event::unknown);  // an op Discord may add: ignored
}

TEST_CASE("codec: READY carries the session, RESUMED and other dispatches keep their bytes, seq and guild") {
  auto ready = decoded(R"({"op":0,"s":1,"t":"READY","d":{"v":10,"session_id":"abc","resume_gateway_url":"wss://r.example","guilds":[]}})");
  CHECK(ready.what == gateway_event::ready);
  CHECK(ready.carries_dispatch());
  CHECK(ready.session_id == "abc");
  CHECK(ready.resume_gateway_url == "wss://r.example");
  CHECK(ready.frame.s == 1);
  CHECK(ready.frame.t == "READY");
  auto no_url = decoded(R"({"op":0,"s":1,"t":"READY","d":{"session_id":"abc"}})");
  CHECK(no_url.what == gateway_event::ready);
  CHECK(no_url.resume_gateway_url.empty());  // RESUME then goes to the bootstrap URL
  CHECK(decoded(R"({"op":0,"s":9,"t":"RESUMED","d":{}})").what == gateway_event::resumed);
  const std::string text = R"({"op":0,"s":12,"t":"MESSAGE_CREATE","d":{"id":"1","guild_id":"81384788765712384","content":"héllo \"x\""}})";
  auto m = decoded(text);
  CHECK(m.what == gateway_event::dispatch);
  CHECK(m.frame.s == 12);
  CHECK(m.frame.t == "MESSAGE_CREATE");
  CHECK(m.frame.d == R"({"id":"1","guild_id":"81384788765712384","content":"héllo \"x\""})");
  CHECK(m.frame.guild_id == 81384788765712384ull);
}

TEST_CASE("codec: a message that cannot be trusted is refused with the reason") {
  CHECK(refusal("not json").find("undecodable") != std::string::npos);
  CHECK(refusal(R"({"d":null})").find("undecodable") != std::string::npos);  // no op
  CHECK(refusal(R"({"op":10,"d":{}})") == "HELLO without heartbeat_interval");
  CHECK(refusal(R"({"op":10,"d":{"heartbeat_interval":0}})") == "HELLO without heartbeat_interval");
  CHECK(refusal(R"({"op":0,"s":1,"t":"READY","d":{"v":10}})") == "READY without session_id");
  CHECK(refusal(R"({"op":9,"d":null})") == "INVALID_SESSION without a boolean d");
}

TEST_CASE("codec: one codec decodes message after message; each event describes its own") {
  gateway_codec codec;
  gateway_event e;
  REQUIRE(codec.decode(R"({"op":0,"s":1,"t":"READY","d":{"session_id":"s1"}})", e));
  CHECK(e.session_id == "s1");
  REQUIRE(codec.decode(R"({"op":10,"d":{"heartbeat_interval":5}})", e));
  CHECK(e.what == gateway_event::hello);
  CHECK(e.session_id.empty());  // nothing left over from READY
  CHECK_FALSE(codec.decode(R"({"op":10,"d":{}})", e));
  REQUIRE(codec.decode(R"({"op":11})", e));
  CHECK(e.what == gateway_event::heartbeat_ack);
}

TEST_CASE("codec: heartbeat, IDENTIFY and RESUME as Discord expects them") {
  CHECK(gateway_codec::heartbeat(-1) == R"({"op":1,"d":null})");
  CHECK(gateway_codec::heartbeat(251) == R"({"op":1,"d":251})");
  simdjson::dom::parser parser;
  identify_params p{"tok\"en", 33281, 3, 16, 250, R"({"status":"idle","afk":false})"};
  auto id = parser.parse(gateway_codec::identify(p));
  REQUIRE(id.error() == simdjson::SUCCESS);
  CHECK(int64_t(id["op"]) == 2);
  CHECK(gateway_codec::is_identify(gateway_codec::identify(p)));
  CHECK_FALSE(gateway_codec::is_identify(gateway_codec::resume("tok", "sess", 77)));
  CHECK(std::string_view(id["d"]["token"]) == "tok\"en");
  CHECK(uint64_t(id["d"]["intents"]) == 33281);
  CHECK(int64_t(id["d"]["shard"].at(0)) == 3);
  CHECK(int64_t(id["d"]["shard"].at(1)) == 16);
  CHECK(int64_t(id["d"]["large_threshold"]) == 250);
  CHECK(std::string_view(id["d"]["properties"]["os"]) == "linux");
  CHECK(bool(id["d"]["compress"]) == false);
  CHECK(std::string_view(id["d"]["presence"]["status"]) == "idle");
  simdjson::dom::parser parser2;
  auto r = parser2.parse(gateway_codec::resume("tok", "sess", 77));
  REQUIRE(r.error() == simdjson::SUCCESS);
  CHECK(int64_t(r["op"]) == 6);
  CHECK(std::string_view(r["d"]["session_id"]) == "sess");
  CHECK(int64_t(r["d"]["seq"]) == 77);
  identify_params bare{"t", 1, 0, 1, 50, ""};
  simdjson::dom::parser parser3;
  auto b = parser3.parse(gateway_codec::identify(bare));
  REQUIRE(b.error() == simdjson::SUCCESS);
  CHECK(b["d"]["presence"].error() == simdjson::NO_SUCH_FIELD);  // no presence: none sent
}
