// Several g-actor nodes as one cluster, with real processes on loopback, a private redis-server and g-fakecord
// under load: failover, live migration, rolling restarts, fencing of a frozen node, trust, and introspection.
#include "tests/node/node_world.hpp"

using namespace g::test;

namespace {

// `a` runs every shard; a second node "b" joins and the master migrates half of them to it.
child_process join_and_balance(world& w, child_process& a) {
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b");
  REQUIRE_MESSAGE(w.wait_for([&] {
    auto o = w.owners();
    return o.size() == 2 && o.begin()->second == 2 && o.rbegin()->second == 2;
  }), std::string(a.log() + b.log()));
  return b;
}

}  // namespace

TEST_CASE("cluster: a joining node gets half the shards by live migration, without a new identify") {
  world w(4, {"--rate", "200"});
  auto a = w.node();
  auto b = join_and_balance(w, a);
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.stat("/resumes") == 2);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.all_connected() && w.stream_caught_up(); }, 10s));
  CHECK(w.check_stream().discontinuities == 0);
  world::stop_all({&b, &a}, 15s);
}

TEST_CASE("cluster: a shard fenced by a stale lease (a failover's replica lacked its handover) runs again once that lease expires") {
  world w(4, {"--rate", "200"});
  auto a = w.node();
  auto b = join_and_balance(w, a);
  const std::string b_id = world::node_id(b);
  redis_connection c({"127.0.0.1", w.redis.port(), "", 0, 2000});
  int moved = -1;
  for (int i = 0; i < 4 && moved < 0; ++i)
    if (c.command({"GET", "g:g:owner:4:" + std::to_string(i)}).text == b_id) moved = i;
  REQUIRE(moved >= 0);
  const std::string resuming = "shard=" + std::to_string(moved) + ": resuming session";
  auto resumes = [&] {
    std::string logs = a.log() + b.log();
    std::size_t n = 0;
    for (auto at = logs.find(resuming); at != std::string::npos; at = logs.find(resuming, at + 1)) ++n;
    return n;
  };
  const std::size_t resumed_before = resumes();
  // What a promoted replica that lacked the handover holds: the lease still names the previous owner, here one that
  // has left since (a live one would be rebalanced away from, which hides the case).
  REQUIRE(c.command({"SET", "g:g:owner:4:" + std::to_string(moved), "1576000000000000001", "PX", "1500"}).ok());
  REQUIRE_MESSAGE(w.wait_for([&] { return b.log().find("shard=" + std::to_string(moved) + ": fenced") != std::string::npos; }, 5s),
                  b.log());
  // Placed again once the stale lease expires (1.5 s), not after the master's 15 s without a lease holder.
  REQUIRE_MESSAGE(w.wait_for([&] {
    auto holder = c.command({"GET", "g:g:owner:4:" + std::to_string(moved)});
    return holder.type == g::net::redis_reply::string && w.all_connected() && resumes() > resumed_before;
  }, 6s), std::string(a.log() + b.log()));
  CHECK_MESSAGE(std::string(a.log() + b.log()).find("fenced by a stale lease, which expired") != std::string::npos,
                std::string(a.log() + b.log()));
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.all_connected() && w.stream_caught_up(); }, 10s));
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.check_stream().discontinuities == 0);
  world::stop_all({&b, &a}, 15s);
}

TEST_CASE("cluster: kill -9 of a worker and then of the master: their shards resume elsewhere, no gap") {
  world w(4, {"--rate", "200"});
  auto a = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b");
  REQUIRE(w.wait_for([&] { return w.owners().size() == 2; }));
  b.kill();  // a worker dies
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners().size() == 1 && w.owners().begin()->second == 4 && w.all_connected(); }, 15s),
                  a.log());
  auto c = w.extra_node("c");
  REQUIRE(w.wait_for([&] { return w.owners().size() == 2; }));
  a.kill();  // the master dies
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners().size() == 1 && w.owners().begin()->second == 4 && w.all_connected(); }, 15s),
                  c.log());
  CHECK(c.log().find("master of group") != std::string::npos);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 10s));
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  c.signal(SIGTERM);
  CHECK(c.wait(15s) == 0);
}

