// The proxy (docs/proxy.md) at the protocol level, with a raw gateway client that checks every seq: two G nodes in
// front of g-fakecord, g-cache, and the proxy on node A. Real libraries through the proxy are tested in tests/proxy.
#include <doctest/doctest.h>

#include <csignal>
#include <set>

#include "tests/node/node_world.hpp"
#include "tests/support/gateway_test_client.hpp"

namespace {

using g::harness::child_process;
using g::harness::free_tcp_port;
using g::harness::http_request;
using g::test::gateway_test_client;
using g::test::json_array_size;
using g::test::json_has;
using g::test::json_int;
using g::test::json_str;
using g::test::world;
using namespace std::chrono_literals;

constexpr std::uint64_t intents = 1 | 2 | 128 | 512 | 32768;  // guilds, members, voice states, messages, content

std::string identify_payload(int shard, int shards, std::uint64_t bits = intents, std::string_view token = "test-token") {
  return R"({"op":2,"d":{"token":")" + std::string(token) + R"(","intents":)" + std::to_string(bits) +
         R"(,"properties":{"os":"linux","browser":"t","device":"t"},"shard":[)" + std::to_string(shard) + "," +
         std::to_string(shards) + "]}}";
}

// The close code the proxy answers `payloads` with, sent in order on a fresh connection.
int close_code_for(std::uint16_t port, const std::vector<std::string>& payloads, const std::string& query = "/?v=10&encoding=json") {
  gateway_test_client c(port, query);
  if (query.find("encoding=json") != std::string::npos && query.find("v=10") != std::string::npos)
    c.next_op(10);  // HELLO
  for (const auto& p : payloads) c.send(p);
  return c.wait_closed(5s);
}

// The MESSAGE_CREATE contents a client receives within `timeout`, with their seqs.
std::vector<std::pair<std::string, std::int64_t>> messages(gateway_test_client& c, std::size_t n,
                                                           std::chrono::milliseconds timeout = 8s) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < until) {
    auto m = c.next_dispatch("MESSAGE_CREATE", 500ms);
    if (m) out.emplace_back(json_str(*m, "/d/content"), json_int(*m, "/s"));
  }
  return out;
}

bool proxy_answers(std::uint16_t port) {
  try {
    int status = 0;
    http_request(port, "GET", "/api/gateway", "", "", status);
    return status == 200;
  } catch (const std::exception&) {
    return false;  // not listening yet
  }
}

std::string dispatch_message(world& w, const std::string& guild, const std::string& content) {
  return w.fc.post("/_fakecord/dispatch",
                   R"({"guild_id":")" + guild + R"(","t":"MESSAGE_CREATE","d":{"content":")" + content + R"("}})");
}

}  // namespace

