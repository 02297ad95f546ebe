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
