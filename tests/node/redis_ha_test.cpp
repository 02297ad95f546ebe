// Redis high availability and partitions (docs/operators.md): a node follows a Sentinel failover and loses nothing
// even when the promoted replica lacks the last commits.
#include "tests/node/node_world.hpp"

#include "net/clock.hpp"
#include "sim/harness/tcp_relay.hpp"

using g::harness::sentinel_process;
using g::harness::tcp_relay;
using namespace g::test;

namespace {

// More lines for a node's [redis] section (write_config puts "[redis]\nport = N\n" there).
void add_redis_lines(const std::string& config, const std::string& lines) {
  world::replace_in_file(config, "[redis]\n", "[redis]\n" + lines);
}

std::string replication_field(redis_connection& c, const std::string& field) {
  auto info = c.command({"INFO", "replication"}).text;
  auto at = info.find(field + ":");
  if (at == std::string::npos) return {};
  return info.substr(at + field.size() + 1, info.find('\r', at) - at - field.size() - 1);
}

}  // namespace

TEST_CASE("a Sentinel failover under load whose replica lacks the last commits: the node follows, resumes from what Redis kept, nothing lost") {
  // w.redis is the replica that the failover promotes; the master is `first`. The replica replicates through a relay
  // that the test holds, so the promoted replica lacks what the master took meanwhile (asynchronous replication).
  world w(2, {"--rate", "300"});
  redis_process first;
  tcp_relay link(first.port());
  redis_connection replica({"127.0.0.1", w.redis.port()});
  REQUIRE(replica.command({"REPLICAOF", "127.0.0.1", std::to_string(link.port())}).ok());
  REQUIRE(w.wait_for([&] { return replication_field(replica, "master_link_status") == "up"; }, 10s));
  sentinel_process sentinel("g-test", first.port(), w.dir.string());
  const std::uint16_t dead_sentinel = g::harness::free_tcp_port();  // the node tries the next one
  add_redis_lines(w.config, "sentinels = [\"127.0.0.1:" + std::to_string(dead_sentinel) + "\", \"127.0.0.1:" +
                                std::to_string(sentinel.port()) + "\"]\nsentinel_master = \"g-test\"\n");
  redis_connection ask({"127.0.0.1", sentinel.port()});
  // The sentinel must know the replica before it can promote it.
  REQUIRE(w.wait_for([&] { return ask.command({"SENTINEL", "replicas", "g-test"}).elements.size() == 1; }, 20s));

  auto node = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  redis_connection on_first({"127.0.0.1", first.port()});
  REQUIRE(w.wait_for([&] { return on_first.command({"XLEN", "g:g:events"}).number > 100; }, 10s));
  CHECK(node.log().find("127.0.0.1:" + std::to_string(first.port())) == std::string::npos);  // no trouble so far

  link.hold(true);  // the replica falls behind
  std::this_thread::sleep_for(1500ms);
  const auto taken_by_first = on_first.command({"XLEN", "g:g:events"}).number;
  REQUIRE(ask.command({"SENTINEL", "FAILOVER", "g-test"}).ok());
  REQUIRE_MESSAGE(w.wait_for([&] { return replication_field(replica, "role") == "master"; }, 20s), node.log());
  const auto kept = replica.command({"XLEN", "g:g:events"}).number;
  CHECK(kept < taken_by_first);  // the promoted replica lacks commits the node made
  link.reset_all();
  link.hold(false);

  // The node finds the new master, commits again, and the shards whose commits were lost resume from the seq the
  // new master has: Discord replays what it lacks.
  REQUIRE_MESSAGE(w.wait_for([&] { return replica.command({"XLEN", "g:g:events"}).number > taken_by_first + 100; }, 20s),
                  node.log());
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.stream_caught_up(); }, 20s), node.log());
  auto st = w.check_stream();
  CHECK(st.discontinuities == 0);  // nothing missing, nothing twice, on the new master
  CHECK(w.stat("/identifies") == 2);  // sessions resumed, never re-identified
  CHECK(w.stat("/resumes") >= 1);
  CHECK(w.healthz() == 200);
  auto log = node.log();
  CHECK_MESSAGE(log.find("resuming from seq") != std::string::npos, log);
  CHECK_MESSAGE(log.find("commits go to Redis at 127.0.0.1:" + std::to_string(w.redis.port()) + " (master \"g-test\") now") !=
                    std::string::npos, log);
  node.signal(SIGTERM);
  CHECK(node.wait(15s) == 0);
}

