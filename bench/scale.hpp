#pragma once
// Scale: thousands of shards on this machine. One node with 2,500 shards (cold start, CPU, memory, heartbeats, zombie
// closes, a kill -9 and restart resuming them all), then four nodes with 10,000 shards and kill -9s of one of them
// (time to the last RESUMED, none lost, none duplicated).
#include <string>

namespace g::bench {

struct scale_options {
  std::string g_actor, fakecord;
  int shards_one = 2500;    // part A: one node
  int shards_many = 10000;  // part B: `nodes` nodes
  int nodes = 4;
  int kills = 3;
  int rate = 2000;           // dispatches/s across all shards, both parts
  int guilds_per_shard = 10;
  int window_seconds = 45;   // part A's steady-state window (CPU, heartbeats)
  int bound_seconds = 60;    // a kill's shards must all be RESUMED within this
  // Live migrations in flight: the default (2) moves a few shards a second, so putting 2,500 shards back on a
  // restarted node (and spreading a cold start over nodes that joined one after another) would take many minutes.
  int max_moves = 64;
  int lease_ms = 0;  // [cluster] lease_ms for every node; 0: the node's default (5,000)
  bool part_one = true, part_many = true;
};

int run_scale(const scale_options& o);

}  // namespace g::bench
