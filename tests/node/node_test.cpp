// One g-actor node end to end, with a private redis-server and g-fakecord under load: crash and restart,
// graceful stop, fencing, bad commands, a stalled Redis, and configuration errors.
#include "tests/node/node_world.hpp"

using namespace g::test;

TEST_CASE("kill -9 under load: every shard resumes on restart, no new identify, no gap, no duplicate") {
  world w(4, {"--rate", "300"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  std::this_thread::sleep_for(1s);
  node.kill();
  std::this_thread::sleep_for(300ms);
  auto again = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stat("/resumes") == 4 && w.all_connected(); }), again.log());
  std::this_thread::sleep_for(1s);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 10s));
  again.signal(SIGTERM);
  CHECK(again.wait(10s) == 0);
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  auto st = w.check_stream();
  CHECK(st.entries > 500);
  CHECK(st.discontinuities == 0);
  CHECK(st.by_node.size() == 2);  // both node runs wrote
}

TEST_CASE("SIGTERM hands the shards over: leases released, the next start resumes at once") {
  world w(2, {"--rate", "100"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  // Steady state first: a stop racing a shard's first second is tracked separately (see the closing note).
  REQUIRE(w.wait_for([&] { return w.check_stream().last_seq.size() == 2; }, 10s));
  std::this_thread::sleep_for(500ms);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  CHECK_MESSAGE(c.command({"EXISTS", "g:g:owner:2:0", "g:g:owner:2:1"}).number == 0, node.log());
  auto t0 = std::chrono::steady_clock::now();
  auto again = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stat("/resumes") == 2 && w.all_connected(); }),
                  std::string(again.log() + w.fc.stats() + "\nowner0=" + c.command({"GET", "g:g:owner:2:0"}).text +
                              " owner1=" + c.command({"GET", "g:g:owner:2:1"}).text + " session0=" +
                              c.command({"HGET", "g:g:session:2:0", "seq"}).text + " session1=" +
                              c.command({"HGET", "g:g:session:2:1", "seq"}).text));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 10s));
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/identifies") == 2);
}

