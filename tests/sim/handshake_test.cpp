#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <csignal>
#include <unistd.h>

#include "sim/harness/wait_until.hpp"
#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::test;

TEST_CASE("HELLO comes first and heartbeats are ACKed even before IDENTIFY") {
  fakecord_process fc({"--heartbeat-ms", "30000"});
  gateway_test_client c(fc.port());
  auto hello = c.next();
  REQUIRE(hello);
  CHECK(json_int(*hello, "/op") == 10);
  CHECK(json_int(*hello, "/d/heartbeat_interval") == 30000);
  CHECK(json_str(*hello, "/s") == "null");
  c.send(R"({"op":1,"d":null})");
  auto ack = c.next();
  REQUIRE(ack);
  CHECK(json_int(*ack, "/op") == 11);
}

TEST_CASE("stats time each heartbeat against the interval and count the closes clients start") {
  fakecord_process fc({"--heartbeat-ms", "200"});
  {
    gateway_test_client c(fc.port());
    REQUIRE(c.next());                 // HELLO
    c.send(R"({"op":1,"d":null})");    // at once: on time
    REQUIRE(c.next());
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    c.send(R"({"op":1,"d":null})");    // 600 ms after the last, 400 over the interval
    REQUIRE(c.next());
    c.close(4321);
  }
  std::string stats;
  for (int i = 0; i < 100 && json_int(stats, "/client_closes/4321") != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stats = fc.get("/_fakecord/stats?sessions=false");
  }
  CHECK(json_int(stats, "/heartbeat_timing/on_time") == 1);
  CHECK(json_int(stats, "/heartbeat_timing/late_under_1s") == 1);
  CHECK(json_int(stats, "/heartbeat_timing/late_over_1s") == 0);
  CHECK(json_int(stats, "/heartbeat_timing/worst_ms") >= 390);
  CHECK(json_int(stats, "/client_closes/4321") == 1);
  CHECK(stats.find("\"sessions\"") == std::string::npos);
  CHECK(fc.stats().find("\"sessions\"") != std::string::npos);
}

