#include "bench/g_cluster.hpp"

#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "bench/json_value.hpp"
#include "net/redis/shard_store.hpp"
#include "sim/harness/wait_until.hpp"
#include "net/redis/redis_connection.hpp"

namespace g::bench {

namespace {

std::string json_string(simdjson::dom::element e, const char* pointer) {
  std::string_view v;
  return e.at_pointer(pointer).get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

// Each shard's line of the status hash (`g:g:status`, shard → JSON), parsed; lines that do not parse are skipped.
template <class F>
void each_status(std::uint16_t redis_port, int timeout_ms, F&& f) {
  net::redis_connection c({"127.0.0.1", redis_port, "", 0, timeout_ms});
  simdjson::dom::parser p;
  auto all = c.command({"HGETALL", "g:g:status"});
  for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    simdjson::dom::element e;
    if (p.parse(all.elements[i + 1].text).get(e) == simdjson::SUCCESS) f(all.elements[i].text, e);
  }
}

}  // namespace

g_cluster::g_cluster(const g_cluster_options& o) : o_(o) {
  fc_ = std::make_unique<harness::fakecord_process>(
      o.fakecord, std::vector<std::string>{"--guilds", std::to_string(o.guilds), "--shards", std::to_string(o.shards),
                                           "--max-concurrency", std::to_string(o.max_concurrency), "--token", "bench-token",
                                           "--rate", std::to_string(o.rate), "--session-limit", std::to_string(o.session_limit)});
  dir_ = (std::filesystem::temp_directory_path() / ("g-bench-cluster-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir_);
  std::mt19937_64 rng(std::random_device{}());
  const std::string cookie = "bench-cookie-" + std::to_string(rng());
  for (int i = 0; i < o.nodes; ++i) {
    std::string name(1, static_cast<char>('a' + i));
    std::string path = dir_ + "/" + name + ".toml";
    std::ofstream(path) << "[node]\nname = \"" << name << "\"\nlisten = \"127.0.0.1:0\"\n"
                        << "[discord]\ntoken = \"bench-token\"\nrest_url = \"http://127.0.0.1:" << fc_->port() << "/api\"\n"
                        << "[redis]\nport = " << redis_.port() << "\n"
                        << "[http]\nlisten = \"127.0.0.1:" << harness::free_tcp_port() << "\"\n"
                        << "[security]\ncookie = \"" << cookie << "\"\n"
                        << "[cluster]\n"
                        << (o.max_moves > 0 ? "max_moves = " + std::to_string(o.max_moves) + "\n" : std::string())
                        << (o.lease_ms > 0 ? "lease_ms = " + std::to_string(o.lease_ms) + "\n" : std::string());
    configs_.push_back(path);
    nodes_.emplace_back();
    alive_.push_back(false);
    restart(i);
    if (i == 0) wait_for([&] { return !node_id(0).empty(); }, std::chrono::seconds(10));
  }
}

g_cluster::~g_cluster() {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (alive_[i]) nodes_[i].signal(SIGTERM);
  for (auto& n : nodes_) n.wait(std::chrono::seconds(30));
  for (auto& n : nodes_) n.kill();
  std::filesystem::remove_all(dir_);
}

void g_cluster::kill(int i) {
  nodes_[static_cast<std::size_t>(i)].kill();
  alive_[static_cast<std::size_t>(i)] = false;
}

void g_cluster::restart(int i) {
  auto k = static_cast<std::size_t>(i);
  nodes_[k] = harness::child_process({o_.g_actor, "--config", configs_[k]}, configs_[k] + ".log");
  alive_[k] = true;
}

pid_t g_cluster::node_pid(int i) const { return nodes_[static_cast<std::size_t>(i)].pid(); }

kill_outcome g_cluster::kill_awaiting_resumes(int i, bool restart_at_once, std::chrono::milliseconds bound) {
  using namespace std::chrono;
  kill_outcome out;
  out.owned = ready_by_node()[node_id(i)];
  const std::int64_t resumes = fakecord_stat("/resumes"), identifies = fakecord_stat("/identifies");
  const auto t0 = steady_clock::now();
  kill(i);
  if (restart_at_once) restart(i);
  wait_for([&] { return fakecord_stat("/resumes") >= resumes + out.owned; }, bound);
  out.ms = duration<double, std::milli>(steady_clock::now() - t0).count();
  out.resumed = fakecord_stat("/resumes") - resumes;
  out.identified = fakecord_stat("/identifies") - identifies;
  return out;
}

bool g_cluster::restart_and_rebalance(int i, std::chrono::milliseconds timeout) {
  const std::string before = node_id(i);
  if (alive_[static_cast<std::size_t>(i)]) kill(i);
  restart(i);
  // Every status poll reads the whole hash: a tenth of a second apart is fine-grained enough for a rebalance.
  return wait_for([&] { return !node_id(i).empty() && node_id(i) != before && balanced(); }, timeout,
                  std::chrono::milliseconds(o_.shards > 5000 ? 1000 : o_.shards > 1000 ? 250 : 10));
}

std::string g_cluster::node_id(int i) {
  // The newest "node NAME (ID) running" line of the node's log.
  std::string log = nodes_[static_cast<std::size_t>(i)].log();
  auto at = log.rfind(" running ");
  if (at == std::string::npos) return {};
  auto open = log.rfind('(', at);
  return open == std::string::npos ? std::string() : log.substr(open + 1, log.find(')', open) - open - 1);
}

int g_cluster::master_index() {
  net::redis_connection c({"127.0.0.1", redis_.port(), "", 0, 2000});
  auto m = c.command({"GET", "g:g:master"});
  for (int i = 0; i < nodes(); ++i)
    if (alive_[static_cast<std::size_t>(i)] && m.type == net::redis_reply::string && node_id(i) == m.text) return i;
  return -1;
}

std::map<std::string, int> g_cluster::ready_by_node() {
  net::redis_connection c({"127.0.0.1", redis_.port(), "", 0, 2000});
  std::map<std::string, int> out;
  simdjson::dom::parser p;
  for (auto& v : c.command({"HVALS", "g:g:status"}).elements) {
    simdjson::dom::element e;
    if (p.parse(v.text).get(e) != simdjson::SUCCESS) continue;
    if (json_string(e, "/state") == "ready") ++out[json_string(e, "/node")];
  }
  return out;
}

std::string g_cluster::placement_census() {
  std::map<std::string, std::pair<int, int>> by_node;  // id → ready, leases
  for (auto& [id, n] : ready_by_node()) by_node[id].first = n;
  net::redis_connection c({"127.0.0.1", redis_.port(), "", 0, 5000});
  auto holders = net::shard_store(c, "g", "g-bench").lease_holders(o_.shards);
  if (holders.ok())
    for (auto& h : holders.value) ++by_node[h.empty() ? std::string("(none)") : h].second;
  std::map<std::string, char> names;  // each node's log read once
  for (int i = 0; i < nodes(); ++i)
    if (alive_[static_cast<std::size_t>(i)]) names[node_id(i)] = static_cast<char>('a' + i);
  std::string out;
  for (auto& [id, counts] : by_node) {
    auto named = names.find(id);
    const std::string name = named == names.end() ? id : std::string(1, named->second) + " " + id;
    out += "  " + name + ": " + std::to_string(counts.first) + " READY, " + std::to_string(counts.second) + " leases\n";
  }
  if (!holders.ok()) out += "  leases not read: " + holders.reason + "\n";
  return out;
}

std::string g_cluster::not_ready_census() {
  std::map<std::string, std::vector<std::string>> by_state;  // "node state (error)" → shards
  std::set<int> seen;
  each_status(redis_.port(), 5000, [&](const std::string& shard, simdjson::dom::element e) {
    seen.insert(std::atoi(shard.c_str()));
    const std::string state = json_string(e, "/state");
    if (state == "ready") return;
    const std::string error = json_string(e, "/error");
    by_state[json_string(e, "/node") + " " + state + (error.empty() ? "" : " (" + error + ")")].push_back(shard);
  });
  for (int s = 0; s < o_.shards; ++s)
    if (!seen.count(s)) by_state["(no status)"].push_back(std::to_string(s));
  std::string out;
  for (auto& [key, shards] : by_state) {
    out += "  " + key + ": " + std::to_string(shards.size()) + " shards:";
    for (std::size_t i = 0; i < shards.size() && i < 8; ++i) out += " " + shards[i];
    out += shards.size() > 8 ? " …\n" : "\n";
  }
  return out;
}

shard_health g_cluster::health() {
  shard_health out;
  each_status(redis_.port(), 2000, [&](const std::string& shard, simdjson::dom::element e) {
    std::int64_t latency = -1;
    if (e["latency_ms"].get(latency) == simdjson::SUCCESS && latency >= 0) out.latency_ms.push_back(static_cast<double>(latency));
    // The session machine's words for it (net/gateway/session_machine.cpp).
    if (json_string(e, "/error").find("zombie connection") != std::string::npos)
      out.zombies.insert(json_string(e, "/node") + " " + shard);
  });
  return out;
}

bool g_cluster::balanced() {
  auto ready = ready_by_node();
  int running = 0, lo = o_.shards, hi = 0, sum = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!alive_[i]) continue;
    ++running;
    int n = ready[node_id(static_cast<int>(i))];
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    sum += n;
  }
  return sum == o_.shards && hi - lo <= 1 && running > 0;
}

std::string g_cluster::fakecord_counters() { return fc_->get("/_fakecord/stats?sessions=false"); }

std::int64_t g_cluster::fakecord_stat(const char* pointer) { return json_int(fakecord_counters(), pointer); }

stream_check g_cluster::check_stream() {
  net::redis_connection c({"127.0.0.1", redis_.port(), "", 0, 10000});
  return g::bench::check_stream(c);
}

stream_check check_stream(net::redis_connection& c) {
  stream_check out;
  std::map<std::string, std::int64_t> last;  // shard → seq
  std::string from = "-";
  for (;;) {
    auto r = c.command({"XRANGE", "g:g:events", from, "+", "COUNT", "10000"});
    if (r.elements.empty()) break;
    for (auto& e : r.elements) {
      auto& f = e.elements[1].elements;
      std::string shard, t;
      std::int64_t seq = 0;
      for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
        if (f[i].text == "shard") shard = f[i + 1].text;
        else if (f[i].text == "seq") seq = std::stoll(f[i + 1].text);
        else if (f[i].text == "t") t = f[i + 1].text;
      }
      if (t == "READY") last[shard] = 0;
      if (last[shard] + 1 != seq) ++out.breaks;
      last[shard] = seq;
      ++out.entries;
    }
    from = "(" + r.elements.back().elements[0].text;
  }
  return out;
}

