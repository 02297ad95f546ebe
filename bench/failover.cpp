#include "bench/failover.hpp"

#include <iostream>
#include <thread>

#include "bench/figures.hpp"
#include "bench/g_cluster.hpp"

namespace g::bench {

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
    kill_outcome k_out = cluster.kill_awaiting_resumes(victim, false, seconds(30));
    if (!k_out.all_resumed()) {
      ++failures;
      std::cerr << "g-bench: kill " << k + 1 << ": shards not resumed within 30 s\n";
    } else {
      all.push_back(k_out.ms);
      (kill_master ? of_master : of_worker).push_back(k_out.ms);
    }
    std::cerr << "g-bench: kill " << k + 1 << " (node " << static_cast<char>('a' + victim) << (kill_master ? ", the master" : "")
              << ", " << k_out.owned << " shards): last RESUMED after " << fmt_ms(k_out.ms) << "\n";
    if (!cluster.restart_and_rebalance(victim, seconds(60))) {
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
            << "| " << o.kills << " | " << fmt_ms(percentile(all, 0.5)) << " | " << fmt_ms(percentile(all, 0.99)) << " | "
            << fmt_ms(max_of(all)) << " | " << fmt_ms(percentile(of_master, 0.5))
            << " / " << fmt_ms(percentile(of_worker, 0.5)) << " | " << failures << " | " << identifies
            << " (" << o.shards << ") | " << st.entries << " | " << st.breaks << " |\n\n"
            << "Time from `kill -9` to the last of that node's shards RESUMED at g-fakecord. Aim: p99 <= 250 ms, no gap, no\n"
            << "duplicate, identifies = shards (every failover is a resume).\n";
  return failures == 0 && st.breaks == 0 ? 0 : 1;
}

}  // namespace g::bench