TEST_CASE("Sentinel settings: a name without sentinels, or no sentinel that knows the name, is one clear line") {
  world w(1);
  auto lone = w.write_config("lone.toml", "test-token", w.redis.port());
  add_redis_lines(lone, "sentinel_master = \"g-test\"\n");
  auto p = w.node(lone, "lone.log");
  CHECK(p.wait(20s) == 2);
  CHECK(p.log().find("[redis] sentinels and sentinel_master go together") != std::string::npos);

  sentinel_process sentinel("other-name", w.redis.port(), w.dir.string());
  auto unknown = w.write_config("unknown.toml", "test-token", w.redis.port());
  add_redis_lines(unknown, "sentinels = [\"127.0.0.1:" + std::to_string(sentinel.port()) + "\"]\nsentinel_master = \"g-test\"\n");
  auto q = w.node(unknown, "unknown.log");
  CHECK(q.wait(20s) == 1);
  auto log = q.log();
  CHECK_MESSAGE(std::count(log.begin(), log.end(), '\n') == 1, log);
  CHECK_MESSAGE(log.find("no sentinel named a master for \"g-test\"") != std::string::npos, log);
}

namespace {

std::int64_t metric_value(world& w, const std::string& sample) {
  int status = 0;
  auto m = g::test::http_request(w.http_port, "GET", "/metrics", "", "", status);
  auto at = m.find("\n" + sample + " ");
  return at == std::string::npos ? INT64_MIN : std::stoll(m.substr(at + sample.size() + 2));
}

}  // namespace

TEST_CASE("a slow consumer group holds trimming back (logged, measured), and past stream_maxlen_hard trimming goes on, loudly") {
  world w(2, {"--rate", "400"});
  redis_connection c({"127.0.0.1", w.redis.port()});
  REQUIRE(c.command({"XGROUP", "CREATE", "g:g:events", "slow", "$", "MKSTREAM"}).ok());
  auto cfg = w.write_config("protect.toml", "test-token", w.redis.port(), "[events]\nstream_maxlen = 300\nstream_maxlen_hard = 1500\n");
  auto node = w.node(cfg);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), node.log());
  // The group has read nothing: the stream grows past stream_maxlen, every entry kept.
  REQUIRE_MESSAGE(w.wait_for([&] { return node.log().find("consumer group 'slow' holds the stream") != std::string::npos; }, 20s),
                  node.log());
  CHECK(metric_value(w, "g_stream_trim_held") == 1);
  CHECK(metric_value(w, "g_stream_group_protected{group=\"slow\"}") == 1);
  CHECK(metric_value(w, "g_stream_group_lag{group=\"slow\"}") > 300);
  auto first = c.command({"XRANGE", "g:g:events", "-", "+", "COUNT", "1"}).elements.at(0).elements.at(0).text;
  auto read = c.command({"XREADGROUP", "GROUP", "slow", "w", "COUNT", "1", "STREAMS", "g:g:events", ">"});
  CHECK(read.elements.at(0).elements.at(1).elements.at(0).elements.at(0).text == first);  // its first entry is still there
  CHECK(w.wait_for([&] { return metric_value(w, "g_stream_group_pending{group=\"slow\"}") == 1; }, 5s));  // read, not acked

  // Past the hard cap the stream is cut, and the loss is logged and counted.
  REQUIRE_MESSAGE(w.wait_for([&] { return node.log().find("had not read") != std::string::npos; }, 20s), node.log());
  auto log = node.log();
  CHECK_MESSAGE(log.find(" ERROR g-actor node=") != std::string::npos, log);
  CHECK_MESSAGE(log.find(": the stream reached stream_maxlen_hard 1500: trimmed") != std::string::npos, log);
  CHECK(metric_value(w, "g_stream_trimmed_unread_total{group=\"slow\"}") > 0);
  CHECK(c.command({"XLEN", "g:g:events"}).number <= 1500 + 400);  // one second's worth of events at most

  // The load stops and the group catches up: the stream goes back to stream_maxlen.
  w.load(0);
  for (int i = 0; i < 20; ++i) {
    auto r = c.command({"XREADGROUP", "GROUP", "slow", "w", "COUNT", "100000", "STREAMS", "g:g:events", "0"});
    auto fresh = c.command({"XREADGROUP", "GROUP", "slow", "w", "COUNT", "100000", "STREAMS", "g:g:events", ">"});
    for (auto* batch : {&r, &fresh})
      if (batch->type == g::net::redis_reply::array)
        for (auto& e : batch->elements.at(0).elements.at(1).elements) c.command({"XACK", "g:g:events", "slow", e.elements.at(0).text});
    if (w.wait_for([&] { return metric_value(w, "g_stream_trim_held") == 0; }, 1500ms)) break;
  }
  CHECK(metric_value(w, "g_stream_trim_held") == 0);
  CHECK_MESSAGE(w.wait_for([&] { return node.log().find("trimmed to stream_maxlen again") != std::string::npos; }, 5s), node.log());
  CHECK(c.command({"XLEN", "g:g:events"}).number <= 300 + 200);
  node.signal(SIGTERM);
  CHECK(node.wait(15s) == 0);
}