TEST_CASE("cluster: a node with the wrong cookie is refused and gets no shard") {
  world w(2);
  auto a = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto intruder = w.extra_node("intruder", "a-completely-different-cookie");
  // a dials the newer node and proves first; the intruder cannot verify that proof, and a never gets one back.
  REQUIRE(w.wait_for([&] { return intruder.log().find("failed authentication") != std::string::npos; }));
  REQUIRE(w.wait_for([&] { return a.log().find("did not prove the cookie") != std::string::npos; }, 20s));
  std::this_thread::sleep_for(2s);
  auto o = w.owners();
  CHECK(o.size() == 1);
  CHECK(w.stat("/identifies") == 2);
  CHECK(w.stat("/resumes") == 0);
  world::stop_all({&intruder, &a});  // the intruder, refused, still stops cleanly
}


namespace {

// Every shard ready, on `nodes` nodes whose counts differ by at most one.
bool balanced(world& w, std::size_t nodes) {
  auto o = w.owners();
  int lo = w.shards, hi = 0, sum = 0;
  for (auto& [id, n] : o) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    sum += n;
  }
  return o.size() == nodes && sum == w.shards && hi - lo <= 1;
}

std::string no_violations = R"("violations":{})";

}  // namespace

TEST_CASE("cluster: a rolling restart of every node in turn: zero identifies, zero loss") {
  world w(6, {"--rate", "300"});
  std::vector<child_process> nodes;
  nodes.push_back(w.extra_node("a"));
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), nodes[0].log());
  nodes.push_back(w.extra_node("b"));
  nodes.push_back(w.extra_node("c"));
  REQUIRE(w.wait_for([&] { return balanced(w, 3); }, 30s));
  const auto identifies = w.stat("/identifies");
  CHECK(identifies == 6);
  for (int round = 2; round >= 0; --round) {
    // SIGTERM: the node's shards move through the master (resume elsewhere), then it exits 0; it comes back as a
    // new node and the cluster rebalances onto it. c and b leave as workers (the master moves their shards), a
    // last, as the master (it moves its own shards, then resigns).
    const std::string name = std::string(1, static_cast<char>('a' + round));
    nodes[static_cast<std::size_t>(round)].signal(SIGTERM);
    CHECK_MESSAGE(nodes[static_cast<std::size_t>(round)].wait(30s) == 0, nodes[static_cast<std::size_t>(round)].log());
    REQUIRE(w.wait_for([&] { return balanced(w, 2) && w.all_connected(); }, 30s));
    nodes[static_cast<std::size_t>(round)] = w.extra_node(name + "2");
    REQUIRE_MESSAGE(w.wait_for([&] { return balanced(w, 3) && w.all_connected(); }, 30s),
                    std::string(nodes[0].log() + nodes[1].log() + nodes[2].log()));
  }
  CHECK(w.stat("/identifies") == identifies);  // every move was a resume
  std::string logs;  // every node's log, also of those that were restarted
  for (auto& f : std::filesystem::directory_iterator(w.dir))
    if (f.path().extension() == ".log") logs += std::string(std::istreambuf_iterator<char>(std::ifstream(f.path()).rdbuf()), {});
  CHECK(logs.find("is leaving: moving its shards") != std::string::npos);  // the master moved them
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 15s));
  auto st = w.check_stream();
  CHECK(st.discontinuities == 0);
  CHECK(st.entries > 300);  // the load ran throughout
  CHECK(w.fc.stats().find(no_violations) != std::string::npos);
  for (auto& n : nodes) n.signal(SIGTERM);
  for (auto& n : nodes) CHECK_MESSAGE(n.wait(30s) == 0, n.log());
}

