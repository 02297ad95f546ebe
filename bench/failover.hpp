#pragma once
// Failover: kill -9 of a node of a 3-node cluster under load, repeated; the time from the kill to the last of its
// shards RESUMED (g-fakecord's count), p50 and p99, with the stream checked for gaps and duplicates afterwards.
#include <string>

namespace g::bench {

struct failover_options {
  std::string g_actor, fakecord;
  int kills = 10;
  int nodes = 3;
  int shards = 12;
  int rate = 500;
};

int run_failover(const failover_options& o);

}  // namespace g::bench
