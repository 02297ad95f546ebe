#pragma once
// The master's shard placement as a pure function: every shard without a live owner goes to the live node with
// the fewest shards (lowest shard ids first, which starts IDENTIFYs in bucket order). With nothing unowned, shards
// move off draining nodes (a node stopping hands everything over), then from the busiest node to the idlest until
// counts differ by at most one; at most `max_moves` migrations are in flight and never two of one identify bucket.
//
// Shards that nobody ever owned (a cold start) are placed two identify rounds ahead: no more than
// fresh_in_flight(max_concurrency) are in flight (assigned, not yet ready) at once. More could not IDENTIFY
// sooner anyway, and the rest go to the nodes there are when earlier ones are ready: the cluster's first master,
// alone for its first seconds, would otherwise take every shard and hand most of them on by migration later. A
// shard whose owner died (a takeover) is placed at once: it resumes, and needs no slot.
#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace g::cluster {

struct placement_input {
  int total = 0;
  int max_concurrency = 1;
  std::vector<std::uint64_t> live_nodes;    // nodes that may own shards
  std::set<std::uint64_t> draining;         // live nodes that are leaving: they get nothing and give everything
  // Nodes that keep what they own and get nothing more: one whose link is down but that still holds its leases
  // (a partition between nodes), or one that cannot reach Redis (its shards move once their leases expire).
  std::set<std::uint64_t> holding;
  std::map<int, std::uint64_t> owners;      // shard → node (owners not live count as unowned)
  std::set<int> moving;                     // shards being migrated now
  int max_moves = 1;
  bool rebalance = true;
};

struct placement_plan {
  struct assign {
    int shard;
    std::uint64_t node;
  };
  struct move {
    int shard;
    std::uint64_t from, to;
  };
  std::vector<assign> assigns;
  std::vector<move> moves;
  // The nodes that may receive shards with the most and the fewest once the plan is carried out (ties: the
  // smaller id). Equal counts when there is no such node.
  struct load {
    std::uint64_t node = 0;
    int shards = 0;
  };
  load most, least;
};

constexpr int fresh_in_flight(int max_concurrency) { return max_concurrency * 2 > 64 ? max_concurrency * 2 : 64; }

placement_plan plan_placement(const placement_input& in);

}  // namespace g::cluster
