#pragma once
// The world of the node and cluster tests: a private redis-server and g-fakecord, g-actor processes with their
// own configs and logs, and checks on the stream (per shard and session: contiguous, no duplicate).
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/redis_process.hpp"
#include "sim/harness/wait_until.hpp"
#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace std::chrono_literals;
using g::harness::child_process;
using g::harness::redis_process;
using g::net::redis_connection;
using g::test::fakecord_process;
using g::test::json_int;
using g::test::json_str;

namespace g::test {


// Every entry of the stream as field → value.
inline std::vector<std::map<std::string, std::string>> stream_entries(redis_connection& c) {
  std::vector<std::map<std::string, std::string>> out;
  auto r = c.command({"XRANGE", "g:g:events", "-", "+"});
  for (auto& e : r.elements) {
    auto& fields = e.elements[1].elements;
    auto& m = out.emplace_back();
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) m[fields[i].text] = fields[i + 1].text;
  }
  return out;
}

struct stream_check {
  std::size_t entries = 0;
  std::size_t discontinuities = 0;
  std::map<int, std::int64_t> last_seq;   // per shard
  std::map<std::string, std::size_t> by_node;
};

struct world {
  redis_process redis;
  fakecord_process fc;
  std::filesystem::path dir;
  std::string config;
  int shards;
  std::uint16_t http_port = g::harness::free_tcp_port();

  explicit world(int shard_count, std::vector<std::string> fakecord_args = {})
      : fc(with_defaults(shard_count, std::move(fakecord_args))), shards(shard_count) {
    dir = std::filesystem::temp_directory_path() / ("g-node-test-" + std::to_string(::getpid()) + "-" + std::to_string(redis.port()));
    std::filesystem::create_directories(dir);
    config = write_config("node.toml", "test-token", redis.port());
  }
  ~world() { std::filesystem::remove_all(dir); }

  static std::vector<std::string> with_defaults(int shards, std::vector<std::string> extra) {
    std::vector<std::string> a = {"--guilds", std::to_string(shards * 10), "--shards", std::to_string(shards),
                                  "--max-concurrency", std::to_string(shards), "--token", "test-token"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::string write_config(const std::string& name, const std::string& token, std::uint16_t redis_port,
                           const std::string& extra = "", std::uint64_t intents = 33281, std::uint16_t http = 0,
                           const std::string& cookie = "0123456789abcdef-test", const std::string& node_name = "test",
                           const std::string& cluster_extra = "", const std::string& security_extra = "") {
    auto path = dir / name;
    std::ofstream f(path);
    f << extra << "[node]\nname = \"" << node_name << "\"\nlisten = \"127.0.0.1:0\"\n"
      << "[discord]\ntoken = \"" << token << "\"\nrest_url = \"http://127.0.0.1:" << fc.port() << "/api\"\nintents = " << intents << "\n"
      << "[redis]\nport = " << redis_port << "\n"
      << "[cluster]\nlease_ms = 1500\n" << cluster_extra
      << "[http]\nlisten = \"127.0.0.1:" << (http ? http : http_port) << "\"\n"
      << "[security]\ncookie = \"" << cookie << "\"\n" << security_extra;
    return path.string();
  }

  child_process node(const std::string& cfg = "", const std::string& log = "node.log") {
    return child_process({G_ACTOR_PATH, "--config", cfg.empty() ? config : cfg}, (dir / log).string());
  }
  // Another node of the same cluster: its own name, config and log.
  struct node_options {
    std::string cookie = "0123456789abcdef-test";
    std::string cluster;   // extra lines for [cluster]
    std::string security;  // extra lines for [security]
  };
  std::string node_config(const std::string& name, const node_options& o) {
    return write_config(name + ".toml", "test-token", redis.port(), "", 33281, g::harness::free_tcp_port(), o.cookie, name,
                        o.cluster, o.security);
  }
  child_process extra_node(const std::string& name, const node_options& o) { return node(node_config(name, o), name + ".log"); }
  // Edits a config file this world wrote: `what` (which must be there) becomes `with`.
  static void replace_in_file(const std::string& path, const std::string& what, const std::string& with) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto at = text.find(what);
    REQUIRE(at != std::string::npos);
    std::ofstream(path) << text.replace(at, what.size(), with);
  }
  // The HTTP port a node's config gives it.
  std::uint16_t http_port_of(const std::string& name) {
    std::ifstream f(dir / (name + ".toml"));
    std::string text((std::istreambuf_iterator<char>(f)), {});
    auto at = text.find("[http]\nlisten = \"127.0.0.1:");
    return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(text.substr(at + 27)));
  }
  child_process extra_node(const std::string& name, const std::string& cookie = "0123456789abcdef-test") {
    node_options o;
    o.cookie = cookie;
    return extra_node(name, o);
  }
  // The node id a node announced in its log ("node NAME (ID) running …").
  static std::string node_id(const child_process& p) {
    std::string log = p.log();
    auto at = log.find(" running ");
    auto open = log.rfind('(', at);
    if (at == std::string::npos || open == std::string::npos) return {};
    return log.substr(open + 1, log.find(')', open) - open - 1);
  }
  // Shards per node id, from the status hash.
  std::map<std::string, int> owners() {
    redis_connection c({"127.0.0.1", redis.port(), "", 0, 2000});
    std::map<std::string, int> out;
    auto r = c.command({"HVALS", "g:g:status"});
    for (auto& v : r.elements)
      if (json_str(v.text, "/state") == "ready") ++out[json_str(v.text, "/node")];
    return out;
  }

