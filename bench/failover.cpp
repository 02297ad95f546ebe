#include "bench/failover.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bench/g_cluster.hpp"

namespace g::bench {

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string fmt(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f ms", ms);
  return b;
}

}  // namespace

int run_failover(const failover_options& o) {
  g_cluster_options c;
  c.g_actor = o.g_actor;
  c.fakecord = o.fakecord;
  c.nodes = o.nodes;
  c.shards = o.shards;
  c.guilds = o.shards * 100;
  c.max_concurrency = o.shards;
  c.rate = o.rate;
  g_cluster cluster(c);
  using namespace std::chrono;
  if (!cluster.wait_for([&] { return cluster.balanced(); }, seconds(60))) {
    std::cerr << "g-bench: the cluster did not come up\n" << cluster.logs();
    return 1;
  }
  std::vector<double> all, of_master, of_worker;
  int failures = 0;
  for (int k = 0; k < o.kills; ++k) {
    std::this_thread::sleep_for(seconds(1));
    // Every other kill is the master's: its shards wait for a new master, a worker's only for the placement.
    const int master = cluster.master_index();
    const bool kill_master = k % 2 == 0 && master >= 0;
    const int victim = kill_master ? master : (master + 1 + k / 2 % (o.nodes - 1)) % o.nodes;
    const std::string id = cluster.node_id(victim);
    const int owned = cluster.ready_by_node()[id];
    const std::int64_t base = cluster.fakecord_stat("/resumes");
    auto t0 = steady_clock::now();
    cluster.kill(victim);
    bool done = cluster.wait_for([&] { return cluster.fakecord_stat("/resumes") >= base + owned; }, seconds(30));
    double ms = duration<double, std::milli>(steady_clock::now() - t0).count();
    if (!done) {
      ++failures;
      std::cerr << "g-bench: kill " << k + 1 << ": shards not resumed within 30 s\n";
    } else {
      all.push_back(ms);
      (kill_master ? of_master : of_worker).push_back(ms);
    }
    std::cerr << "g-bench: kill " << k + 1 << " (node " << static_cast<char>('a' + victim) << (kill_master ? ", the master" : "")
              << ", " << owned << " shards): last RESUMED after " << fmt(ms) << "\n";
    cluster.restart(victim);
    if (!cluster.wait_for([&] { return !cluster.node_id(victim).empty() && cluster.node_id(victim) != id && cluster.balanced(); },
                          seconds(60))) {
      std::cerr << "g-bench: the cluster did not rebalance after restarting the node\n";
      return 1;
    }
  }
  cluster.fakecord().post("/_fakecord/load", R"({"rate":0})");
  cluster.wait_for([&] { return cluster.caught_up(); }, seconds(20));
  auto st = cluster.check_stream();
  const std::int64_t identifies = cluster.fakecord_stat("/identifies");
  std::cout << "## failover: kill -9 of one node of " << o.nodes << " (" << o.shards << " shards, " << o.rate
            << " dispatches/s, default cluster settings)\n\n"
            << "| kills | p50 | p99 | max | p50 master / worker | not resumed | identifies (shards) | stream entries | gaps or duplicates |\n"
            << "|---|---|---|---|---|---|---|---|---|\n"
            << "| " << o.kills << " | " << fmt(percentile(all, 0.5)) << " | " << fmt(percentile(all, 0.99)) << " | "
            << fmt(all.empty() ? 0 : *std::max_element(all.begin(), all.end())) << " | " << fmt(percentile(of_master, 0.5))
            << " / " << fmt(percentile(of_worker, 0.5)) << " | " << failures << " | " << identifies
            << " (" << o.shards << ") | " << st.entries << " | " << st.breaks << " |\n\n"
            << "Time from `kill -9` to the last of that node's shards RESUMED at g-fakecord. Aim: p99 <= 250 ms, no gap, no\n"
            << "duplicate, identifies = shards (every failover is a resume).\n";
  return failures == 0 && st.breaks == 0 ? 0 : 1;
}

}  // namespace g::bench
