#include "cluster/assignment.hpp"

#include <algorithm>

namespace g::cluster {

namespace {

using load_map = std::map<std::uint64_t, std::vector<int>>;  // node → its shards (ordered maps: deterministic)

load_map::iterator least(load_map& load) {
  return std::min_element(load.begin(), load.end(), [](auto& a, auto& b) {
    return a.second.size() != b.second.size() ? a.second.size() < b.second.size() : a.first < b.first;
  });
}

load_map::iterator most(load_map& load) {
  return std::max_element(load.begin(), load.end(), [](auto& a, auto& b) {
    return a.second.size() != b.second.size() ? a.second.size() < b.second.size() : a.first > b.first;
  });
}

}  // namespace

placement_plan plan_placement(const placement_input& in) {
  placement_plan plan;
  if (in.live_nodes.empty() || in.total <= 0) return plan;
  load_map load;     // nodes that may receive shards
  load_map leaving;  // draining nodes and what they still own
  for (auto n : in.live_nodes)
    if (!in.holding.count(n)) (in.draining.count(n) ? leaving : load)[n];
  std::vector<int> unowned;
  for (int s = 0; s < in.total; ++s) {
    auto it = in.owners.find(s);
    if (it != in.owners.end() && in.holding.count(it->second)) continue;  // kept, not movable
    if (it != in.owners.end() && load.count(it->second)) load[it->second].push_back(s);
    else if (it != in.owners.end() && leaving.count(it->second)) leaving[it->second].push_back(s);
    else unowned.push_back(s);
  }
  if (load.empty()) return plan;  // everyone is leaving: nowhere to put anything
  auto with_spread = [&] {
    auto lo = least(load), hi = most(load);
    plan.least = {lo->first, static_cast<int>(lo->second.size())};
    plan.most = {hi->first, static_cast<int>(hi->second.size())};
    return std::move(plan);
  };
  const int mc = std::max(1, in.max_concurrency);
  int room = fresh_in_flight(mc) - static_cast<int>(in.moving.size());
  for (int s : unowned) {  // ascending shard ids: buckets 0…mc-1 first
    const bool fresh = !in.owners.count(s);
    if (fresh && room <= 0) continue;  // placed when earlier ones are ready, on the nodes there are by then
    if (fresh) --room;
    auto it = least(load);
    it->second.push_back(s);
    plan.assigns.push_back({s, it->first});
  }
  if (!unowned.empty()) return with_spread();

  int in_flight = static_cast<int>(in.moving.size());
  std::set<int> busy_buckets;
  for (int s : in.moving) busy_buckets.insert(s % mc);
  auto movable = [&](int s) { return !in.moving.count(s) && !busy_buckets.count(s % mc); };
  auto move = [&](int s, std::uint64_t from, load_map::iterator to) {
    plan.moves.push_back({s, from, to->first});
    to->second.push_back(s);
    busy_buckets.insert(s % mc);
    ++in_flight;
  };

  // A leaving node's shards first, whatever `rebalance` says: it is about to stop.
  for (auto& [node, shards] : leaving)
    for (int s : shards)
      if (in_flight < in.max_moves && movable(s)) move(s, node, least(load));
  if (!in.rebalance) return with_spread();

  while (in_flight < in.max_moves) {
    auto lo = least(load);
    auto hi = most(load);
    if (hi->second.size() <= lo->second.size() + 1) break;
    // The highest shard of the busiest node whose bucket is not already moving and that is not moving itself.
    auto pick = std::find_if(hi->second.rbegin(), hi->second.rend(), movable);
    if (pick == hi->second.rend()) break;
    int s = *pick;
    hi->second.erase(std::find(hi->second.begin(), hi->second.end(), s));
    move(s, hi->first, lo);
  }
  return with_spread();
}

}  // namespace g::cluster
