#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "cluster/election.hpp"

using namespace g::cluster;

namespace {

// A little network of election machines with instant delivery and a Redis master lease that only one may hold.
struct cluster_sim {
  std::map<std::uint64_t, std::unique_ptr<election>> nodes;
  std::map<std::uint64_t, node_rank> ranks;
  std::set<std::uint64_t> down;
  std::optional<std::uint64_t> lease_holder;
  std::uint64_t epoch = 0;
  std::int64_t now = 0;
  struct msg {
    std::uint64_t from, to;
    election_message m;
    std::uint64_t epoch;
  };
  std::deque<msg> wire;

  void add(node_rank r) {
    ranks[r.id] = r;
    nodes[r.id] = std::make_unique<election>(r, now);
    for (auto& [id, n] : nodes) {
      if (id == r.id || down.count(id)) continue;
      handle(id, n->peer_up(r, now));
      handle(r.id, nodes[r.id]->peer_up(ranks[id], now));
    }
  }
  void kill(std::uint64_t id) {
    down.insert(id);
    if (lease_holder == id) lease_holder.reset();  // its lease expires
    for (auto& [other, n] : nodes)
      if (!down.count(other)) handle(other, n->peer_down(id, now));
  }
  void handle(std::uint64_t self, const election_outputs& outs) {
    for (auto& o : outs) {
      if (o.what == election_output::send) wire.push_back({self, o.to, o.message, o.epoch});
      if (o.what == election_output::resign && lease_holder == self) lease_holder.reset();
      if (o.what == election_output::claim_master) {
        bool granted = !lease_holder || *lease_holder == self;
        if (granted) {
          lease_holder = self;
          ++epoch;
        }
        handle(self, nodes[self]->claim_result(granted, epoch, now));
      }
    }
  }
  void run(std::int64_t until) {
    while (now < until) {
      while (!wire.empty()) {
        auto m = wire.front();
        wire.pop_front();
        if (down.count(m.to) || down.count(m.from)) continue;
        handle(m.to, nodes[m.to]->receive(m.from, m.m, m.epoch, now));
      }
      now += 50;
      for (auto& [id, n] : nodes)
        if (!down.count(id) && n->next_wakeup() <= now) handle(id, n->tick(now));
    }
  }
  std::vector<std::uint64_t> masters() {
    std::vector<std::uint64_t> out;
    for (auto& [id, n] : nodes)
      if (!down.count(id) && n->is_master()) out.push_back(id);
    return out;
  }
  bool agreed(std::uint64_t master) {
    for (auto& [id, n] : nodes)
      if (!down.count(id) && n->master() != master) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("rank: priority first, then the older start, then the smaller id") {
  node_rank a{1, 0, 100}, b{2, 0, 200}, c{3, 5, 300};
  CHECK(a.outranks(b));
  CHECK(c.outranks(a));
  CHECK(node_rank{1, 0, 100}.outranks(node_rank{2, 0, 100}));
}

TEST_CASE("election: the highest-ranked node becomes master and everyone agrees") {
  cluster_sim sim;
  sim.add({10, 0, 1000});
  sim.add({20, 0, 2000});
  sim.add({30, 0, 3000});
  sim.run(5000);
  REQUIRE(sim.masters() == std::vector<std::uint64_t>{10});
  CHECK(sim.agreed(10));
}

TEST_CASE("election: a joining node of equal priority does not depose a healthy master, a higher priority does") {
  cluster_sim sim;
  sim.add({50, 0, 5000});
  sim.run(3000);
  REQUIRE(sim.masters() == std::vector<std::uint64_t>{50});
  auto epoch = sim.nodes[50]->epoch();
  sim.add({5, 0, 9000});  // smaller id but younger: ranks lower
  sim.run(8000);
  CHECK(sim.masters() == std::vector<std::uint64_t>{50});
  CHECK(sim.nodes[50]->epoch() == epoch);
  CHECK(sim.agreed(50));
  sim.kill(50);  // release the lease for the newcomer test below
  sim.run(12000);
  CHECK(sim.masters() == std::vector<std::uint64_t>{5});
  sim.add({7, 3, 20000});  // higher priority: takes over
  sim.run(30000);
  CHECK(sim.masters() == std::vector<std::uint64_t>{7});
  CHECK(sim.agreed(7));
  CHECK(sim.nodes[7]->epoch() > epoch);
}

TEST_CASE("election: when the master dies, the next in rank takes over with a higher epoch") {
  cluster_sim sim;
  for (std::uint64_t id : {1, 2, 3, 4}) sim.add({id, 0, static_cast<std::int64_t>(id) * 100});
  sim.run(5000);
  REQUIRE(sim.masters() == std::vector<std::uint64_t>{1});
  auto first_epoch = sim.nodes[1]->epoch();
  sim.kill(1);
  sim.run(10000);
  REQUIRE(sim.masters() == std::vector<std::uint64_t>{2});
  CHECK(sim.nodes[2]->epoch() > first_epoch);
  CHECK(sim.agreed(2));
}

TEST_CASE("election: random joins and deaths always settle on exactly one master, the best live one") {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    cluster_sim sim;
    int n = 2 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i)
      sim.add({static_cast<std::uint64_t>(100 + i), static_cast<int>(rng() % 2), static_cast<std::int64_t>(rng() % 1000)});
    sim.run(6000);
    int kills = static_cast<int>(rng() % static_cast<unsigned>(n));
    for (int k = 0; k < kills; ++k) {
      std::vector<std::uint64_t> alive;
      for (auto& [id, _] : sim.nodes)
        if (!sim.down.count(id)) alive.push_back(id);
      sim.kill(alive[rng() % alive.size()]);
      sim.run(sim.now + 6000);
    }
    std::uint64_t best = 0;
    for (auto& [id, r] : sim.ranks)
      if (!sim.down.count(id) && (best == 0 || r.outranks(sim.ranks[best]))) best = id;
    auto masters = sim.masters();
    CAPTURE(round);
    REQUIRE(masters.size() == 1);
    // The lease decides when a dead master's lease is still held; with instant expiry the best live node wins.
    CHECK(masters[0] == best);
    CHECK(sim.agreed(masters[0]));
  }
}

TEST_CASE("election: messages from unknown (unauthenticated) nodes and stale epochs are ignored") {
  election e({1, 0, 100}, 0);
  e.peer_up({2, 0, 200}, 0);
  auto out = e.tick(0);
  REQUIRE(out.size() == 1);
  CHECK(out[0].what == election_output::claim_master);
  e.claim_result(true, 5, 0);
  CHECK(e.is_master());
  CHECK(e.receive(99, election_message::coordinator, 100, 0).empty());  // unknown node
  CHECK(e.is_master());
  e.receive(2, election_message::coordinator, 3, 0);  // stale epoch
  CHECK(e.is_master());
  CHECK(e.epoch() == 5);
}

TEST_CASE("election: a master that loses its Redis lease stops being master") {
  election e({1, 0, 100}, 0);
  e.tick(0);
  e.claim_result(true, 1, 0);
  REQUIRE(e.is_master());
  auto out = e.lease_lost(10);
  CHECK_FALSE(e.is_master());
  CHECK(out.front().what == election_output::master_lost);
}

TEST_CASE("election: a returning older node of equal priority (thawed after a freeze) follows the master that took over") {
  // B became master while A, older, was frozen; A comes back still believing it leads, loses its lease.
  election b({2, 0, 200}, 0);
  b.tick(0);
  b.claim_result(true, 7, 0);
  REQUIRE(b.is_master());
  election a({1, 0, 100}, 0);
  a.tick(0);
  a.claim_result(true, 6, 0);
  REQUIRE(a.is_master());
  a.lease_lost(10);  // its lease went to B
  auto out = b.peer_up({1, 0, 100}, 20);
  CHECK(b.is_master());  // not deposed by an older node of equal priority
  REQUIRE(out.size() == 1);
  CHECK(out[0].what == election_output::send);
  CHECK(out[0].message == election_message::coordinator);
  CHECK(out[0].epoch == 7);
  a.peer_up({2, 0, 200}, 20);
  auto follow = a.receive(2, election_message::coordinator, 7, 30);
  REQUIRE(follow.size() == 1);
  CHECK(follow[0].what == election_output::became_follower);
  CHECK(a.master() == std::optional<std::uint64_t>(2));
  CHECK(a.epoch() == 7);
  // A younger node that lost its link to B sends ELECTION to A: A answers and contends, is refused the lease
  // (B holds it), and goes back to following B instead of claiming again every 500 ms.
  a.peer_up({3, 0, 300}, 40);
  auto contend = a.receive(3, election_message::election, 0, 50);
  REQUIRE(std::any_of(contend.begin(), contend.end(), [](auto& o) { return o.what == election_output::claim_master; }));
  CHECK(a.claim_result(false, 0, 60).empty());
  CHECK(a.master() == std::optional<std::uint64_t>(2));
  CHECK(a.tick(5000).empty());  // following: no new claim
  // A higher priority still takes over.
  auto up = b.peer_up({4, 1, 900}, 40);
  CHECK_FALSE(b.is_master());
  CHECK(std::any_of(up.begin(), up.end(), [](auto& o) { return o.what == election_output::resign; }));
}

TEST_CASE("election: with no peer to meet, the first election starts at once instead of after the wait") {
  election e({1, 0, 100}, 1500);  // would wait until 1500 to meet peers
  CHECK(e.next_wakeup() == 1500);
  e.no_peers_to_meet(20);
  CHECK(e.next_wakeup() == 20);
  auto out = e.tick(20);
  REQUIRE(out.size() == 1);
  CHECK(out[0].what == election_output::claim_master);
  election linked({1, 0, 100}, 1500);
  linked.peer_up({2, 0, 50}, 10);  // a peer already linked: the wait stays
  linked.no_peers_to_meet(20);
  CHECK(linked.next_wakeup() == 1500);
}