bool g_cluster::caught_up() {
  simdjson::dom::parser p;
  simdjson::dom::element stats;
  if (p.parse(fc_->stats()).get(stats) != simdjson::SUCCESS) return false;
  net::redis_connection c({"127.0.0.1", redis_.port(), "", 0, 10000});
  simdjson::dom::array sessions;
  if (stats["sessions"].get(sessions) != simdjson::SUCCESS) return false;
  // One pipeline for every session's record: at 10,000 shards, one round trip each would take a second a poll.
  std::vector<std::string> keys;
  std::vector<std::pair<std::string_view, std::int64_t>> expected;  // session id, seq
  for (auto s : sessions) {
    std::int64_t shard = 0, seq = 0;
    std::string_view id;
    if (s["shard"].get(shard) || s["seq"].get(seq) || s["session_id"].get(id)) return false;
    keys.push_back("g:g:session:" + std::to_string(o_.shards) + ":" + std::to_string(shard));
    expected.emplace_back(id, seq);
  }
  std::vector<std::vector<std::string_view>> commands;
  for (auto& k : keys) commands.push_back({"HMGET", k, "session_id", "seq"});
  auto replies = c.pipeline(commands);
  if (replies.size() != expected.size()) return false;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    auto& h = replies[i];
    if (h.elements.size() != 2 || h.elements[0].text != expected[i].first ||
        std::stoll("0" + h.elements[1].text) != expected[i].second)
      return false;
  }
  return true;
}

bool g_cluster::wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                         std::chrono::milliseconds poll) {
  return harness::wait_until(pred, timeout, poll);
}

std::string g_cluster::logs() const {
  std::string out;
  for (std::size_t i = 0; i < nodes_.size(); ++i) out += nodes_[i].log();
  return out;
}

}  // namespace g::bench