TEST_CASE("cluster: a frozen node (SIGSTOP) loses its shards and, thawed, is fenced and writes nothing") {
  world w(4, {"--rate", "300"});
  auto b = w.extra_node("b");  // alone: it runs every shard
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), b.log());
  const std::string b_id = world::node_id(b);
  // a outranks b (priority) and becomes master, but does not rebalance: b keeps its shards, and nothing moves
  // back to b once it thaws.
  world::node_options master;
  master.cluster = "rebalance = false\n";
  auto cfg = w.node_config("a", master);
  world::replace_in_file(cfg, "[node]\n", "[node]\npriority = 1\n");
  auto a = w.node(cfg, "a.log");
  const std::string a_id = [&] {
    std::string id;
    w.wait_for([&] { return !(id = world::node_id(a)).empty(); });
    return id;
  }();
  REQUIRE_MESSAGE(w.wait_for([&] { return a.log().find("master of group") != std::string::npos; }, 15s), std::string(a.log() + b.log()));
  CHECK(w.owners()[b_id] == 4);
  // Freeze b: the master notices after connection_timeout_ms and steals b's sessions.
  b.signal(SIGSTOP);
  // (b's frozen sockets stay open until it thaws: g-fakecord cannot finish closing them.)
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners()[a_id] == 4; }, 20s), std::string(a.log() + b.log()));
  std::size_t written_by_b = w.check_stream().by_node[b_id];
  b.signal(SIGCONT);
  REQUIRE_MESSAGE(w.wait_for([&] { return b.log().find("fenced") != std::string::npos; }, 15s), b.log());
  std::this_thread::sleep_for(3s);
  CHECK(w.check_stream().by_node[b_id] == written_by_b);  // fenced: nothing more from b
  CHECK(w.owners()[a_id] == 4);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 15s));
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.fc.stats().find(no_violations) != std::string::npos);
  world::stop_all({&a, &b});
}

TEST_CASE("g-actor status: the cluster as a table and as JSON, for the cookie only") {
  world w(4, {"--rate", "100"});
  auto a = w.extra_node("a");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b");
  REQUIRE(w.wait_for([&] { return balanced(w, 2); }, 30s));
  const std::string cfg = (w.dir / "a.toml").string();
  int runs = 0;
  auto run = [&](std::vector<std::string> args, const std::string& log) {  // a fresh log per run
    child_process p(std::move(args), (w.dir / (std::to_string(++runs) + log)).string());
    int rc = p.wait(20s);
    return std::make_pair(rc, p.log());
  };
  // The view is refreshed every second: wait for one with both nodes owning shards, every shard ready.
  std::pair<int, std::string> json;
  auto owner_names = [&] {
    std::set<std::string> names;
    for (int i = 0; i < 4; ++i) names.insert(json_str(json.second, ("/shards/" + std::to_string(i) + "/owner_name").c_str()));
    return names;
  };
  REQUIRE_MESSAGE(w.wait_for([&] {
    json = run({G_ACTOR_PATH, "status", "--config", cfg, "--json"}, "status.json.log");
    return json.first == 0 && json.second.find("\"state\":\"ready\"") != std::string::npos &&
           json.second.find("\"state\":\"moving\"") == std::string::npos && owner_names() == std::set<std::string>{"a", "b"};
  }, 20s), std::string(json.second + a.log() + b.log()));
  CHECK(json_int(json.second, "/shard_count") == 4);
  CHECK(json_str(json.second, "/master") == world::node_id(a));
  CHECK(json_int(json.second, "/epoch") >= 1);
  CHECK(json_int(json.second, "/nodes/0/shards") + json_int(json.second, "/nodes/1/shards") == 4);
  auto table = run({G_ACTOR_PATH, "status", "--config", cfg}, "status.table.log");
  CHECK(table.first == 0);
  CHECK(table.second.find("master a (" + world::node_id(a) + ")") != std::string::npos);
  CHECK(table.second.find("SHARD") != std::string::npos);
  CHECK(table.second.find("ready") != std::string::npos);
  // A wrong cookie gets nothing.
  auto bad_cfg = w.node_config("intruder", {"another-cookie-0123456789", "", ""});
  auto denied = run({G_ACTOR_PATH, "status", "--config", bad_cfg}, "status.denied.log");
  CHECK(denied.first == 1);
  CHECK(denied.second.find("refused the cookie") != std::string::npos);
  CHECK(denied.second.find("SHARD") == std::string::npos);
  auto nowhere = run({G_ACTOR_PATH, "status", "--peer", "127.0.0.1:" + std::to_string(g::harness::free_tcp_port())}, "x.log");
  CHECK(nowhere.first != 0);
  world::stop_all({&a, &b});
}

