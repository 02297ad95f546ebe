// The example workers of examples/ against a small cluster: each consumes events through its consumer group,
// acknowledges them, and sends a presence update that reaches Discord (g-fakecord records it).
#include "tests/node/node_world.hpp"

using namespace g::test;

namespace {

// Two nodes of one cluster, one shard each once the second has joined.
std::pair<child_process, child_process> two_nodes(world& w) {
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b");
  REQUIRE(w.wait_for([&] { return w.owners().size() == 2; }, 30s));
  return {std::move(a), std::move(b)};
}

}  // namespace

TEST_CASE("examples: the Node.js and Python workers consume events and send a presence update back") {
  world w(2, {"--rate", "200"});
  auto [a, b] = two_nodes(w);
  const std::string root = G_SOURCE_DIR;
  const std::string port = std::to_string(w.redis.port());
  // Separate consumer groups: each worker sees every event.
  child_process js({"node", root + "/examples/node/worker.mjs", "--redis-port", port, "--consumer-group", "js", "--max-events",
                    "50", "--timeout", "60", "--quiet"},
                   (w.dir / "worker-js.log").string());
  child_process py({"/usr/bin/python3", root + "/examples/python/worker.py", "--redis-port", port, "--consumer-group", "py",
                    "--max-events", "50", "--timeout", "60", "--quiet"},
                   (w.dir / "worker-py.log").string());
  CHECK_MESSAGE(js.wait(90s) == 0, js.log());
  CHECK_MESSAGE(py.wait(90s) == 0, py.log());
  for (auto* p : {&js, &py}) {
    std::string log = p->log();
    auto summary = log.substr(log.rfind("{\"events\""));
    CHECK_MESSAGE(json_int(summary, "/acked") >= 50, log);
    CHECK(json_int(summary, "/duplicates") == 0);
    CHECK(summary.find("\"command_sent\":true") != std::string::npos);
  }
  // Both presence updates went through the node to Discord.
  REQUIRE(w.wait_for([&] {
    std::string got = w.fc.get("/_fakecord/received?op=3");
    std::size_t n = 0;
    for (auto at = got.find("G example worker"); at != std::string::npos; at = got.find("G example worker", at + 1)) ++n;
    return n >= 2;
  }, 10s));
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  for (const char* group : {"js", "py"}) {  // everything read was acknowledged
    auto r = c.command({"XPENDING", "g:g:events", group});
    CHECK(r.elements.size() >= 1);
    CHECK(r.elements[0].number == 0);
  }
  world::stop_all({&a, &b});
}

TEST_CASE("worker libraries: g-worker (Node.js) and g_worker (Python) against a two-node cluster with g-cache") {
  world w(2, {"--rate", "200"});
  auto [a, b] = two_nodes(w);
  auto cache_cfg = w.write_config("cache.toml", "test-token", w.redis.port(), "[cache]\nconsumer = \"c\"\n");
  child_process cache({G_CACHE_PATH, "--config", cache_cfg}, (w.dir / "cache.log").string());
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  REQUIRE(w.wait_for([&] { return c.command({"HLEN", "g:g:cache:guilds"}).number == 20; }, 20s));
  const std::string root = G_SOURCE_DIR, port = std::to_string(w.redis.port());
  child_process js({"node", root + "/tests/clients/check.mjs", port}, (w.dir / "check-js.log").string());
  child_process py({"/usr/bin/python3", root + "/tests/clients/check.py", port}, (w.dir / "check-py.log").string());
  CHECK_MESSAGE(js.wait(90s) == 0, js.log());
  CHECK_MESSAGE(py.wait(90s) == 0, py.log());
  for (auto* p : {&js, &py}) {
    std::string log = p->log();
    CHECK_MESSAGE(log.find("\"ok\":true") != std::string::npos, log);
    CHECK_MESSAGE(log.find("\"sent_all\":2") != std::string::npos, log);
  }
  // The presences the libraries sent reached Discord through both shards.
  std::string got = w.fc.get("/_fakecord/received?op=3");
  CHECK(got.find("g-worker js") != std::string::npos);
  CHECK(got.find("g-worker py") != std::string::npos);
  cache.signal(SIGTERM);
  CHECK(cache.wait(10s) == 0);
  world::stop_all({&a, &b});
}
