#pragma once
// The nemesis (docs/operators.md, "Partitions"): three nodes, each in its own network namespace on a private bridge,
// with Redis (a master, a replica, three sentinels) and g-fakecord outside, under steady load; a random schedule of
// faults, one at a time: kill -9, SIGSTOP/SIGCONT, the node's link cut, a node↔node cut, a node↔Redis cut, a Redis
// restart, a Sentinel failover, g-fakecord faults (op 7, op 9, zombie, drop). Each fault is printed with the time the
// cluster took to recover from it (every shard connected and its events committed past the heal). Then the oracle:
// per (shard, session) no gap and no duplicate, the tail complete, identifies only where g-fakecord refused a resume,
// zero protocol violations, and every recovery within the bound. Needs root (network namespaces): without, it says
// so and exits 77 (a skipped test).
#include <string>

namespace g::bench {

struct nemesis_options {
  std::string g_actor, fakecord;
  double seconds = 600;
  unsigned seed = 1;
  int nodes = 3;
  int shards = 12;
  int rate = 800;
  double recovery_bound_s = 30;  // a fault not healed within this is a violation
  double slow_s = 0;             // > 0: a recovery slower than this prints the nodes' logs since the fault (stderr)
};

int run_nemesis(const nemesis_options& o);

}  // namespace g::bench