  // SIGTERM to every node, then each must hand its shards over and exit 0.
  static void stop_all(std::initializer_list<child_process*> nodes, std::chrono::milliseconds timeout = 30s) {
    for (auto* n : nodes) n->signal(SIGTERM);
    for (auto* n : nodes) CHECK_MESSAGE(n->wait(timeout) == 0, n->log());
  }

  std::int64_t stat(const char* p) { return json_int(fc.stats(), p); }
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s) {
    return g::harness::wait_until(pred, timeout, 50ms);
  }
  bool all_connected() {
    auto s = fc.stats();
    return json_int(s, "/connections") == shards &&
           s.find(R"("connected":false)") == std::string::npos && json_int(s, "/sessions/0/seq") > 0;
  }

  stream_check check_stream() {
    redis_connection c({"127.0.0.1", redis.port(), "", 0, 5000});
    stream_check out;
    std::map<int, std::int64_t> last;
    for (auto& f : stream_entries(c)) {
      int shard = std::stoi(f["shard"]);
      std::int64_t seq = std::stoll(f["seq"]);
      if (f["t"] == "READY") last[shard] = 0;
      if (last[shard] + 1 != seq) ++out.discontinuities;
      last[shard] = seq;
      ++out.entries;
      ++out.by_node[f["node"]];
    }
    out.last_seq = last;
    return out;
  }

  // Everything g-fakecord sent each shard's live session is in the stream.
  bool stream_caught_up() {
    auto s = fc.stats();
    auto st = check_stream();
    for (int i = 0; i < shards; ++i) {
      std::string p = "/sessions/" + std::to_string(i) + "/";
      int shard = static_cast<int>(json_int(s, (p + "shard").c_str()));
      if (st.last_seq[shard] != json_int(s, (p + "seq").c_str())) return false;
    }
    return true;
  }
  void load(int rate) { fc.post("/_fakecord/load", "{\"rate\":" + std::to_string(rate) + "}"); }
  // The node's /healthz: its status, and its one line in `body`.
  int healthz(std::string* body = nullptr) {
    int status = 0;
    std::string b = g::test::http_request(http_port, "GET", "/healthz", "", "", status);
    if (body) *body = std::move(b);
    return status;
  }
};


}  // namespace g::test
