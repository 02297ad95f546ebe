// Redis high availability and partitions (docs/operators.md): a node follows a Sentinel failover and loses nothing
// even when the promoted replica lacks the last commits.
#include "tests/node/node_world.hpp"

#include "sim/harness/tcp_relay.hpp"

using g::harness::sentinel_process;
using g::harness::tcp_relay;
using namespace g::test;

namespace {

// The lines of a node's config after "[redis]\nport = N\n", which write_config puts there.
void add_redis_lines(const std::string& config, const std::string& lines) {
  std::ifstream in(config);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("[redis]\nport = ");
  REQUIRE(at != std::string::npos);
  at = text.find('\n', at + 8) + 1;
  text.insert(at, lines);
  std::ofstream(config) << text;
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
  CHECK(metric_value(w, "g_stream_group_pending{group=\"slow\"}") >= 0);

  // Past the hard cap the stream is cut, and the loss is logged and counted.
  REQUIRE_MESSAGE(w.wait_for([&] { return node.log().find("had not read") != std::string::npos; }, 20s), node.log());
  auto log = node.log();
  CHECK_MESSAGE(log.find("ERROR: the stream reached stream_maxlen_hard 1500: trimmed") != std::string::npos, log);
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