TEST_CASE("fencing: when another node id takes a shard's lease, the original writes nothing more for it") {
  world w(2, {"--rate", "200"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  std::this_thread::sleep_for(500ms);
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  REQUIRE(c.command({"SET", "g:g:owner:2:0", "intruder", "PX", "60000"}).ok());
  // Within a renewal period the node notices and stops the shard.
  REQUIRE_MESSAGE(w.wait_for([&] { return node.log().find("shard=0: fenced") != std::string::npos; }, 5s), node.log());
  auto count_shard0 = [&] {
    std::size_t n = 0;
    for (auto& f : stream_entries(c)) n += f["shard"] == "0";
    return n;
  };
  std::size_t before = count_shard0();
  std::this_thread::sleep_for(1500ms);
  CHECK(count_shard0() == before);
  CHECK(w.check_stream().discontinuities == 0);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("bad backend commands are rejected with a reason and never cost the connection") {
  world w(1);
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  std::string big = R"({"x":")" + std::string(5000, 'a') + "\"}";
  c.command({"XADD", "g:g:commands:0", "*", "op", "2", "d", R"({"token":"x"})"});
  c.command({"XADD", "g:g:commands:0", "*", "op", "3", "d", "{not json"});
  c.command({"XADD", "g:g:commands:0", "*", "op", "3", "d", big});
  c.command({"XADD", "g:g:commands:0", "*", "op", "three", "d", "{}"});
  c.command({"XADD", "g:g:commands:0", "*", "op", "3", "d", R"({"since":null,"activities":[],"status":"idle","afk":false})"});
  REQUIRE_MESSAGE(w.wait_for([&] { return w.fc.get("/_fakecord/received?op=3").find("idle") != std::string::npos; }), node.log());
  CHECK(w.wait_for([&] { return node.log().find("rejected") != std::string::npos; }));
  std::this_thread::sleep_for(300ms);
  CHECK(w.stat("/connections") == 1);
  CHECK(w.stat("/identifies") == 1);
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  CHECK(c.command({"XLEN", "g:g:commands:0"}).number == 0);  // each command handled once
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("command results: every command gets one answer, sent or rejected with its reason, unknown shards too") {
  world w(2);
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  // Entry ids are per stream: (shard, id) names a command.
  std::map<std::string, std::string> expected;  // "shard/id" → reason
  auto add = [&](const std::string& key, std::vector<std::string> fields, const std::string& reason) {
    std::vector<std::string_view> argv = {"XADD", key, "*"};
    argv.insert(argv.end(), fields.begin(), fields.end());
    expected[key.substr(key.rfind(':') + 1) + "/" + c.command(argv).text] = reason;
  };
  const std::string presence = R"({"since":null,"activities":[],"status":"idle","afk":false})";
  add("g:g:commands:0", {"op", "2", "d", R"({"token":"x"})"}, "unknown_op");
  add("g:g:commands:0", {"op", "three", "d", "{}"}, "unknown_op");
  add("g:g:commands:0", {"op", "3", "d", "{not json"}, "bad_json");
  add("g:g:commands:0", {"op", "3"}, "bad_json");  // no d
  add("g:g:commands:1", {"op", "3", "d", R"({"x":")" + std::string(5000, 'a') + "\"}"}, "too_large");
  add("g:g:commands:1", {"op", "3", "d", presence}, "sent");
  add("g:g:commands:7", {"op", "3", "d", presence}, "unknown_shard");  // 2 shards: 7 does not exist
  add("g:g:commands:seven", {"op", "3", "d", presence}, "unknown_shard");
  std::map<std::string, std::pair<std::string, std::string>> answers;  // id → (status, reason)
  auto read_answers = [&] {
    answers.clear();
    auto r = c.command({"XRANGE", "g:g:command_results", "-", "+"});
    for (auto& e : r.elements) {
      std::map<std::string, std::string> f;
      for (std::size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
        f[e.elements[1].elements[i].text] = e.elements[1].elements[i + 1].text;
      std::string name = f["shard"] + "/" + f["id"];
      CHECK_MESSAGE(!answers.count(name), "answered twice: " << name);
      answers[name] = {f["status"], f["reason"]};
    }
    return answers.size() >= expected.size();
  };
  REQUIRE_MESSAGE(w.wait_for(read_answers, 15s), node.log());
  CHECK(answers.size() == expected.size());
  for (auto& [id, reason] : expected) {
    INFO(id << " expected " << reason);
    CHECK(answers[id].second == reason);
    CHECK(answers[id].first == (reason == "sent" ? "sent" : "rejected"));
  }
  for (auto key : {"g:g:commands:0", "g:g:commands:1", "g:g:commands:7", "g:g:commands:seven"})
    CHECK(c.command({"XLEN", key}).number == 0);  // nothing left lying
  CHECK(w.fc.get("/_fakecord/received?op=3").find("idle") != std::string::npos);
  int status = 0;
  std::string metrics = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
  CHECK(metrics.find("g_node_rejected_commands_total 7") != std::string::npos);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("a stalled Redis under load loses nothing: events wait, then commit in order") {
  world w(2, {"--rate", "200"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  std::this_thread::sleep_for(500ms);
  ::kill(w.redis.pid(), SIGSTOP);
  std::this_thread::sleep_for(3s);
  ::kill(w.redis.pid(), SIGCONT);
  std::this_thread::sleep_for(1s);
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stream_caught_up(); }, 20s), node.log());
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/connections") == 2);
  CHECK(w.stat("/identifies") == 2);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("event filters: excluded events are not written, but the committed seq moves past them") {
  world w(1, {"--rate", "300"});
  auto cfg = w.write_config("filtered.toml", "test-token", w.redis.port(), "[events]\nexclude = [\"TYPING_START\"]\n",
                            33281 | 2048);
  auto node = w.node(cfg);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  std::this_thread::sleep_for(1s);
  w.load(0);
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  REQUIRE(w.wait_for([&] {
    auto rec = c.command({"HGET", "g:g:session:1:0", "seq"});
    return rec.type == g::net::redis_reply::string && std::stoll(rec.text) == json_int(w.fc.stats(), "/sessions/0/seq");
  }, 10s));
  std::size_t typing = 0, messages = 0;
  for (auto& f : stream_entries(c)) {
    typing += f["t"] == "TYPING_START";
    messages += f["t"] == "MESSAGE_CREATE";
  }
  CHECK(typing == 0);
  CHECK(messages > 50);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("HTTP: /metrics in Prometheus text, /healthz, /status.json") {
  world w(2, {"--rate", "100", "--heartbeat-ms", "500"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  int status = 0;
  REQUIRE(w.wait_for([&] { return w.healthz() == 200; }));
  std::string metrics = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
  CHECK(status == 200);
  CHECK(metrics.find("# TYPE g_shard_ready gauge") != std::string::npos);
  CHECK(metrics.find("g_shard_ready{shard=\"1\"} 1") != std::string::npos);
  CHECK(metrics.find("g_node_redis_errors_total 0") != std::string::npos);
  CHECK(metrics.find("g_node_identifies_total 2") != std::string::npos);
  CHECK(metrics.find("g_shard_events_total{shard=\"0\"}") != std::string::npos);
  // The heartbeat round trip reaches the metrics (it stayed -1 while on_heartbeat_ack's figure was dropped).
  REQUIRE(w.wait_for([&] {
    metrics = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
    return metrics.find("g_shard_latency_ms{shard=\"0\"} -1") == std::string::npos &&
           metrics.find("g_shard_latency_ms{shard=\"1\"} -1") == std::string::npos;
  }, 5s));
  CHECK(metrics.find("g_shard_latency_ms{shard=\"0\"} ") != std::string::npos);
  std::string js;
  REQUIRE(w.wait_for([&] {  // the cluster view is read every second
    js = g::test::http_request(w.http_port, "GET", "/status.json", "", "", status);
    return status == 200 && json_str(js, "/shards/1/state") == "ready" && json_int(js, "/shards/0/seq") > 0 &&
           json_int(js, "/shards/0/latency_ms") >= 0;
  }));
  CHECK(json_int(js, "/shard_count") == 2);
  CHECK(json_str(js, "/shards/1/state") == "ready");
  CHECK(json_int(js, "/shards/0/seq") > 0);
  CHECK(json_int(js, "/nodes/0/shards") == 2);
  std::string mine = g::test::http_request(w.http_port, "GET", "/node.json", "", "", status);
  CHECK(json_int(mine, "/shards/1/events") >= 0);
  std::string page = g::test::http_request(w.http_port, "GET", "/", "", "", status);
  CHECK(status == 200);
  CHECK(page.find("id=\"shards\"") != std::string::npos);  // the status page, compiled in
  g::test::http_request(w.http_port, "GET", "/nothing", "", "", status);
  CHECK(status == 404);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("the session start reserve: IDENTIFY stops loudly before the budget runs out, resumes go on") {
  world w(3, {"--session-limit", "12"});  // 12 starts left, reserve 10: two shards may identify
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return node.log().find("IDENTIFY refused") != std::string::npos; }), node.log());
  REQUIRE(w.wait_for([&] { return w.stat("/identifies") == 2; }));
  std::this_thread::sleep_for(500ms);
  CHECK(w.stat("/identifies") == 2);
  CHECK(w.fc.stats().find("session_limit") == std::string::npos);  // Discord's limit never hit
  int status = 0;
  auto metrics = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
  REQUIRE(status == 200);
  auto refused = metrics.find("\ng_node_identify_refused_total ");
  REQUIRE(refused != std::string::npos);
  CHECK(std::stoll(metrics.substr(refused + 31)) >= 1);  // counted, for an alert
  // Resumes go on: a shard told to reconnect resumes its session, reserve or not.
  w.fc.post("/_fakecord/fault", R"({"shard":0,"kind":"reconnect"})");
  CHECK(w.wait_for([&] { return w.stat("/resumes") == 1; }));
  CHECK(w.stat("/identifies") == 2);
  node.signal(SIGTERM);
  CHECK(node.wait(15s) == 0);
}

TEST_CASE("a Redis restart under load (empty, no persistence): sessions stay up, the stream is rebuilt without gaps") {
  world w(2, {"--rate", "200"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  std::this_thread::sleep_for(500ms);
  w.redis.kill();
  std::this_thread::sleep_for(2s);
  w.redis.start();
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  REQUIRE(w.wait_for([&] { return c.command({"GET", "g:g:shard_count"}).text == "2"; }, 10s));  // re-registered
  std::this_thread::sleep_for(1s);
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stream_caught_up(); }, 20s), node.log());
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/connections") == 2);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("member chunking: large guilds get their members requested, within Discord's limits") {
  world w(1, {"--members", "300"});  // 301 members > large_threshold 250: every guild is large
  auto cfg = w.write_config("chunking.toml", "test-token", w.redis.port(), "[chunking]\nenabled = true\n", 33281 | 2);
  auto node = w.node(cfg);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  auto chunked_guilds = [&] {
    std::set<std::string> guilds;
    for (auto& f : stream_entries(c))
      if (f["t"] == "GUILD_MEMBERS_CHUNK") guilds.insert(json_str(f["d"], "/guild_id"));
    return guilds.size();
  };
  // 10 guilds, one request a second.
  CHECK_MESSAGE(w.wait_for([&] { return chunked_guilds() == 10; }, 30s), node.log());
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  CHECK(w.check_stream().discontinuities == 0);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}

TEST_CASE("configuration and dependency errors: one clear line and a non-zero exit") {
  world w(1);
  auto run = [&](const std::string& cfg) {
    std::filesystem::remove(w.dir / "node.log");
    auto p = w.node(cfg);
    int rc = p.wait(20s);
    auto log = p.log();
    CHECK_MESSAGE(std::count(log.begin(), log.end(), '\n') == 1, log);  // one clear line, whatever the mistake
    return std::make_pair(rc, log);
  };
  auto missing = run((w.dir / "absent.toml").string());
  CHECK(missing.first == 2);
  CHECK(missing.second.find("cannot read config file") != std::string::npos);

  auto no_redis = run(w.write_config("no-redis.toml", "test-token", g::harness::free_tcp_port()));
  CHECK(no_redis.first == 1);
  CHECK(no_redis.second.find("cannot connect to Redis") != std::string::npos);

  auto bad_token = run(w.write_config("bad-token.toml", "wrong-token", w.redis.port()));
  CHECK(bad_token.first == 1);
  CHECK(bad_token.second.find("rejected the bot token") != std::string::npos);

  // A rest_url without /api: the error names the URL tried and the fix.
  std::ifstream good(w.config);
  std::string text((std::istreambuf_iterator<char>(good)), {});
  text.replace(text.find("/api\""), 5, "\"");
  std::ofstream(w.dir / "no-api.toml") << text;
  auto no_api = run((w.dir / "no-api.toml").string());
  CHECK(no_api.first == 1);
  CHECK(no_api.second.find("GET http://127.0.0.1:" + std::to_string(w.fc.port()) + "/v10/gateway/bot answered 404") != std::string::npos);
  CHECK(no_api.second.find("must be the API base ending in /api") != std::string::npos);
}

TEST_CASE("a read-only Redis (a replica after a failover): shards are not ready, one log line each way, nothing lost") {
  world w(2, {"--rate", "200"});
  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  int status = 0;
  REQUIRE(w.wait_for([&] { return w.healthz() == 200; }));
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  // Replica of a master that does not exist: it keeps its data and refuses every write with READONLY.
  REQUIRE(c.command({"REPLICAOF", "127.0.0.1", std::to_string(g::harness::free_tcp_port())}).ok());
  std::string health, metrics;
  REQUIRE_MESSAGE(w.wait_for([&] {
    metrics = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
    return metrics.find("g_shard_ready{shard=\"0\"} 0") != std::string::npos &&
           metrics.find("g_shard_ready{shard=\"1\"} 0") != std::string::npos;
  }, 10s), std::string(metrics + node.log()));
  CHECK(w.healthz(&health) == 503);
  CHECK(health.find("cannot commit to Redis") != std::string::npos);
  CHECK(metrics.find("g_shard_committing{shard=\"0\"} 0") != std::string::npos);
  CHECK(metrics.find("g_node_commit_outages_total 1") != std::string::npos);
  std::this_thread::sleep_for(2s);  // many failed commits: still one line
  auto log = node.log();
  const std::string line = "does not take commits (READONLY";
  CHECK(log.find(line) != std::string::npos);
  CHECK(log.find(line) == log.rfind(line));
  CHECK(log.find("127.0.0.1:" + std::to_string(w.redis.port())) != std::string::npos);
  // A master again: the buffered events commit, in order, and the shards are ready.
  REQUIRE(c.command({"REPLICAOF", "NO", "ONE"}).ok());
  REQUIRE_MESSAGE(w.wait_for([&] { return w.healthz() == 200; }, 15s), node.log());
  CHECK(node.log().find("takes commits again after") != std::string::npos);
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stream_caught_up(); }, 20s), node.log());
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/identifies") == 2);
  node.signal(SIGTERM);
  CHECK(node.wait(10s) == 0);
}