namespace {

std::string id_of(world& w, const child_process& p) {
  std::string id;
  w.wait_for([&] { return !(id = world::node_id(p)).empty(); });
  return id;
}

}  // namespace

TEST_CASE("partition: a node cut from Redis gives its shards up once their leases expire, the master moves them, the cut node writes nothing") {
  world w(4, {"--rate", "200"});
  auto a = w.node();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), a.log());
  const std::string a_id = id_of(w, a);
  tcp_relay to_redis(w.redis.port());
  const std::uint16_t b_http = g::harness::free_tcp_port();
  auto b_cfg = w.write_config("b.toml", "test-token", to_redis.port(), "", 33281, b_http, "0123456789abcdef-test", "b");
  auto b = w.node(b_cfg, "b.log");
  const std::string b_id = id_of(w, b);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners()[b_id] == 2 && w.owners()[a_id] == 2; }, 20s), std::string(a.log() + b.log()));
  const auto resumes = w.stat("/resumes");

  to_redis.hold(true);  // b can reach neither Redis nor its leases; a and Redis are fine
  const auto cut = std::chrono::steady_clock::now();
  const auto cut_wall = g::net::wall_ms();
  REQUIRE_MESSAGE(w.wait_for([&] { return w.owners()[a_id] == 4 && w.all_connected(); }, 20s), std::string(a.log() + b.log()));
  const double moved_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - cut).count();
  MESSAGE("shards of the node cut from Redis ready elsewhere after " << moved_s << " s (lease 1.5 s)");
  CHECK(moved_s < 10);
  CHECK_MESSAGE(a.log().find("node " + b_id + " cannot reach Redis") != std::string::npos, a.log());
  CHECK_MESSAGE(b.log().find("giving the shard up (the master moved it") != std::string::npos, b.log());
  int status = 0;
  auto b_metrics = g::test::http_request(b_http, "GET", "/metrics", "", "", status);
  CHECK(b_metrics.find("\ng_node_redis_reachable 0\n") != std::string::npos);
  CHECK(b_metrics.find("\ng_node_shards_given_up_total 2\n") != std::string::npos);
  CHECK(w.stat("/resumes") >= resumes + 2);  // session stealing: resumed, not identified again
  CHECK(w.stat("/identifies") == 4);

  const auto heal_wall = g::net::wall_ms();
  to_redis.hold(false);  // what b sent meanwhile reaches Redis now: fenced, nothing written
  REQUIRE_MESSAGE(w.wait_for([&] { return b.log().find("Redis (127.0.0.1:" + std::to_string(to_redis.port()) + ") answers again") != std::string::npos; }, 10s), b.log());
  std::this_thread::sleep_for(2s);
  // (b may get shards back by rebalancing now: only what it received while cut off must never appear.)
  redis_connection c({"127.0.0.1", w.redis.port()});
  std::size_t from_the_cut = 0;
  for (auto& e : stream_entries(c))
    if (e["node"] == b_id && std::stoll(e["ts"]) >= cut_wall && std::stoll(e["ts"]) <= heal_wall) ++from_the_cut;
  CHECK(from_the_cut == 0);
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected() && w.stream_caught_up(); }, 20s), std::string(a.log() + b.log()));
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/identifies") == 4);
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  world::stop_all({&b, &a});
}

