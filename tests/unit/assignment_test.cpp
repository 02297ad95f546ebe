#include <doctest/doctest.h>

#include <random>

#include "cluster/assignment.hpp"

using namespace g::cluster;

namespace {
std::map<std::uint64_t, int> counts(const placement_input& in, const placement_plan& p) {
  std::map<std::uint64_t, int> c;
  for (auto n : in.live_nodes) c[n] = 0;
  std::map<int, std::uint64_t> owners;
  for (auto& [s, n] : in.owners)
    if (c.count(n)) owners[s] = n;
  for (auto& a : p.assigns) owners[a.shard] = a.node;
  for (auto& m : p.moves) owners[m.shard] = m.to;
  for (auto& [s, n] : owners) ++c[n];
  return c;
}
}  // namespace

TEST_CASE("placement: unowned shards go to the node with the fewest, lowest shard ids first") {
  placement_input in;
  in.total = 8;
  in.max_concurrency = 2;
  in.live_nodes = {1, 2, 3};
  in.owners = {{0, 1}, {1, 1}, {2, 1}};
  auto p = plan_placement(in);
  REQUIRE(p.assigns.size() == 5);
  CHECK(p.assigns[0].shard == 3);
  CHECK(p.moves.empty());  // no rebalancing while shards are unowned
  auto c = counts(in, p);
  CHECK(c[1] == 3);
  CHECK(c[2] == 3);  // 2 and 3 took turns
  CHECK(c[3] == 2);
}

TEST_CASE("placement: shards of a dead node count as unowned") {
  placement_input in;
  in.total = 4;
  in.live_nodes = {1, 2};
  in.owners = {{0, 1}, {1, 9}, {2, 9}, {3, 2}};
  auto p = plan_placement(in);
  REQUIRE(p.assigns.size() == 2);
  CHECK(p.assigns[0].shard == 1);
  CHECK(p.assigns[1].shard == 2);
}

TEST_CASE("placement: a cold start places two identify rounds ahead, the rest once earlier ones are ready") {
  placement_input in;
  in.total = 1000;
  in.max_concurrency = 64;  // 128 at once
  in.live_nodes = {1};      // the first master, alone for now
  auto p = plan_placement(in);
  REQUIRE(p.assigns.size() == 128);
  CHECK(p.assigns.front().shard == 0);
  CHECK(p.assigns.back().shard == 127);
  for (auto& a : p.assigns) {
    in.owners[a.shard] = a.node;
    in.moving.insert(a.shard);  // in flight until ready
  }
  CHECK(plan_placement(in).assigns.empty());  // nothing more while 128 are in flight
  in.live_nodes = {1, 2, 3, 4};  // the others came
  for (int s = 0; s < 30; ++s) in.moving.erase(s);  // 30 are ready
  p = plan_placement(in);
  REQUIRE(p.assigns.size() == 30);
  CHECK(p.assigns.front().shard == 128);
  CHECK(p.moves.empty());  // no rebalancing while shards are unowned
  for (auto& a : p.assigns) CHECK(a.node != 1);  // to the nodes with fewest: the newcomers
  // Small bots: at least 64 at once, whatever max_concurrency is.
  placement_input small;
  small.total = 100;
  small.live_nodes = {1, 2};
  CHECK(plan_placement(small).assigns.size() == 64);
}

TEST_CASE("placement: a dead node's shards are placed at once, however many, beside a paced cold start") {
  placement_input in;
  in.total = 3000;
  in.max_concurrency = 16;  // 64 fresh at once
  in.live_nodes = {1, 2};
  for (int s = 0; s < 2500; ++s) in.owners[s] = 9;  // node 9 died: its sessions resume elsewhere
  auto p = plan_placement(in);
  std::size_t takeovers = 0, fresh = 0;
  for (auto& a : p.assigns) (a.shard < 2500 ? takeovers : fresh) += 1;
  CHECK(takeovers == 2500);
  CHECK(fresh == 64);
}

TEST_CASE("placement: rebalancing moves one shard at a time within the cap, never two of one bucket") {
  placement_input in;
  in.total = 12;
  in.max_concurrency = 4;
  in.live_nodes = {1, 2};
  for (int s = 0; s < 12; ++s) in.owners[s] = 1;
  in.max_moves = 3;
  auto p = plan_placement(in);
  REQUIRE(p.moves.size() == 3);
  std::set<int> buckets;
  for (auto& m : p.moves) {
    CHECK(m.from == 1);
    CHECK(m.to == 2);
    buckets.insert(m.shard % 4);
  }
  CHECK(buckets.size() == 3);
  in.moving = {p.moves[0].shard, p.moves[1].shard, p.moves[2].shard};
  CHECK(plan_placement(in).moves.empty());  // the cap is reached
}