TEST_CASE("proxy: Discord's protocol, READY from the cache, every event once with the session's seq, RESUME that replays") {
  world w(2, {"--members", "4"});
  const std::uint16_t proxy_port = free_tcp_port();
  // Chunking fills the cache with every member, as a proxy deployment wants (docs/proxy.md).
  // A small client buffer, so the slow-bot case overflows it quickly.
  const std::string proxy_cfg = "[chunking]\nenabled = true\n[proxy]\nlisten = \"127.0.0.1:" + std::to_string(proxy_port) +
                                "\"\nheartbeat_ms = 60000\nclient_buffer_kib = 256\n";
  auto cfg_a = w.write_config("a.toml", "test-token", w.redis.port(), proxy_cfg, intents, free_tcp_port(),
                              "0123456789abcdef-test", "a");
  const std::uint16_t proxy_port_b = free_tcp_port();
  auto cfg_b = w.write_config("b.toml", "test-token", w.redis.port(),
                              "[chunking]\nenabled = true\n[proxy]\nlisten = \"127.0.0.1:" + std::to_string(proxy_port_b) +
                                  "\"\nheartbeat_ms = 60000\n",
                              intents, free_tcp_port(),
                              "0123456789abcdef-test", "b");
  child_process a = w.node(cfg_a, "a.log"), b = w.node(cfg_b, "b.log");
  child_process cache({G_CACHE_PATH, "--config", cfg_a}, (w.dir / "cache.log").string());
  REQUIRE(w.wait_for([&] { return w.stat("/identifies") >= 2 && w.stream_caught_up(); }, 30s));
  // g-cache has every member (G's chunking asked for them) before bots connect.
  g::net::redis_connection redis({"127.0.0.1", w.redis.port(), "", 0, 2000});
  REQUIRE(w.wait_for([&] {
    auto guilds = redis.command({"HKEYS", "g:g:cache:guilds"});
    if (guilds.elements.size() != 20) return false;
    for (auto& g : guilds.elements)
      if (redis.command({"HLEN", "g:g:cache:guild:" + g.text + ":members"}).number < 5) return false;
    return true;
  }, 30s));

  // REST: the proxy answers /gateway/bot itself and forwards the rest unchanged.
  int status = 0;
  std::string bot = http_request(proxy_port, "GET", "/api/v10/gateway/bot", "", "Bot test-token", status);
  CHECK(status == 200);
  CHECK(json_int(bot, "/shards") == 2);
  CHECK(json_str(bot, "/url") == "ws://127.0.0.1:" + std::to_string(proxy_port));
  CHECK(json_int(bot, "/session_start_limit/max_concurrency") >= 2);
  http_request(proxy_port, "GET", "/api/v10/gateway/bot", "", "Bot wrong", status);
  CHECK(status == 401);
  std::map<std::string, std::string> headers;
  std::string me = http_request(proxy_port, "GET", "/api/v10/users/@me", "", "Bot test-token", status, nullptr, &headers);
  CHECK(status == 200);
  CHECK(json_has(me, "/id"));
  std::string fc_me = w.fc.get("/api/v10/users/@me", nullptr, "Bot test-token");
  CHECK(me == fc_me);  // byte for byte what g-fakecord answered
  http_request(proxy_port, "GET", "/api/v10/channels/1", "", "Bot test-token", status);
  CHECK(status == 404);  // Discord's answer, passed through
  http_request(proxy_port, "PROPFIND", "/api/v10/users/@me", "", "Bot test-token", status);
  CHECK(status == 405);  // a method Discord's API does not use is refused, never forwarded

  SUBCASE("bad input gets Discord's close codes") {
    CHECK(close_code_for(proxy_port, {}, "/?v=10&encoding=etf") == 4002);
    CHECK(close_code_for(proxy_port, {}, "/?v=8&encoding=json") == 4012);
    CHECK(close_code_for(proxy_port, {"{not json"}) == 4002);
    CHECK(close_code_for(proxy_port, {std::string(5000, ' ')}) == 4002);
    CHECK(close_code_for(proxy_port, {R"({"op":3,"d":{"status":"online","activities":[],"afk":false,"since":null}})"}) == 4003);
    CHECK(close_code_for(proxy_port, {R"({"op":99,"d":null})"}) == 4001);
    CHECK(close_code_for(proxy_port, {identify_payload(0, 2, intents, "wrong")}) == 4004);
    CHECK(close_code_for(proxy_port, {identify_payload(0, 3)}) == 4010);
    CHECK(close_code_for(proxy_port, {identify_payload(0, 2, 1ull << 40)}) == 4013);
    CHECK(close_code_for(proxy_port, {identify_payload(0, 2, intents | 256)}) == 4014);  // presences: G lacks it
    CHECK(close_code_for(proxy_port, {R"({"op":2,"d":{"token":"test-token","intents":1,"properties":{}}})"}) == 4011);
    CHECK(close_code_for(proxy_port, {identify_payload(0, 2), identify_payload(0, 2)}) == 4005);
    std::vector<std::string> flood(121, R"({"op":1,"d":null})");
    CHECK(close_code_for(proxy_port, flood) == 4008);
    // None of it touched G: its two sessions are the only identifies g-fakecord has seen.
    CHECK(w.stat("/identifies") == 2);
  }

  SUBCASE("a RESUME at another proxy node takes the session: the old connection is closed at its next write") {
    gateway_test_client old(proxy_port, "/?v=10&encoding=json");
    REQUIRE(old.next_op(10));
    std::string ready = old.identify(0, 2, intents, "test-token", 10s);
    REQUIRE(!ready.empty());
    const std::string guild = json_str(ready, "/d/guilds/0/id");
    dispatch_message(w, guild, "before");
    auto before = old.next_dispatch("MESSAGE_CREATE", 8s);
    REQUIRE(before);
    const std::int64_t seq = json_int(*before, "/s");
    std::this_thread::sleep_for(1500ms);  // a mark at `seq` is written
    gateway_test_client taker(proxy_port_b, "/?v=10&encoding=json");
    REQUIRE(taker.next_op(10));
    taker.send(R"({"op":6,"d":{"token":"test-token","session_id":")" + json_str(ready, "/d/session_id") +
               R"(","seq":)" + std::to_string(seq) + "}}");
    auto resumed = taker.next_dispatch("RESUMED", 10s);
    REQUIRE(resumed);
    CHECK(json_int(*resumed, "/s") == seq + 1);
    dispatch_message(w, guild, "after");
    auto after = taker.next_dispatch("MESSAGE_CREATE", 8s);
    REQUIRE(after);
    CHECK(json_str(*after, "/d/content") == "after");
    CHECK(json_int(*after, "/s") == seq + 2);
    // The old connection still got "after" (it had not written since), then its mark found another owner.
    CHECK(old.wait_closed(10s) == 4000);
  }

  SUBCASE("a slow bot is closed resumably at its buffer's bound, never slows the others, and RESUMEs to the rest") {
    // `slow` stops reading its socket; `fast` reads everything. Uncompressed, so the bytes add up.
    gateway_test_client slow(proxy_port, "/?v=10&encoding=json"), fast(proxy_port, "/?v=10&encoding=json");
    REQUIRE(slow.next_op(10));
    std::string slow_ready = slow.identify(0, 2, intents, "test-token", 10s);
    REQUIRE(!slow_ready.empty());
    REQUIRE(fast.next_op(10));
    REQUIRE(!fast.identify(0, 2, intents, "test-token", 10s).empty());
    std::vector<std::string> fast_ids;  // MESSAGE_CREATE ids in order
    std::int64_t fast_seq = -1;
    bool contiguous = true;
    auto read_fast = [&](std::chrono::milliseconds quiet) {  // until `quiet` passes without an event, at most 1 s
      for (auto until = std::chrono::steady_clock::now() + 1s; std::chrono::steady_clock::now() < until;) {
        auto m = fast.next_where([](const std::string& p) { return json_int(p, "/op") == 0; }, quiet);
        if (!m) break;
        std::int64_t s = json_int(*m, "/s");
        if (fast_seq >= 0 && s != fast_seq + 1) contiguous = false;
        fast_seq = s;
        if (json_str(*m, "/t") == "MESSAGE_CREATE") fast_ids.push_back(json_str(*m, "/d/id"));
      }
    };
    // 3,000 messages of 3 KB each to a guild of shard 0 (~9 MB): more than the slow bot's socket and buffer hold.
    const std::string guild = json_str(slow_ready, "/d/guilds/0/id"), filler(3000, 'x');
    for (int i = 0; i < 3000; ++i) {
      dispatch_message(w, guild, filler + std::to_string(i));
      if (i % 100 == 99) {
        fast.send(R"({"op":1,"d":null})");  // a live bot heartbeats and reads
        read_fast(20ms);
      }
    }
    for (int i = 0; i < 3; ++i) read_fast(1000ms);
    CHECK(contiguous);
    REQUIRE(fast_ids.size() == 3000);
    // The slow bot was cut off with a resumable close once its queue passed the bound; what it did receive is in order.
    std::vector<std::string> slow_ids;
    std::int64_t slow_seq = 0;
    while (auto m = slow.next_where([](const std::string& p) { return json_int(p, "/op") == 0; }, 2s)) {
      slow_seq = json_int(*m, "/s");
      if (json_str(*m, "/t") == "MESSAGE_CREATE") slow_ids.push_back(json_str(*m, "/d/id"));
    }
    CHECK(slow.wait_closed(5s) == 4000);
    REQUIRE(slow_ids.size() < fast_ids.size());
    CHECK(std::equal(slow_ids.begin(), slow_ids.end(), fast_ids.begin()));
    // RESUME from where it was: exactly the rest, as `fast` saw it.
    gateway_test_client again(proxy_port, "/?v=10&encoding=json&compress=zlib-stream");
    REQUIRE(again.next_op(10));
    again.send(R"({"op":6,"d":{"token":"test-token","session_id":")" + json_str(slow_ready, "/d/session_id") +
               R"(","seq":)" + std::to_string(slow_seq) + "}}");
    while (auto m = again.next_dispatch("MESSAGE_CREATE", 3s)) slow_ids.push_back(json_str(*m, "/d/id"));
    fast.send(R"({"op":1,"d":null})");
    read_fast(500ms);  // the stream's tail, if any came after the load stopped
    CHECK(fast.wait_closed(100ms) == -1);  // the reading bot was never cut off
    CHECK(slow_ids.size() == fast_ids.size());
    CHECK(slow_ids == fast_ids);
  }

  SUBCASE("READY, GUILD_CREATEs, events, fan-out, intents, member chunks by nonce, RESUME across a proxy restart") {
    gateway_test_client one(proxy_port, "/?v=10&encoding=json&compress=zlib-stream");
    REQUIRE(one.next_op(10));
    std::string ready = one.identify(0, 2, intents, "test-token", 10s);
    REQUIRE(!ready.empty());
    CHECK(json_int(ready, "/s") == 1);
    const std::string session = json_str(ready, "/d/session_id");
    CHECK(json_str(ready, "/d/resume_gateway_url") == "ws://127.0.0.1:" + std::to_string(proxy_port));
    CHECK(json_has(ready, "/d/application/id"));
    const std::size_t guilds = json_array_size(ready, "/d/guilds");
    REQUIRE(guilds > 0);
    std::int64_t seq = 1;
    std::set<std::string> created;
    for (std::size_t i = 0; i < guilds; ++i) {
      auto gc = one.next_dispatch("GUILD_CREATE", 5s);
      REQUIRE(gc);
      CHECK(json_int(*gc, "/s") == ++seq);
      created.insert(json_str(*gc, "/d/id"));
      // As g-fakecord tells it: the cache's guild equals the truth.
      std::string truth = w.fc.get("/_fakecord/guild/" + json_str(*gc, "/d/id"));
      CHECK(json_array_size(*gc, "/d/members") == json_array_size(truth, "/members"));
      CHECK(json_array_size(*gc, "/d/channels") == json_array_size(truth, "/channels"));
      CHECK(json_array_size(*gc, "/d/roles") == json_array_size(truth, "/roles"));
      CHECK(json_has(*gc, "/d/stage_instances"));
    }
    CHECK(created.size() == guilds);
    const std::string guild = json_str(ready, "/d/guilds/0/id");

    gateway_test_client two(proxy_port, "/?v=10&encoding=json&compress=zstd-stream");
    REQUIRE(two.next_op(10));
    REQUIRE(!two.identify(0, 2, intents, "test-token", 10s).empty());
    gateway_test_client guilds_only(proxy_port, "/?v=10&encoding=json");
    REQUIRE(guilds_only.next_op(10));
    REQUIRE(!guilds_only.identify(0, 2, 1, "test-token", 10s).empty());

    for (int i = 1; i <= 5; ++i) dispatch_message(w, guild, "m" + std::to_string(i));
    auto got = messages(one, 5);
    REQUIRE(got.size() == 5);
    for (int i = 0; i < 5; ++i) {
      CHECK(got[i].first == "m" + std::to_string(i + 1));
      CHECK(got[i].second == seq + i + 1);  // the session's own seq, no gap
    }
    seq += 5;
    auto fanned = messages(two, 5);
    CHECK(fanned.size() == 5);
    CHECK(!guilds_only.next_dispatch("MESSAGE_CREATE", 1500ms));  // filtered by its intents

    // A member request: the chunks carry the nonce and reach only the session that asked.
    // (By user id: G's own chunking has just asked for the whole list, which Discord allows once per 30 s.)
    one.send(R"({"op":8,"d":{"guild_id":")" + guild + R"(","user_ids":[")" + json_str(ready, "/d/user/id") +
             R"("],"nonce":"proxy-test-1"}})");
    auto chunk = one.next_dispatch("GUILD_MEMBERS_CHUNK", 8s);
    REQUIRE(chunk);
    CHECK(json_str(*chunk, "/d/nonce") == "proxy-test-1");
    seq = json_int(*chunk, "/s");
    CHECK(!two.next_dispatch("GUILD_MEMBERS_CHUNK", 1500ms));
    // A presence update reaches Discord through G.
    one.send(R"({"op":3,"d":{"status":"dnd","activities":[{"name":"proxy-test","type":0}],"afk":false,"since":null}})");
    CHECK(w.wait_for([&] { return w.fc.get("/_fakecord/received").find("proxy-test\"") != std::string::npos; }, 10s));

    // The bot's socket dies after m5; m6..m8 happen meanwhile; the node serving the proxy is killed -9 and restarted
    // (G moves its shards; the proxy's sessions live in Redis). RESUME replays exactly m6..m8, then RESUMED.
    one.drop();
    for (int i = 6; i <= 8; ++i) dispatch_message(w, guild, "m" + std::to_string(i));
    const std::int64_t identifies = w.stat("/identifies");
    a.kill();
    a = w.node(cfg_a, "a.log");
    REQUIRE(w.wait_for([&] { return proxy_answers(proxy_port); }, 20s));
    dispatch_message(w, guild, "m9");
    gateway_test_client back(proxy_port, "/?v=10&encoding=json&compress=zlib-stream");
    REQUIRE(back.next_op(10));
    back.send(R"({"op":6,"d":{"token":"test-token","session_id":")" + session + R"(","seq":)" + std::to_string(seq) + "}}");
    // Every dispatch from here on, in order: the seqs continue the session's without a gap, the messages are
    // m6..m9 once each, and RESUMED comes once (after what the stream held: G commits m6..m8 only once the
    // killed node's shard has resumed elsewhere, so some may follow RESUMED, live).
    std::vector<std::pair<std::string, std::string>> seen;  // t, content
    std::int64_t expect = seq;
    for (auto until = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < until;) {
      auto m = back.next_where([](const std::string& p) { return json_int(p, "/op") == 0; }, 500ms);
      if (!m) {
        if (seen.size() >= 5) break;
        continue;
      }
      CHECK(json_int(*m, "/s") == ++expect);
      seen.emplace_back(json_str(*m, "/t"), json_str(*m, "/d/content"));
    }
    std::vector<std::string> contents;
    int resumed_at = -1, resumed_count = 0;
    for (std::size_t i = 0; i < seen.size(); ++i) {
      if (seen[i].first == "MESSAGE_CREATE") contents.push_back(seen[i].second);
      if (seen[i].first == "RESUMED") {
        resumed_at = static_cast<int>(contents.size());
        ++resumed_count;
      }
    }
    if (contents.size() != 4) MESSAGE(a.log());
    CHECK(contents == std::vector<std::string>{"m6", "m7", "m8", "m9"});
    CHECK(resumed_count == 1);  // after what the stream held at the RESUME; the rest follows live
    CHECK(resumed_at >= 0);
    CHECK(w.stat("/identifies") == identifies);        // G resumed its sessions; the bot's RESUME cost Discord nothing

    // A seq the session never reached is refused; an unknown session is invalid.
    gateway_test_client bad(proxy_port, "/?v=10&encoding=json");
    REQUIRE(bad.next_op(10));
    bad.send(R"({"op":6,"d":{"token":"test-token","session_id":")" + session + R"(","seq":999999}})");
    CHECK(bad.wait_closed(10s) == 4007);
    gateway_test_client unknown(proxy_port, "/?v=10&encoding=json");
    REQUIRE(unknown.next_op(10));
    unknown.send(R"({"op":6,"d":{"token":"test-token","session_id":"nope","seq":3}})");
    auto invalid = unknown.next_op(9, 5s);
    REQUIRE(invalid);
    CHECK(invalid->find("\"d\":false") != std::string::npos);
  }
  world::stop_all({&a, &b});
  cache.signal(SIGTERM);
  cache.wait(5s);
}