TEST_CASE("partition: a master cut from the other nodes (not from Redis) gives mastership up, the majority elects one, no shard moves") {
  world w(6, {"--rate", "200"});
  auto b = w.extra_node("b");
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected(); }), b.log());
  auto c = w.extra_node("c");
  const std::string c_id = id_of(w, c);  // c's id (its start) before a's: ids order the dialing
  // a is the newest, so b and c dial it: at the relay it advertises, which the test cuts. Priority 1 makes it master.
  const std::uint16_t a_port = g::harness::free_tcp_port();
  tcp_relay to_a(a_port);
  world::node_options o;
  auto a_cfg = w.node_config("a", o);
  world::replace_in_file(a_cfg, "[node]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\n",
                  "[node]\nname = \"a\"\nlisten = \"127.0.0.1:" + std::to_string(a_port) + "\"\nadvertise = \"127.0.0.1:" +
                      std::to_string(to_a.port()) + "\"\npriority = 1\n");
  auto a = w.node(a_cfg, "a.log");
  const std::string a_id = id_of(w, a), b_id = id_of(w, b);
  REQUIRE(a_id > c_id);
  auto logs = [&] { return a.log() + "--- b\n" + b.log() + "--- c\n" + c.log(); };
  REQUIRE_MESSAGE(w.wait_for([&] {
    auto own = w.owners();
    return a.log().find("master of group") != std::string::npos && own[a_id] == 2 && own[b_id] == 2 && own[c_id] == 2;
  }, 30s), logs());
  const auto resumes = w.stat("/resumes");

  to_a.hold(true);
  REQUIRE_MESSAGE(w.wait_for([&] { return a.log().find("giving mastership up") != std::string::npos; }, 15s), logs());
  REQUIRE_MESSAGE(w.wait_for([&] { return b.log().find("master of group") != std::string::npos; }, 15s), logs());
  std::this_thread::sleep_for(3s);
  // Nobody took a's shards: a still renews their leases and commits. No resume, no identify anywhere.
  auto own = w.owners();
  CHECK(own[a_id] == 2);
  CHECK(own[b_id] == 2);
  CHECK(own[c_id] == 2);
  CHECK(w.stat("/resumes") == resumes);
  CHECK(w.stat("/identifies") == 6);
  CHECK_MESSAGE(a.log().find("not claiming mastership without a majority") != std::string::npos, logs());
  CHECK_MESSAGE(a.log().find("node " + b_id + " lost its link but is still connected to Redis") != std::string::npos, logs());

  to_a.hold(false);
  w.load(0);
  REQUIRE_MESSAGE(w.wait_for([&] { return w.all_connected() && w.stream_caught_up(); }, 30s), logs());
  CHECK(w.check_stream().discontinuities == 0);
  CHECK(w.stat("/identifies") == 6);
  CHECK(w.fc.stats().find(R"("violations":{})") != std::string::npos);
  world::stop_all({&a, &b, &c});
}