TEST_CASE("cluster: mutual TLS from a private CA, and a node with another CA's certificate cannot join") {
  world w(4, {"--rate", "100"});
  auto make_ca = [&](const std::string& dir, std::vector<std::string> names) {
    std::vector<std::string> args = {"/bin/bash", std::string(G_SOURCE_DIR) + "/scripts/make-cluster-ca", (w.dir / dir).string()};
    args.insert(args.end(), names.begin(), names.end());
    child_process p(args, (w.dir / (dir + "-ca.log")).string());
    REQUIRE_MESSAGE(p.wait(30s) == 0, p.log());
  };
  make_ca("ca", {"a", "b"});
  make_ca("rogue", {"x"});
  auto tls = [&](const std::string& dir, const std::string& name) {
    world::node_options o;
    auto d = (w.dir / dir).string();
    o.security = "tls_cert = \"" + d + "/" + name + ".pem\"\ntls_key = \"" + d + "/" + name + ".key\"\ntls_ca = \"" + d + "/ca.pem\"\n";
    return o;
  };
  auto a = w.extra_node("a", tls("ca", "a"));
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  auto b = w.extra_node("b", tls("ca", "b"));
  REQUIRE_MESSAGE(w.wait_for([&] { return balanced(w, 2); }, 30s), std::string(a.log() + b.log()));
  std::this_thread::sleep_for(4s);
  REQUIRE_MESSAGE(balanced(w, 2), std::string(a.log() + b.log()));  // the TLS link holds
  // Same cookie, but a certificate from another CA: the TLS handshake fails, so it never even gets to prove the
  // cookie, never gets a shard, and the nodes' own links stay up (no shard moves).
  auto x = w.extra_node("x", tls("rogue", "x"));
  REQUIRE(w.wait_for([&] { return !world::node_id(x).empty(); }));
  const std::string x_id = world::node_id(x);
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(500ms);
    CHECK(w.owners().count(x_id) == 0);
  }
  CHECK_MESSAGE(balanced(w, 2), std::string(a.log() + b.log()));
  CHECK(a.log().find("is gone") == std::string::npos);
  CHECK(b.log().find("is gone") == std::string::npos);
  CHECK(w.stat("/resumes") == 2);  // only the migration to b
  x.signal(SIGTERM);
  CHECK(x.wait(30s) == 0);
  CHECK(x.log().find("master of group") == std::string::npos);
  w.load(0);
  REQUIRE(w.wait_for([&] { return w.stream_caught_up(); }, 15s));
  auto st = w.check_stream();
  CHECK(st.discontinuities == 0);
  CHECK(st.by_node.count(x_id) == 0);
  CHECK(w.stat("/identifies") == 4);
  // `g-actor status` over the same TLS link.
  child_process status({G_ACTOR_PATH, "status", "--config", (w.dir / "a.toml").string()}, (w.dir / "tls-status.log").string());
  CHECK(status.wait(20s) == 0);
  CHECK(status.log().find("SHARD") != std::string::npos);
  world::stop_all({&a, &b});
}