TEST_CASE("stats say how late g-fakecord's own loop ran: a stopped process is over 1 s late") {
  fakecord_process fc;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(json_int(fc.get("/_fakecord/stats?sessions=false"), "/loop_lag/over_1s") == 0);
  ::kill(fc.pid(), SIGSTOP);  // as a loop busy for 1.5 s would be
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ::kill(fc.pid(), SIGCONT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto stats = fc.get("/_fakecord/stats?sessions=false");
  CHECK(json_int(stats, "/loop_lag/over_1s") == 1);
  CHECK(json_int(stats, "/loop_lag/worst_ms") >= 1300);
}

TEST_CASE("zlib-stream and zstd-stream carry every message, HELLO included") {
  fakecord_process fc({"--guilds", "6", "--max-concurrency", "2"});
  int shard = 0;
  for (const char* compress : {"zlib-stream", "zstd-stream"}) {
    CAPTURE(compress);
    gateway_test_client c(fc.port(), std::string("/?v=10&encoding=json&compress=") + compress);
    auto hello = c.next();
    REQUIRE(hello);
    CHECK(json_int(*hello, "/op") == 10);
    std::string ready = c.identify(shard++, 2);
    REQUIRE_FALSE(ready.empty());
    CHECK(json_array_size(ready, "/d/guilds") == 3);
    for (int i = 0; i < 3; ++i) REQUIRE(c.next_dispatch("GUILD_CREATE"));
  }
}

TEST_CASE("IDENTIFYs arriving together each start their session in turn: READY first, then the shard's own guilds") {
  // 40 sessions with about 25 guilds each start one at a time between socket reads; none is lost or mixed up.
  constexpr int shards = 40;
  fakecord_process fc({"--guilds", "1000", "--max-concurrency", "64"});
  std::vector<std::unique_ptr<gateway_test_client>> clients;
  for (int i = 0; i < shards; ++i) {
    clients.push_back(std::make_unique<gateway_test_client>(fc.port()));
    REQUIRE(clients.back()->next_op(10));
  }
  for (int i = 0; i < shards; ++i)
    clients[static_cast<std::size_t>(i)]->send(R"({"op":2,"d":{"token":"test-token","properties":{"os":"x","browser":"y","device":"y"},"intents":1,"shard":[)" +
                                             std::to_string(i) + "," + std::to_string(shards) + "]}}");
  for (int i = 0; i < shards; ++i) {
    CAPTURE(i);
    auto& c = *clients[static_cast<std::size_t>(i)];
    auto ready = c.next(10s);
    REQUIRE(ready);
    CHECK(json_str(*ready, "/t") == "READY");
    CHECK(json_int(*ready, "/s") == 1);
    const std::size_t guilds = json_array_size(*ready, "/d/guilds");
    CHECK(guilds > 0);
    for (std::size_t g = 0; g < guilds; ++g) {
      auto create = c.next_dispatch("GUILD_CREATE", 10s);
      REQUIRE(create);
      CHECK(json_str(*create, "/d/id") == json_str(*ready, "/d/guilds/" + std::to_string(g) + "/id"));
    }
  }
  auto stats = fc.stats();
  CHECK(json_int(stats, "/identifies") == shards);
  CHECK(json_int(stats, "/session_starts_waiting") == 0);
  CHECK(json_array_size(stats, "/sessions") == static_cast<std::size_t>(shards));
  CHECK_MESSAGE(stats.find(R"("violations":{})") != std::string::npos, stats);
}

TEST_CASE("stats count the bytes a client has not taken yet (backlog_bytes), and none once it has read them") {
  // One shard with 2,400 guilds (under the 2,500 that require sharding): its GUILD_CREATEs are far more than
  // loopback's socket buffers hold while the client does not read.
  fakecord_process fc({"--guilds", "2400"});
  gateway_test_client c(fc.port());
  REQUIRE(c.next_op(10));
  c.send(R"({"op":2,"d":{"token":"test-token","properties":{"os":"x","browser":"y","device":"y"},"intents":1,"shard":[0,1]}})");
  CHECK(g::harness::wait_until([&] { return json_int(fc.stats(), "/backlog_bytes") > 0; }, 10s));
  auto ready = c.next(10s);
  REQUIRE(ready);
  const std::size_t guilds = json_array_size(*ready, "/d/guilds");
  REQUIRE(guilds == 2400);
  for (std::size_t g = 0; g < guilds; ++g) REQUIRE(c.next_dispatch("GUILD_CREATE", 10s));
  CHECK(g::harness::wait_until([&] { return json_int(fc.stats(), "/backlog_bytes") == 0; }, 10s));
  CHECK(json_int(fc.stats(), "/session_starts_waiting") == 0);
}

TEST_CASE("the gateway also serves wss:// with --tls-cert/--tls-key") {
  auto dir = std::filesystem::temp_directory_path() / ("g-fakecord-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key +
                    " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  fakecord_process fc({"--tls-cert", cert, "--tls-key", key});
  gateway_test_client c(fc.port(), "/?v=10&encoding=json&compress=zlib-stream", true);
  auto hello = c.next();
  REQUIRE(hello);
  CHECK(json_int(*hello, "/op") == 10);
  CHECK_FALSE(c.identify(0, 1).empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("an unsupported API version closes with 4012, an unsupported encoding with 4002") {
  fakecord_process fc;
  {
    gateway_test_client c(fc.port(), "/?v=5&encoding=json");
    CHECK(c.wait_closed() == 4012);
  }
  {
    gateway_test_client c(fc.port(), "/?encoding=json");
    CHECK(c.wait_closed() == 4012);
  }
  {
    gateway_test_client c(fc.port(), "/?v=10&encoding=etf");
    CHECK(c.wait_closed() == 4002);
  }
  CHECK(fc.stats().find(R"("invalid_api_version":2)") != std::string::npos);
}

TEST_CASE("resume URLs without a trailing slash are accepted, as Discord's are") {
  fakecord_process fc;
  gateway_test_client c(fc.port(), "/resume?v=10&encoding=json");
  auto hello = c.next();
  REQUIRE(hello);
  CHECK(json_int(*hello, "/op") == 10);
}
