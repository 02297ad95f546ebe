#include "cluster/assignment.hpp"

#include <algorithm>

namespace g::cluster {

placement_plan plan_placement(const placement_input& in) {
  placement_plan plan;
  if (in.live_nodes.empty() || in.total <= 0) return plan;
  std::map<std::uint64_t, std::vector<int>> load;  // node → its shards (ordered by id for determinism)
  for (auto n : in.live_nodes) load[n];
  std::vector<int> unowned;
  for (int s = 0; s < in.total; ++s) {
    auto it = in.owners.find(s);
    if (it != in.owners.end() && load.count(it->second)) load[it->second].push_back(s);
    else unowned.push_back(s);
  }
  auto least = [&] {
    return std::min_element(load.begin(), load.end(), [](auto& a, auto& b) {
      return a.second.size() != b.second.size() ? a.second.size() < b.second.size() : a.first < b.first;
    });
  };
  for (int s : unowned) {  // ascending shard ids: buckets 0…mc-1 first
    auto it = least();
    it->second.push_back(s);
    plan.assigns.push_back({s, it->first});
  }
  if (!unowned.empty() || !in.rebalance) return plan;

  int in_flight = static_cast<int>(in.moving.size());
  std::set<int> busy_buckets;
  for (int s : in.moving) busy_buckets.insert(s % std::max(1, in.max_concurrency));
  while (in_flight < in.max_moves) {
    auto lo = least();
    auto hi = std::max_element(load.begin(), load.end(), [](auto& a, auto& b) {
      return a.second.size() != b.second.size() ? a.second.size() < b.second.size() : a.first > b.first;
    });
    if (hi->second.size() <= lo->second.size() + 1) break;
    // The highest shard of the busiest node whose bucket is not already moving and that is not moving itself.
    int pick = -1;
    for (auto r = hi->second.rbegin(); r != hi->second.rend(); ++r) {
      if (in.moving.count(*r) || busy_buckets.count(*r % std::max(1, in.max_concurrency))) continue;
      pick = *r;
      break;
    }
    if (pick < 0) break;
    plan.moves.push_back({pick, hi->first, lo->first});
    hi->second.erase(std::find(hi->second.begin(), hi->second.end(), pick));
    lo->second.push_back(pick);
    busy_buckets.insert(pick % std::max(1, in.max_concurrency));
    ++in_flight;
  }
  return plan;
}

}  // namespace g::cluster