TEST_CASE("proxy: wss:// with [proxy] tls_cert and tls_key") {
  world w(1);
  std::string cert = (w.dir / "proxy.pem").string(), key = (w.dir / "proxy.key").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key + " -out " +
                    cert + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::uint16_t proxy_port = free_tcp_port();
  auto cfg = w.write_config("tls.toml", "test-token", w.redis.port(),
                            "[proxy]\nlisten = \"127.0.0.1:" + std::to_string(proxy_port) + "\"\ntls_cert = \"" + cert +
                                "\"\ntls_key = \"" + key + "\"\n",
                            intents);
  child_process node = w.node(cfg, "tls.log");
  child_process cache({G_CACHE_PATH, "--config", cfg}, (w.dir / "cache.log").string());
  REQUIRE(w.wait_for([&] { return w.stat("/identifies") >= 1 && w.stream_caught_up(); }, 30s));
  // Until the proxy has read G's shard count it asks bots to come back (4000); this client would not.
  REQUIRE(w.wait_for([&] { return node.log().find("proxy: G runs 1 shards") != std::string::npos; }, 10s));
  gateway_test_client c(proxy_port, "/?v=10&encoding=json&compress=zstd-stream", true);
  REQUIRE(c.next_op(10));
  std::string ready = c.identify(0, 1, intents, "test-token", 15s);
  if (ready.empty()) MESSAGE(node.log());
  REQUIRE(!ready.empty());
  CHECK(json_str(ready, "/d/resume_gateway_url") == "wss://127.0.0.1:" + std::to_string(proxy_port));
  CHECK(json_array_size(ready, "/d/guilds") == 10);
  CHECK(node.log().find("proxy: serving bots on wss://") != std::string::npos);
  world::stop_all({&node});
  cache.signal(SIGTERM);
  cache.wait(5s);
}