TEST_CASE("placement: repeated rounds converge to counts that differ by at most one") {
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    placement_input in;
    in.total = 1 + static_cast<int>(rng() % 64);
    in.max_concurrency = 1 + static_cast<int>(rng() % 16);
    int nodes = 1 + static_cast<int>(rng() % 6);
    for (int n = 0; n < nodes; ++n) in.live_nodes.push_back(static_cast<std::uint64_t>(n + 1));
    for (int s = 0; s < in.total; ++s)
      if (rng() % 3) in.owners[s] = 1 + rng() % 8;  // some owners are dead nodes
    in.max_moves = 1 + static_cast<int>(rng() % 3);
    for (int step = 0; step < 200; ++step) {
      auto p = plan_placement(in);
      if (p.assigns.empty() && p.moves.empty()) break;
      for (auto& a : p.assigns) in.owners[a.shard] = a.node;
      for (auto& m : p.moves) in.owners[m.shard] = m.to;  // migrations complete before the next round
    }
    auto c = counts(in, plan_placement(in));
    int lo = in.total, hi = 0;
    for (auto& [n, k] : c) {
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    CAPTURE(round);
    CHECK(hi - lo <= 1);
    int sum = 0;
    for (auto& [n, k] : c) sum += k;
    CHECK(sum == in.total);
  }
}

TEST_CASE("placement: a draining node gets nothing and hands every shard over, within the cap and bucket-safe") {
  placement_input in;
  in.total = 8;
  in.max_concurrency = 2;
  in.live_nodes = {1, 2, 3};
  for (int s = 0; s < 8; ++s) in.owners[s] = s < 4 ? 1 : (s < 6 ? 2 : 3);
  in.draining = {1};
  in.max_moves = 4;
  in.rebalance = false;  // draining is not rebalancing: it happens anyway
  auto p = plan_placement(in);
  REQUIRE(p.moves.size() == 2);  // two buckets: at most one move of each at a time
  CHECK(p.moves[0].from == 1);
  CHECK(p.moves[0].shard % 2 != p.moves[1].shard % 2);
  for (auto& m : p.moves) CHECK(m.to != 1);
  // Rounds until done: node 1 ends with nothing, the others split everything evenly.
  for (int step = 0; step < 20; ++step) {
    auto q = plan_placement(in);
    if (q.moves.empty() && q.assigns.empty()) break;
    for (auto& m : q.moves) in.owners[m.shard] = m.to;
  }
  auto c = counts(in, plan_placement(in));
  CHECK(c[1] == 0);
  CHECK(c[2] + c[3] == 8);
  CHECK(std::abs(c[2] - c[3]) <= 1);
}

TEST_CASE("placement: unowned shards never go to a draining node, and with everyone draining nothing moves") {
  placement_input in;
  in.total = 4;
  in.live_nodes = {1, 2};
  in.draining = {1};
  auto p = plan_placement(in);
  REQUIRE(p.assigns.size() == 4);
  for (auto& a : p.assigns) CHECK(a.node == 2);
  in.draining = {1, 2};
  in.owners = {{0, 1}, {1, 2}};
  auto q = plan_placement(in);
  CHECK(q.assigns.empty());
  CHECK(q.moves.empty());
}

TEST_CASE("placement: a holding node keeps its shards (live or behind a partition), gets nothing, and nothing moves off it") {
  placement_input in;
  in.total = 6;
  in.max_concurrency = 1;
  in.max_moves = 4;
  in.live_nodes = {1, 2};  // 3 is behind a partition: not live, yet it still renews its leases
  in.owners = {{0, 3}, {1, 3}, {2, 3}, {3, 3}, {4, 1}, {5, 2}};
  in.holding = {3};
  auto p = plan_placement(in);
  CHECK(p.assigns.empty());  // its shards are not unowned
  CHECK(p.moves.empty());    // and 1 and 2 are balanced between themselves
  // A live node that cannot reach Redis: nothing new goes to it, even with shards to place …
  in.live_nodes = {1, 2, 3};
  in.owners = {{0, 3}, {1, 3}};
  p = plan_placement(in);
  REQUIRE(p.assigns.size() == 4);
  for (auto& a : p.assigns) CHECK(a.node != 3);
  // … and rebalancing moves nothing off it, only between the others.
  in.owners = {{0, 3}, {1, 3}, {2, 3}, {3, 3}, {4, 1}, {5, 1}};
  p = plan_placement(in);
  CHECK(p.assigns.empty());
  REQUIRE(p.moves.size() == 1);
  CHECK(p.moves[0].from == 1);
  CHECK(p.moves[0].to == 2);
}
