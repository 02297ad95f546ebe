#include "bench/nemesis.hpp"

#include <signal.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "bench/g_cluster.hpp"
#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/fakecord_process.hpp"
#include "sim/harness/redis_process.hpp"

namespace g::bench {

namespace {

using namespace std::chrono;
using clock_type = steady_clock;

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// Network namespaces on a private bridge: the bridge holds .1 (g-fakecord) and .2 (Redis and the sentinels); node
// i lives at .(10 + i) in its own namespace, its veth's host end on the bridge. Faults are link states and cuts to
// one address. A cut drops packets silently, as a real partition does (no error, the peer just goes quiet): tc
// sends what goes to the address into an HTB class of 8 bit/s with a one-packet queue. Where tc cannot, a
// blackhole route stands in (the sender gets an error at once: the timeout paths go untested).
std::string teardown_commands;  // for a signal: the namespaces must not outlive the run

void on_signal(int) {
  if (std::system(teardown_commands.c_str()) != 0) {}
  std::_Exit(1);
}

class lab {
 public:
  explicit lab(int nodes) : tag_(std::to_string(::getpid() % 100000)), nodes_(nodes) {
    net_ = "10." + std::to_string(100 + ::getpid() % 100) + ".77.";
    if (::geteuid() != 0) {
      error_ = "needs root to create network namespaces";
      return;
    }
    std::vector<std::string> steps = {"ip link add " + bridge() + " type bridge", "ip addr add " + fakecord_ip() + "/24 dev " + bridge(),
                                      "ip addr add " + redis_ip() + "/24 dev " + bridge(), "ip link set " + bridge() + " up"};
    for (int i = 0; i < nodes; ++i) {
      const std::string ns = name(i), host = "gv" + tag_ + "-" + std::to_string(i), peer = "gp" + tag_ + "-" + std::to_string(i);
      steps.insert(steps.end(), {"ip netns add " + ns, "ip link add " + host + " type veth peer name " + peer,
                                 "ip link set " + peer + " netns " + ns, "ip link set " + host + " master " + bridge(),
                                 "ip link set " + host + " up", in(i, "ip addr add " + node_ip(i) + "/24 dev " + peer),
                                 in(i, "ip link set " + peer + " up"), in(i, "ip link set lo up")});
    }
    for (auto& s : steps)
      if (!sh(s)) {
        error_ = "cannot set up network namespaces ('" + s + "' failed)";
        return;
      }
    silent_ = true;
    for (int i = 0; i < nodes && silent_; ++i) {
      const std::string dev = " dev gp" + tag_ + "-" + std::to_string(i);
      silent_ = sh(in(i, "tc qdisc add" + dev + " root handle 1: htb default 10")) &&
                sh(in(i, "tc class add" + dev + " parent 1: classid 1:10 htb rate 10gbit")) &&
                sh(in(i, "tc class add" + dev + " parent 1: classid 1:20 htb rate 8bit ceil 8bit")) &&
                sh(in(i, "tc qdisc add" + dev + " parent 1:20 handle 20: pfifo limit 1"));
    }
    ok_ = true;
    for (int i = 0; i < nodes; ++i) teardown_commands += "ip netns del " + name(i) + " 2>/dev/null; ";
    teardown_commands += "ip link del " + bridge() + " 2>/dev/null; pkill -f '" + std::string("g-nemesis-") + std::to_string(::getpid()) + "'";
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
  }
  ~lab() {
    for (int i = 0; i < nodes_; ++i) sh("ip netns del " + name(i));
    sh("ip link del " + bridge());
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string name(int i) const { return "gn" + tag_ + "-" + std::to_string(i); }
  std::string fakecord_ip() const { return net_ + "1"; }
  std::string redis_ip() const { return net_ + "2"; }
  std::string node_ip(int i) const { return net_ + std::to_string(10 + i); }
  std::string in(int i, const std::string& cmd) const { return "ip netns exec " + name(i) + " " + cmd; }

  void link(int i, bool up) { sh("ip link set gv" + tag_ + "-" + std::to_string(i) + (up ? " up" : " down")); }
  // What node i sends to `ip` is lost (on) or goes through again (off).
  void cut(int i, const std::string& ip, bool on) {
    if (!silent_) {
      sh(in(i, std::string("ip route ") + (on ? "add" : "del") + " blackhole " + ip + "/32"));
      return;
    }
    const std::string dev = " dev gp" + tag_ + "-" + std::to_string(i), pref = std::to_string(100 + std::stoi(ip.substr(ip.rfind('.') + 1)));
    if (on) sh(in(i, "tc filter add" + dev + " parent 1: protocol ip prio " + pref + " u32 match ip dst " + ip + "/32 flowid 1:20"));
    else sh(in(i, "tc filter del" + dev + " parent 1: prio " + pref));
  }
  bool silent_cuts() const { return silent_; }

 private:
  std::string bridge() const { return "gb" + tag_; }
  std::string tag_, net_, error_;
  int nodes_;
  bool ok_ = false, silent_ = false;
};

struct session_state {
  std::string id;
  std::int64_t seq = 0;
  bool connected = false;
};

std::map<int, session_state> fakecord_sessions(const harness::fakecord_process& fc, std::int64_t* connections = nullptr,
                                               std::int64_t* identifies = nullptr) {
  std::map<int, session_state> out;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(fc.stats()).get(e) != simdjson::SUCCESS) return out;
  if (connections && e["connections"].get(*connections) != simdjson::SUCCESS) *connections = -1;
  if (identifies && e["identifies"].get(*identifies) != simdjson::SUCCESS) *identifies = -1;
  simdjson::dom::array sessions;
  if (e["sessions"].get(sessions) != simdjson::SUCCESS) return out;
  for (auto s : sessions) {
    std::int64_t shard = 0;
    std::string_view id;
    session_state st;
    if (s["shard"].get(shard) || s["session_id"].get(id) || s["seq"].get(st.seq) || s["connected"].get(st.connected)) continue;
    st.id = std::string(id);
    // A shard that identified again leaves its old session behind (resumable, disconnected): the connected one counts.
    auto it = out.find(static_cast<int>(shard));
    if (it == out.end() || (st.connected && !it->second.connected)) out[static_cast<int>(shard)] = st;
  }
  return out;
}

}  // namespace

int run_nemesis(const nemesis_options& o) {
  lab net(o.nodes);
  if (!net.ok()) {
    std::cout << "g-bench nemesis: skipped: " << net.error() << "\n";
    return 77;
  }
  const auto dir = std::filesystem::temp_directory_path() / ("g-nemesis-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  auto redis_args = [&](const char* sub) {
    return std::vector<std::string>{"--bind", "127.0.0.1", net.redis_ip(), "--protected-mode", "no", "--replica-announce-ip", net.redis_ip(),
                                    "--repl-diskless-sync-delay", "0", "--appendonly", "yes",
                                    "--dir", (dir / sub).string()};
  };
  // A restart keeps the data (AOF, flushed on SIGTERM); the sentinels fail over when the master is gone for a second.
  std::vector<std::unique_ptr<harness::redis_process>> redis;
  redis.push_back(std::make_unique<harness::redis_process>(redis_args("a")));
  redis.push_back(std::make_unique<harness::redis_process>(redis_args("b")));
  {
    net::redis_connection replica({"127.0.0.1", redis[1]->port()});
    replica.command({"REPLICAOF", net.redis_ip(), std::to_string(redis[0]->port())});
    // A failover to a replica that never synced would lose everything: the run starts with the replica in sync.
    auto synced = [&] {
      auto info = replica.command({"INFO", "replication"}).text;
      return info.find("master_link_status:up") != std::string::npos && info.find("master_sync_in_progress:0") != std::string::npos;
    };
    for (int i = 0; i < 200 && !synced(); ++i) std::this_thread::sleep_for(milliseconds(50));
    if (!synced()) {
      std::cerr << "g-bench nemesis: the Redis replica did not sync\n";
      return 1;
    }
  }
  std::vector<std::unique_ptr<harness::sentinel_process>> sentinels;
  for (int i = 0; i < 3; ++i)
    sentinels.push_back(std::make_unique<harness::sentinel_process>("g-nemesis", redis[0]->port(), dir.string(), net.redis_ip()));
  net::redis_endpoint through_sentinels("127.0.0.1", 0, "", 0, 3000);
  through_sentinels.sentinel_master = "g-nemesis";
  std::string sentinel_list;
  for (auto& s : sentinels) {
    through_sentinels.sentinels.push_back({"127.0.0.1", s->port()});
    sentinel_list += (sentinel_list.empty() ? "\"" : ", \"") + net.redis_ip() + ":" + std::to_string(s->port()) + "\"";
  }
  net::redis_connection watch(through_sentinels);  // every check's: it follows the master through failovers itself
  harness::fakecord_process fc(o.fakecord, {"--listen", net.fakecord_ip() + ":0", "--shards", std::to_string(o.shards), "--guilds",
                                            std::to_string(o.shards * 20), "--max-concurrency", std::to_string(o.shards),
                                            "--token", "nemesis-token"});

  std::vector<std::string> configs;
  std::vector<harness::child_process> nodes(static_cast<std::size_t>(o.nodes));
  for (int i = 0; i < o.nodes; ++i) {
    auto path = dir / ("n" + std::to_string(i) + ".toml");
    std::ofstream(path) << "[node]\nname = \"n" << i << "\"\nlisten = \"" << net.node_ip(i) << ":7400\"\n"
                        << "[discord]\ntoken = \"nemesis-token\"\nrest_url = \"http://" << fc.host() << ":" << fc.port()
                        << "/api\"\nintents = 33281\n"
                        << "[redis]\nsentinels = [" << sentinel_list << "]\nsentinel_master = \"g-nemesis\"\n"
                        << "[http]\nlisten = \"" << net.node_ip(i) << ":7480\"\n"
                        << "[security]\ncookie = \"nemesis-cookie-0123456789\"\n";
    configs.push_back(path.string());
  }
  auto start = [&](int i) {
    nodes[static_cast<std::size_t>(i)] = harness::child_process(
        {"ip", "netns", "exec", net.name(i), o.g_actor, "--config", configs[static_cast<std::size_t>(i)]},
        (dir / ("n" + std::to_string(i) + ".log")).string());
  };
  auto logs = [&] {
    std::string all;
    for (int i = 0; i < o.nodes; ++i) all += "--- n" + std::to_string(i) + "\n" + nodes[static_cast<std::size_t>(i)].log();
    return all;
  };
  for (int i = 0; i < o.nodes; ++i) start(i);

  // Recovered: every shard connected, and for each its session's events committed at least up to where g-fakecord
  // was when the fault healed (or, for a new session, committed at all).
  auto recovered = [&](const std::map<int, session_state>& at_heal) {
    std::int64_t connections = -1;
    auto now = fakecord_sessions(fc, &connections);
    if (connections != o.shards || static_cast<int>(now.size()) != o.shards) return false;
    for (auto& [shard, s] : now) {
      if (!s.connected) return false;
      auto h = watch.command({"HMGET", "g:g:session:" + std::to_string(o.shards) + ":" + std::to_string(shard), "session_id", "seq"});
      if (h.elements.size() != 2 || h.elements[0].text != s.id) return false;
      const std::int64_t committed = std::atoll(h.elements[1].text.c_str());
      auto before = at_heal.find(shard);
      if (committed < 1 || (before != at_heal.end() && before->second.id == s.id && committed < before->second.seq)) return false;
    }
    return true;
  };
  auto wait_recovered = [&](double bound_s) -> double {
    auto at_heal = fakecord_sessions(fc);
    auto t0 = clock_type::now();
    while (duration<double>(clock_type::now() - t0).count() < bound_s) {
      if (recovered(at_heal)) return duration<double>(clock_type::now() - t0).count();
      std::this_thread::sleep_for(milliseconds(100));
    }
    return -1;
  };
  if (wait_recovered(90) < 0) {
    std::cerr << "g-bench nemesis: the cluster did not come up\n" << logs();
    return 1;
  }
  fc.post("/_fakecord/load", "{\"rate\":" + std::to_string(o.rate) + "}");
  std::cout << "nemesis: " << o.nodes << " nodes in network namespaces, " << o.shards << " shards, " << o.rate
            << " events/s, Redis with a replica and 3 sentinels, seed " << o.seed << ", " << o.seconds << " s; cuts "
            << (net.silent_cuts() ? "drop packets silently (tc)" : "are blackhole routes (no tc here)") << "\n\n"
            << "| t (s) | fault | held (s) | recovered in (s) |\n|---|---|---|---|\n";

  std::mt19937 rng(o.seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* kinds[] = {"kill -9", "SIGSTOP", "link cut", "node-node cut", "node-Redis cut", "Redis restart",
                         "Sentinel failover", "op 7", "op 9", "op 9 resumable", "zombie", "drop"};
  int invalidated = 0, violations = 0, faults = 0;
  double worst = 0;
  std::vector<double> recoveries;
  std::map<std::string, std::vector<double>> by_kind;
  const auto began = clock_type::now();
  while (duration<double>(clock_type::now() - began).count() < o.seconds) {
    const int kind = pick(12);
    const int i = pick(o.nodes), j = (i + 1 + pick(o.nodes - 1)) % o.nodes, shard = pick(o.shards);
    const double hold = 2 + pick(7);  // 2–8 s
    const double t = duration<double>(clock_type::now() - began).count();
    std::vector<std::size_t> log_sizes;  // what each node logs from here on is printed if the fault is not healed
    for (auto& n : nodes) log_sizes.push_back(n.log().size());
    auto print_logs_since_fault = [&] {
      for (std::size_t k = 0; k < nodes.size(); ++k)
        std::cerr << "--- n" << k << "\n" << nodes[k].log().substr(std::min(log_sizes[k], nodes[k].log().size()));
    };
    std::string what = kinds[kind];
    auto held = [&] { std::this_thread::sleep_for(milliseconds(static_cast<int>(hold * 1000))); };
    double held_s = hold;
    switch (kind) {
      case 0:
        what += " n" + std::to_string(i);
        nodes[static_cast<std::size_t>(i)].kill();
        held();
        start(i);
        break;
      case 1:
        what += " n" + std::to_string(i);
        nodes[static_cast<std::size_t>(i)].signal(SIGSTOP);
        held();
        nodes[static_cast<std::size_t>(i)].signal(SIGCONT);
        break;
      case 2:
        what += " n" + std::to_string(i);
        net.link(i, false);
        held();
        net.link(i, true);
        break;
      case 3:
        what += " n" + std::to_string(i) + "-n" + std::to_string(j);
        net.cut(i, net.node_ip(j), true);
        net.cut(j, net.node_ip(i), true);
        held();
        net.cut(i, net.node_ip(j), false);
        net.cut(j, net.node_ip(i), false);
        break;
      case 4:
        what += " n" + std::to_string(i);
        net.cut(i, net.redis_ip(), true);
        held();
        net.cut(i, net.redis_ip(), false);
        break;
      case 5: {  // the current master, stopped (its AOF flushed) and started again
        watch.ensure_connected();
        const std::string at = watch.address();
        held_s = 0;
        for (auto& r : redis)
          if (at.find(":" + std::to_string(r->port()) + " ") != std::string::npos) {
            what += " (" + std::to_string(r->port()) + ")";
            r->stop();
            r->start();
          }
        break;
      }
      case 6: {
        held_s = 0;
        net::redis_connection s({"127.0.0.1", sentinels[static_cast<std::size_t>(pick(3))]->port()});
        auto master_now = [&] {
          auto r = s.command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "g-nemesis"});
          return r.elements.size() == 2 ? r.elements[1].text : std::string();
        };
        const std::string before = master_now();
        auto r = s.command({"SENTINEL", "FAILOVER", "g-nemesis"});
        // The fault lasts until the sentinels name the new master; recovery counts from there.
        for (int k = 0; k < 200 && !r.is_error() && master_now() == before; ++k) std::this_thread::sleep_for(milliseconds(50));
        if (r.is_error()) {
          what += " (refused: " + r.text;
          for (auto& rep : s.command({"SENTINEL", "REPLICAS", "g-nemesis"}).elements)
            for (std::size_t f = 0; f + 1 < rep.elements.size(); f += 2)
              if (rep.elements[f].text == "name" || rep.elements[f].text == "flags" || rep.elements[f].text == "master-link-status" ||
                  rep.elements[f].text == "last-ok-ping-reply" || rep.elements[f].text == "info-refresh")
                what += " " + rep.elements[f].text + "=" + rep.elements[f + 1].text;
          what += ")";
        }
        break;
      }
      default: {
        static const char* fault[] = {"reconnect", "invalidate", "invalidate_resumable", "zombie", "drop"};
        held_s = 0;
        what += " shard " + std::to_string(shard);
        int status = 0;
        fc.post("/_fakecord/fault", "{\"shard\":" + std::to_string(shard) + ",\"kind\":\"" + fault[kind - 7] + "\"}", &status);
        if (kind == 8 && status / 100 == 2) ++invalidated;
        break;
      }
    }
    ++faults;
    const double took = wait_recovered(o.recovery_bound_s);
    if (took < 0) {
      ++violations;
      std::cerr << "== not recovered from '" << what << "' at " << t << " s; the nodes logged meanwhile:\n";
      print_logs_since_fault();
      auto sessions = fakecord_sessions(fc);
      for (auto& [shard, st] : sessions) {
        auto h = watch.command({"HMGET", "g:g:session:" + std::to_string(o.shards) + ":" + std::to_string(shard), "session_id", "seq", "node"});
        auto owner = watch.command({"GET", "g:g:owner:" + std::to_string(o.shards) + ":" + std::to_string(shard)});
        std::cerr << "shard " << shard << ": g-fakecord " << st.id.substr(0, 8) << " seq " << st.seq << (st.connected ? " connected" : " disconnected")
                  << "; Redis " << (h.elements.size() == 3 ? h.elements[0].text.substr(0, 8) + " seq " + h.elements[1].text + " node " + h.elements[2].text : "?")
                  << ", lease " << owner.text << "\n";
      }
    }
    else recoveries.push_back(took);
    if (took >= 0 && o.slow_s > 0 && took > o.slow_s) {  // within the bound, but slow: what the nodes did meanwhile
      std::cerr << "== slow recovery from '" << what << "' at " << t << " s (" << took << " s); the nodes logged meanwhile:\n";
      print_logs_since_fault();
    }
    by_kind[kinds[kind]].push_back(took < 0 ? o.recovery_bound_s : took);
    worst = std::max(worst, took < 0 ? o.recovery_bound_s : took);
    std::printf("| %.1f | %s | %.0f | %s |\n", t, what.c_str(), held_s, took < 0 ? "NOT WITHIN THE BOUND" : std::to_string(took).substr(0, 5).c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(seconds(1));
  }

  // The oracle, once the load stops and the stream catches up.
  fc.post("/_fakecord/load", "{\"rate\":0}");
  const bool settled = wait_recovered(60) >= 0;
  std::this_thread::sleep_for(seconds(2));
  auto now = fakecord_sessions(fc);
  bool tail_complete = settled;
  for (auto& [shard, s] : now) {
    auto h = watch.command({"HMGET", "g:g:session:" + std::to_string(o.shards) + ":" + std::to_string(shard), "session_id", "seq"});
    if (h.elements.size() != 2 || h.elements[0].text != s.id || std::atoll(h.elements[1].text.c_str()) != s.seq) tail_complete = false;
  }
  auto check = check_stream(watch);
  std::int64_t identifies = 0;
  fakecord_sessions(fc, nullptr, &identifies);
  const std::string stats = fc.stats();
  const bool protocol_ok = stats.find(R"("violations":{})") != std::string::npos;
  std::string counted;  // g-fakecord's violations object, as it counts them
  if (auto at = stats.find(R"("violations":)"); at != std::string::npos) counted = stats.substr(at + 13, stats.find('}', at) - at - 12);
  std::sort(recoveries.begin(), recoveries.end());
  auto pct = [&](double p) { return recoveries.empty() ? 0.0 : recoveries[static_cast<std::size_t>(p * (recoveries.size() - 1))]; };
  std::printf("\n| fault | times | recovered in, median | worst |\n|---|---|---|---|\n");
  for (auto& [k, v] : by_kind) {
    std::sort(v.begin(), v.end());
    std::printf("| %s | %zu | %.2f s | %.2f s |\n", k.c_str(), v.size(), v[v.size() / 2], v.back());
  }
  std::printf("\n| oracle | result |\n|---|---|\n");
  std::printf("| faults | %d |\n| recovery p50 / p99 / worst | %.2f s / %.2f s / %.2f s (bound %.0f s) |\n", faults, pct(0.5),
              pct(0.99), worst, o.recovery_bound_s);
  std::printf("| recoveries beyond the bound | %d |\n", violations);
  std::printf("| stream entries | %zu |\n| gaps or duplicates per (shard, session) | %zu |\n", check.entries, check.breaks);
  std::printf("| tail complete | %s |\n", tail_complete ? "yes" : "NO");
  std::printf("| identifies | %lld (expected %d: %d shards + %d op 9) |\n", static_cast<long long>(identifies),
              o.shards + invalidated, o.shards, invalidated);
  std::printf("| protocol violations | %s |\n", protocol_ok ? "0" : counted.c_str());
  const bool pass = violations == 0 && check.breaks == 0 && tail_complete && identifies == o.shards + invalidated && protocol_ok;
  std::printf("\nnemesis: %s\n", pass ? "PASS" : "FAIL");
  if (!pass) std::cerr << logs();
  for (auto& n : nodes) n.signal(SIGTERM);
  for (auto& n : nodes) n.wait(seconds(20));
  std::filesystem::remove_all(dir);
  return pass ? 0 : 1;
}

}  // namespace g::bench
