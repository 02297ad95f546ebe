// The node's control machine (cluster/node_machine.hpp), without a process: a small world of machines whose
// messages are delivered at once over links that can be cut, and a model of Redis (the master lease with its
// epoch, the shard leases, the named connections) answering their operations. Decisions that only process tests
// reached before (a takeover after a kill, a partition, a lost assignment, a drain, a deposed master's orders, a
// reshard's switch) are asserted here step by step.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "cluster/node_machine.hpp"

using namespace g::cluster;

namespace {

constexpr std::int64_t lease_ms = 5000;

node_settings settings_for(std::uint64_t id, int shards, int priority = 0) {
  node_settings s;
  s.self = {id, priority, static_cast<std::int64_t>(id)};  // a smaller id started earlier: it outranks
  s.group = "test";
  s.redis_endpoint = "redis";
  s.shard_total = shards;
  s.max_concurrency = shards;
  s.lease_ms = lease_ms;
  s.max_moves = 2;
  return s;
}

bool has_note(const node_ready& r, const std::string& part) {
  return std::any_of(r.notes.begin(), r.notes.end(), [&](auto& n) { return n.text.find(part) != std::string::npos; });
}

struct world {
  int shards = 0;
  std::int64_t now = 1000;
  std::map<std::uint64_t, node_machine> nodes;
  std::set<std::uint64_t> dead;
  std::set<std::pair<std::uint64_t, std::uint64_t>> cut;  // links down (both directions listed)
  // Redis.
  std::optional<std::uint64_t> master_holder;
  std::int64_t master_expires = 0;
  std::uint64_t epoch = 0;
  std::map<int, std::uint64_t> holders;    // shard leases of the set in force
  std::set<std::uint64_t> connected;       // named connections
  std::set<std::uint64_t> ignore_assigns;  // nodes that drop assignments (stopping, say): the order is lost
  std::set<std::uint64_t> redis_cut;       // nodes whose Redis operations go unanswered
  std::set<std::uint64_t> never_ready;     // nodes whose shards take their lease but never report ready
  std::set<std::uint64_t> lease_waiters;   // nodes whose shards take only a free lease, else wait for it unready
  std::set<int> unseen_holders;            // shards whose holder the master's owner reads do not show (read late)
  bool rebalance = true;
  // What happened, for the assertions.
  std::map<std::uint64_t, std::set<int>> running;
  std::vector<std::tuple<std::uint64_t, int, bool>> starts;  // node, shard, take over
  std::map<std::uint64_t, node_ready> last;                  // every Ready each node produced, merged since clear()
  std::set<std::uint64_t> left;
  std::deque<std::pair<std::uint64_t, node_input>> queue;

  explicit world(int shard_count) : shards(shard_count) {}

  node_machine& add(std::uint64_t id, int priority = 0) {
    connected.insert(id);
    node_settings s = settings_for(id, shards, priority);
    s.rebalance = rebalance;
    auto& m = nodes.emplace(id, node_machine(s, now)).first->second;
    for (auto& [other, o] : nodes) {
      if (other == id || dead.count(other)) continue;
      queue.push_back({id, node_in::peer_up{settings_for(other, shards).self, now}});
      queue.push_back({other, node_in::peer_up{settings_for(id, shards, priority).self, now}});
    }
    return m;
  }
  bool linked(std::uint64_t a, std::uint64_t b) const {
    return !dead.count(a) && !dead.count(b) && !cut.count({a, b});
  }
  void input(std::uint64_t id, node_input in) { queue.push_back({id, std::move(in)}); }

  void run() {
    for (int guard = 0; !queue.empty() && guard < 100000; ++guard) {
      auto [id, in] = std::move(queue.front());
      queue.pop_front();
      if (dead.count(id) || left.count(id)) continue;
      auto r = nodes.at(id).step(in);
      apply(id, r);
      merge(last[id], r);
    }
  }
  static void merge(node_ready& into, const node_ready& r) {
    into.messages.insert(into.messages.end(), r.messages.begin(), r.messages.end());
    into.redis.insert(into.redis.end(), r.redis.begin(), r.redis.end());
    into.shards.insert(into.shards.end(), r.shards.begin(), r.shards.end());
    into.notes.insert(into.notes.end(), r.notes.begin(), r.notes.end());
    into.reshard_answers.insert(into.reshard_answers.end(), r.reshard_answers.begin(), r.reshard_answers.end());
    if (r.in_force) into.in_force = r.in_force;
    into.leave = into.leave || r.leave;
  }

  void apply(std::uint64_t id, const node_ready& r) {
    for (auto& m : r.messages) deliver(id, m);
    for (auto& o : r.shards) order(id, o);
    for (auto& op : r.redis) answer(id, op);
    if (r.leave) left.insert(id);
  }

  void deliver(std::uint64_t from, const peer_message& m) {
    if (!linked(from, m.to)) return;
    using k = peer_message;
    switch (m.what) {
      case k::elect: return input(m.to, node_in::election_received{from, m.elect_message, m.epoch, now});
      case k::assign:
        if (ignore_assigns.count(m.to)) return;
        return input(m.to, node_in::assigned{from, m.epoch, m.total, m.shard, m.flag});
      case k::release: return input(m.to, node_in::released{from, m.epoch, m.total, m.shard});
      case k::drop: return input(m.to, node_in::dropped{from, m.epoch, m.total, m.shard});
      case k::switched: return input(m.to, node_in::switched{from, m.epoch, m.total});
      case k::abandon: return input(m.to, node_in::abandoned{from, m.epoch, m.total});
      case k::leaving: return input(m.to, node_in::leaving{from, now});
      case k::moved: return input(m.to, node_in::moved{from, m.total, m.shard, now});
      case k::fenced: return input(m.to, node_in::peer_fenced{from, m.total, m.shard, now});
      case k::redis_reach: return input(m.to, node_in::redis_reach{from, m.flag, now});
    }
  }

  // A shard actor: takes its lease at once (stealing it on a takeover) and reports ready; a stop releases it.
  void order(std::uint64_t id, const shard_order& o) {
    switch (o.what) {
      case shard_order::start:
        running[id].insert(o.shard);
        starts.emplace_back(id, o.shard, o.take_over);
        if (lease_waiters.count(id) && holders.count(o.shard) && holders[o.shard] != id) return;
        holders[o.shard] = id;
        if (never_ready.count(id)) return;
        return input(id, node_in::shard_ready{o.total, o.shard, now});
      case shard_order::stop:
      case shard_order::end:
      case shard_order::drop:
        running[id].erase(o.shard);
        if (holders[o.shard] == id) holders.erase(o.shard);
        return input(id, node_in::shard_gone{o.total, o.shard, now});
      case shard_order::promote: return;
    }
  }

  node_ids ids(const std::set<std::uint64_t>& s) const { return node_ids(s.begin(), s.end()); }

  void answer(std::uint64_t id, const redis_op& op) {
    using k = redis_op;
    switch (op.what) {
      case k::claim_master: {
        if (redis_cut.count(id)) return;
        // As the shell's claim round: claimed only by a node that sees a majority of the members Redis witnesses.
        std::set<std::uint64_t> members = op.visible;
        for (auto n : connected)
          if (op.linked.count(n)) members.insert(n);
        const int seen = static_cast<int>(op.visible.size()), of = static_cast<int>(members.size());
        if (2 * op.visible.size() < members.size())
          return input(id, node_in::claimed{store_result<std::uint64_t>::refused("no majority"), false, seen, of, ids(connected), now});
        if (master_holder && *master_holder != id && master_expires > now)
          return input(id, node_in::claimed{store_result<std::uint64_t>::refused("held"), true, seen, of, ids(connected), now});
        master_holder = id;
        master_expires = now + lease_ms;
        return input(id, node_in::claimed{store_result<std::uint64_t>::done(++epoch), true, seen, of, ids(connected), now});
      }
      case k::keep_master:
        if (redis_cut.count(id)) return;
        if (master_holder != id) return input(id, node_in::master_kept{store_result<>::refused("not held"), std::nullopt, now});
        master_expires = now + lease_ms;
        return input(id, node_in::master_kept{store_result<>::done(), ids(connected), now});
      case k::resign_master:
        if (master_holder == id) master_holder.reset();
        return;
      case k::read_owners: {
        if (redis_cut.count(id)) return;
        node_ids h(static_cast<std::size_t>(op.total), 0);
        for (auto& [shard, node] : holders)
          if (shard < op.total && !unseen_holders.count(shard)) h[static_cast<std::size_t>(shard)] = node;
        return input(id, node_in::owners_read{op.total, h, now});
      }
      case k::read_connected: return input(id, node_in::connected_read{ids(connected), op.link_down, now});
      case k::read_reshard:
        return input(id, node_in::reshard_read{store_result<std::pair<int, int>>::done({shards, 0}), now});
      default: return;  // the reshard's operations are answered by the tests that use them
    }
  }

  void tick(std::int64_t ms = 250) {
    now += ms;
    for (auto& [id, m] : nodes)
      if (!dead.count(id)) input(id, node_in::tick{now, redis_cut.count(id) ? now - 2000 : now});
    run();
  }
  void for_ms(std::int64_t ms) {
    for (std::int64_t t = 0; t < ms; t += 250) tick();
  }
  // kill -9: the links go down at the peers, the named connection closes, the leases expire in their time.
  void kill(std::uint64_t id) {
    dead.insert(id);
    connected.erase(id);
    for (auto& [other, m] : nodes)
      if (other != id && !dead.count(other)) input(other, node_in::peer_down{id, now});
    run();
  }
  void cut_link(std::uint64_t a, std::uint64_t b) {
    cut.insert({a, b});
    cut.insert({b, a});
    input(a, node_in::peer_down{b, now});
    input(b, node_in::peer_down{a, now});
    run();
  }
  std::optional<std::uint64_t> master() const {
    std::optional<std::uint64_t> m;
    for (auto& [id, n] : nodes)
      if (!dead.count(id) && !left.count(id) && n.is_master()) {
        REQUIRE_FALSE(m);  // never two
        m = id;
      }
    return m;
  }
  // Every shard runs exactly once, on a live node.
  void check_placed() {
    std::map<int, int> count;
    for (auto& [id, set] : running)
      if (!dead.count(id))
        for (int s : set) ++count[s];
    for (int s = 0; s < shards; ++s) CHECK_MESSAGE(count[s] == 1, "shard " << s << " runs " << count[s] << " times");
  }
  std::size_t runs_on(std::uint64_t id) const {
    auto it = running.find(id);
    return it == running.end() ? 0 : it->second.size();
  }
};

world started(int shards, std::initializer_list<std::uint64_t> ids) {
  world w(shards);
  for (auto id : ids) w.add(id);
  w.run();
  w.for_ms(8000);
  return w;
}

}  // namespace

TEST_CASE("node machine: three nodes elect one master, which places every shard once and evenly") {
  auto w = started(12, {1, 2, 3});
  REQUIRE(w.master() == std::optional<std::uint64_t>(1));  // the oldest
  w.check_placed();
  for (std::uint64_t id : {1, 2, 3}) CHECK(w.runs_on(id) == 4);
  CHECK(w.nodes.at(2).master() == std::optional<std::uint64_t>(1));
  for (auto& [node, shard, take_over] : w.starts) CHECK_FALSE(take_over);  // a cold start: nothing to steal
}

TEST_CASE("node machine: a lone node that Redis says is alone does not wait 1.5 s to meet peers") {
  world w(2);
  w.add(1);
  w.input(1, node_in::alone{w.now});
  w.run();
  CHECK(w.master() == std::optional<std::uint64_t>(1));
  w.tick();  // the first owner read
  w.check_placed();
}

TEST_CASE("node machine: kill -9 of a worker: its shards are stolen by the living (take over), each once") {
  auto w = started(12, {1, 2, 3});
  const auto before = w.starts.size();
  const auto lost = w.running[3];
  w.kill(3);
  w.for_ms(500);
  std::set<int> taken;
  for (auto i = before; i < w.starts.size(); ++i) {
    auto [node, shard, take_over] = w.starts[i];
    CHECK(take_over);  // a resume of the dead node's session, not an IDENTIFY
    CHECK(node != 3);
    CHECK(taken.insert(shard).second);
  }
  CHECK(taken == lost);
  w.running.erase(3);
  w.check_placed();
  // Redis shows it gone: the master unregisters it.
  bool unregistered = false;
  for (auto& op : w.last[1].redis)
    if (op.what == redis_op::unregister && std::count(op.nodes.begin(), op.nodes.end(), 3u)) unregistered = true;
  CHECK(unregistered);
}

TEST_CASE("node machine: kill -9 of the master: the next one takes the lease once it expires, with a new epoch, and resumes its shards") {
  auto w = started(12, {1, 2, 3});
  const auto old_epoch = w.nodes.at(2).epoch();
  w.kill(1);
  w.for_ms(500);
  CHECK_FALSE(w.master());  // the dead master's lease still holds: nobody acts as master yet
  w.for_ms(lease_ms + 1000);
  REQUIRE(w.master() == std::optional<std::uint64_t>(2));
  CHECK(w.nodes.at(2).epoch() > old_epoch);
  CHECK(w.nodes.at(3).master() == std::optional<std::uint64_t>(2));
  w.running.erase(1);
  w.check_placed();
  CHECK(w.runs_on(2) == 6);
  CHECK(w.runs_on(3) == 6);
}

TEST_CASE("node machine: a follower refuses orders from a deposed master, an unauthenticated sender, or another node") {
  auto w = started(4, {1, 2, 3});
  auto& n3 = w.nodes.at(3);
  const auto epoch = n3.epoch();
  // From nobody authenticated, from a node that is not the master, from the master at an older epoch.
  for (auto in : {node_in::assigned{0, epoch, 4, 0, false}, node_in::assigned{2, epoch, 4, 0, false},
                  node_in::assigned{1, epoch - 1, 4, 0, false}}) {
    auto r = n3.step(in);
    CHECK(r.shards.empty());
  }
  CHECK(n3.step(node_in::released{2, epoch, 4, *w.running[3].begin()}).shards.empty());
  // The master it follows, at its epoch: obeyed.
  const int free_shard = *w.running[1].begin();
  auto r = n3.step(node_in::assigned{1, epoch, 4, free_shard, false});
  REQUIRE(r.shards.size() == 1);
  CHECK(r.shards[0].what == shard_order::start);
  // A new master at a newer epoch: from then on the old one is deposed, even if its link lives.
  n3.step(node_in::election_received{2, election_message::coordinator, epoch + 1, w.now});
  CHECK(n3.step(node_in::released{1, epoch, 4, free_shard}).shards.empty());
  CHECK(n3.step(node_in::released{2, epoch + 1, 4, free_shard}).shards.size() == 1);
  // Out of range: ignored.
  CHECK(n3.step(node_in::assigned{2, epoch + 1, 4, 4, false}).shards.empty());
}

TEST_CASE("node machine: a partition between nodes (links down, Redis connections alive) moves no shard") {
  auto w = started(12, {1, 2, 3});
  const auto starts = w.starts.size();
  w.cut_link(1, 3);
  w.cut_link(2, 3);
  w.for_ms(20000);
  CHECK(w.starts.size() == starts);  // node 3 still holds and renews its leases: nothing is placed twice
  CHECK(w.master() == std::optional<std::uint64_t>(1));
  CHECK(has_note(w.last[1], "lost its link but is still connected to Redis"));
}

TEST_CASE("node machine: a master cut from most of the cluster (not from Redis) gives mastership up") {
  auto w = started(6, {1, 2, 3});
  w.last.clear();
  w.cut_link(1, 2);
  w.cut_link(1, 3);
  w.for_ms(2000);
  CHECK_FALSE(w.nodes.at(1).is_master());
  CHECK(has_note(w.last[1], "giving mastership up"));
  bool resigned = false;
  for (auto& op : w.last[1].redis) resigned = resigned || op.what == redis_op::resign_master;
  CHECK(resigned);
  w.for_ms(3000);
  CHECK(w.master() == std::optional<std::uint64_t>(2));  // the majority elects one
  CHECK(w.nodes.at(1).in_minority());
}

TEST_CASE("node machine: an assignment that nobody acts on is placed again after 10 s, not after minutes") {
  // The nemesis's case: a node got an order and never took the lease (it was deposed, stopping, or the message
  // was lost). The master sees no lease holder for a shard in flight and places it again.
  world w(4);
  w.add(1);
  w.add(2);
  w.ignore_assigns.insert(2);
  w.run();
  w.for_ms(3000);
  REQUIRE(w.master() == std::optional<std::uint64_t>(1));
  std::set<int> unheld;
  for (int s = 0; s < 4; ++s)
    if (!w.holders.count(s)) unheld.insert(s);
  REQUIRE(unheld.size() == 2);  // node 2's share
  w.ignore_assigns.clear();
  w.last.clear();
  w.for_ms(21000);  // owners are read every 5 s: the second read 10 s after the first that found none
  CHECK(has_note(w.last[1], "nobody took its lease in 10 s"));
  w.check_placed();
}

TEST_CASE("node machine: a rebalance that waits for shards in flight says which, once a minute") {
  // Node 2's shards hold their leases but never become ready (stuck identifying, say): they stay in flight, and
  // no shard moves to a node that joins. The master says so instead of waiting in silence.
  world w(8);
  w.never_ready.insert(2);
  w.add(1);
  w.add(2);
  w.run();
  w.for_ms(3000);
  REQUIRE(w.master() == std::optional<std::uint64_t>(1));
  w.add(3);
  w.run();
  w.last.clear();
  w.for_ms(61000);
  CHECK(w.runs_on(3) == 0);
  CHECK(has_note(w.last[1], "set 8 is unbalanced"));
  CHECK(has_note(w.last[1], "waits for 4 shards in flight"));
  CHECK(has_note(w.last[1], "on node 2, in"));  // which shard holds it up, and where
  const auto notes = std::count_if(w.last[1].notes.begin(), w.last[1].notes.end(),
                                   [](auto& n) { return n.text.find("is unbalanced") != std::string::npos; });
  CHECK(notes <= 2);  // once a minute, not once a tick
}

TEST_CASE("node machine: an assignment whose lease another live node holds ends there: the holder keeps the shard") {
  // A master that read the lease holders mid-failover saw a shard free and assigned it to node 3; node 2, which
  // runs it, renewed its lease late. Node 3's actor would wait for that lease for good, and the assignment would
  // hold a place in flight for ten minutes, stopping every move.
  world w(6);
  w.rebalance = false;  // node 3 gets only what is assigned to it
  w.lease_waiters.insert(3);
  w.add(1);
  w.add(2);
  w.run();
  w.for_ms(8000);
  REQUIRE(w.master() == std::optional<std::uint64_t>(1));
  w.add(3);
  w.run();
  const int shard = *w.running[2].begin();
  w.unseen_holders.insert(shard);
  w.last.clear();
  w.for_ms(16000);  // three reads without a holder: assigned again, to node 3, the one with the fewest
  REQUIRE(has_note(w.last[1], "no lease holder for 15 s"));
  REQUIRE(w.running[3].count(shard) == 1);  // waiting for node 2's lease
  w.unseen_holders.clear();
  w.for_ms(6000);  // the next read shows node 2 holding it
  CHECK(has_note(w.last[1], "assigned to node 3, but node 2 holds its lease: it stays there"));
  CHECK(w.running[3].count(shard) == 0);  // told to let it go
  w.check_placed();
}

TEST_CASE("node machine: a shard with no lease holder for three reads is handed out again") {
  auto w = started(4, {1, 2});
  // Shard 3's actor on its owner vanished without a word (its lease expired): nobody holds it.
  const int shard = *w.running[2].begin();
  w.running[2].erase(shard);
  w.holders.erase(shard);
  w.last.clear();
  w.for_ms(16000);
  CHECK(has_note(w.last[1], "no lease holder for 15 s"));
  // The owner still counted it as running (no shard_gone): the machine starts it once that actor is gone.
  w.input(2, node_in::shard_gone{4, shard, w.now});
  w.run();
  w.check_placed();
}

TEST_CASE("node machine: an order to start a shard whose actor is still closing starts it once that actor is gone") {
  node_machine m(settings_for(2, 4), 0);
  m.step(node_in::peer_up{settings_for(1, 4).self, 0});
  m.step(node_in::election_received{1, election_message::coordinator, 7, 0});
  REQUIRE(m.step(node_in::assigned{1, 7, 4, 2, false}).shards.size() == 1);
  auto r = m.step(node_in::released{1, 7, 4, 2});
  REQUIRE(r.shards.size() == 1);
  CHECK(r.shards[0].what == shard_order::stop);
  CHECK(m.step(node_in::assigned{1, 7, 4, 2, true}).shards.empty());  // still closing
  r = m.step(node_in::shard_gone{4, 2, 10});
  REQUIRE(r.shards.size() == 1);
  CHECK(r.shards[0].what == shard_order::start);
  CHECK(r.shards[0].take_over);
}

TEST_CASE("node machine: a stopping worker hands its shards over through the master, then leaves") {
  auto w = started(8, {1, 2, 3});
  const auto had = w.running[3];
  w.input(3, node_in::stop{w.now});
  w.run();
  w.for_ms(3000);
  CHECK(w.left.count(3));
  CHECK(w.runs_on(3) == 0);
  w.check_placed();
  for (auto& [node, shard, take_over] : w.starts)
    if (had.count(shard) && node != 3) CHECK_FALSE(take_over);  // a live migration: released first, resumed after
  CHECK(has_note(w.last[1], "node 3 is leaving"));
}

TEST_CASE("node machine: a lone node that stops ends every shard's session itself and leaves when they are gone") {
  auto w = started(3, {1});
  w.last.clear();
  w.input(1, node_in::stop{w.now});
  w.run();
  CHECK(w.left.count(1));
  std::size_t stops = 0;
  for (auto& o : w.last[1].shards) stops += o.what == shard_order::stop;
  CHECK(stops == 3);
  bool resigned = false;
  for (auto& op : w.last[1].redis) resigned = resigned || op.what == redis_op::resign_master;
  CHECK(resigned);  // the next master need not wait for the lease to expire
}

TEST_CASE("node machine: a node cut off from Redis says so; the master moves its shards as their leases expire") {
  auto w = started(6, {1, 2});
  // Node 2's control connection has not answered for 2 s: it tells the master (once, then each second).
  w.now += 250;
  auto r = w.nodes.at(2).step(node_in::tick{w.now, w.now - 2000});
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].what == peer_message::redis_reach);
  CHECK_FALSE(r.messages[0].flag);
  CHECK(has_note(r, "has not answered"));
  CHECK(w.nodes.at(2).step(node_in::tick{w.now + 250, w.now - 2000}).messages.empty());
  CHECK(w.nodes.at(2).step(node_in::tick{w.now + 1250, w.now - 2000}).messages.size() == 1);  // again a second later
  w.redis_cut.insert(2);
  w.apply(2, r);
  w.run();
  w.for_ms(1000);
  CHECK(w.runs_on(2) == 3);  // nothing moves while its leases last
  // Its leases expire (it cannot renew): the master tells it to drop them and places them on node 1.
  w.last.clear();
  const auto had = w.running[2];
  for (int s : had) w.holders.erase(s);
  w.for_ms(1000);
  for (int s : had) CHECK(w.running[1].count(s));
  CHECK(w.runs_on(2) == 0);
  CHECK(has_note(w.last[1], "expired while it could not renew it"));
  // Back: it says so, and gets shards again.
  w.redis_cut.clear();
  w.last.clear();
  w.for_ms(1000);
  CHECK(has_note(w.last[2], "answers again"));
  CHECK(has_note(w.last[1], "node 2 reaches Redis again"));
}

TEST_CASE("node machine: a fenced shard whose owner the master did not move is placed again once the stale lease expires") {
  auto w = started(4, {1, 2});
  const int shard = *w.running[2].begin();
  // A failover's replica lacked the handover: another (stale) holder is in Redis, node 2's actor was fenced.
  w.running[2].erase(shard);
  w.holders[shard] = 99;
  w.input(2, node_in::shard_fenced{4, shard, w.now});
  w.input(2, node_in::shard_gone{4, shard, w.now});
  w.run();
  w.for_ms(500);
  CHECK_FALSE(w.running[1].count(shard));
  CHECK_FALSE(w.running[2].count(shard));
  w.holders.erase(shard);  // the stale lease expired
  w.last.clear();
  w.for_ms(500);  // read every tick while a fenced shard waits
  CHECK(has_note(w.last[1], "fenced by a stale lease"));
  w.check_placed();
}

TEST_CASE("node machine: the master lease not renewed: the master steps down at once") {
  auto w = started(2, {1, 2});
  w.master_holder = 2;  // taken over (Redis failover lost it, say)
  w.master_expires = w.now + lease_ms;
  w.last.clear();
  w.tick();
  CHECK_FALSE(w.nodes.at(1).is_master());
  CHECK(has_note(w.last[1], "the master lease was not renewed"));
  CHECK(has_note(w.last[1], "stepping down"));
}

TEST_CASE("node machine: a claim without a majority is not made, and said once") {
  node_machine m(settings_for(1, 2), 0);
  auto r = m.step(node_in::claimed{store_result<std::uint64_t>::refused("no majority"), false, 1, 3, node_ids{1, 2, 3}, 10});
  CHECK(has_note(r, "sees 1 of 3 nodes"));
  CHECK_FALSE(m.is_master());
  r = m.step(node_in::claimed{store_result<std::uint64_t>::refused("no majority"), false, 1, 3, node_ids{1, 2, 3}, 20});
  CHECK(r.notes.empty());
}

TEST_CASE("node machine: a reshard from request to switch: one /gateway/bot read, the new set placed beside the old, the switch once all are ready") {
  auto w = started(2, {1, 2});
  auto& m = w.nodes.at(1);
  // Not on a follower.
  auto r = w.nodes.at(2).step(node_in::reshard_requested{4, false, w.now});
  CHECK(r.reply == std::optional<std::string>("REFUSED: this node is not the master"));
  r = m.step(node_in::reshard_requested{4, false, w.now});
  CHECK_FALSE(r.reply);  // the answer comes once decided
  REQUIRE(r.redis.size() == 1);
  CHECK(r.redis[0].what == redis_op::read_gateway_bot);
  // A second request meanwhile is refused.
  CHECK(m.step(node_in::reshard_requested{6, false, w.now}).reply ==
        std::optional<std::string>("REFUSED: another reshard request is being decided"));
  r = m.step(node_in::gateway_bot_read{"", 4, 1, 1000});
  REQUIRE(r.redis.size() == 1);
  REQUIRE(r.redis[0].what == redis_op::begin_reshard);
  CHECK(r.redis[0].from == 2);
  CHECK(r.redis[0].total == 4);
  CHECK(r.redis[0].epoch == m.epoch());
  w.last.clear();
  w.input(1, node_in::reshard_begun{4, store_result<reshard_switch>::done(), "", w.now});
  w.run();
  REQUIRE(w.last[1].reshard_answers.size() == 1);
  CHECK(w.last[1].reshard_answers[0].rfind("OK: preparing 4 shards", 0) == 0);
  CHECK(m.preparing() == 4);
  // The new set is placed (its starts carry total 4), beside the set in force.
  std::size_t new_set = 0;
  for (auto& [id, ready] : w.last)
    for (auto& o : ready.shards) new_set += o.what == shard_order::start && o.total == 4;
  CHECK(new_set == 4);
  // Every new shard reported ready: the switch is tried at the next tick.
  w.last.clear();
  w.tick();
  const redis_op* sw = nullptr;
  for (auto& op : w.last[1].redis)
    if (op.what == redis_op::switch_reshard) sw = &op;
  REQUIRE(sw);
  CHECK(sw->total == 4);
  w.last.clear();
  reshard_switch done;
  done.marker_id = "1-0";
  w.input(1, node_in::switch_done{4, store_result<reshard_switch>::done(done), 1500, w.now});
  w.run();
  CHECK(m.total() == 4);
  CHECK(w.nodes.at(2).total() == 4);  // told by the master
  for (std::uint64_t id : {1, 2}) {
    REQUIRE(w.last[id].in_force == std::optional<int>(4));
    std::size_t ends = 0, promotes = 0;
    for (auto& o : w.last[id].shards) {
      ends += o.what == shard_order::end && o.total == 2;
      promotes += o.what == shard_order::promote && o.total == 4;
    }
    CHECK(ends == 1);      // the old set's shards close with 1000
    CHECK(promotes == 2);  // the new set takes the backend commands
  }
  CHECK(m.preparing() == 0);
}

TEST_CASE("node machine: a reshard refused by the plan, a cancel, and a new master going on with a preparation") {
  auto w = started(2, {1});
  auto& m = w.nodes.at(1);
  m.step(node_in::reshard_requested{3, false, w.now});
  auto r = m.step(node_in::gateway_bot_read{"", 4, 1, 1});  // one session left, reserve 10
  REQUIRE(r.reshard_answers.size() == 1);
  CHECK(r.reshard_answers[0].rfind("REFUSED: ", 0) == 0);
  // Nothing prepared: --cancel is refused; an error from /gateway/bot is said.
  CHECK(m.step(node_in::reshard_requested{-1, false, w.now}).reply == std::optional<std::string>("REFUSED: no reshard is in progress"));
  m.step(node_in::reshard_requested{4, false, w.now});
  r = m.step(node_in::gateway_bot_read{"401 Unauthorized", 0, 1, 0});
  REQUIRE(r.reshard_answers.size() == 1);
  CHECK(r.reshard_answers[0] == "REFUSED: /gateway/bot: 401 Unauthorized");
  // What a predecessor left in Redis: a preparation of 4 goes on.
  r = m.step(node_in::reshard_read{store_result<std::pair<int, int>>::done({2, 4}), w.now});
  CHECK(m.preparing() == 4);
  CHECK(has_note(r, "going on with the preparation of 4 shards"));
  r = m.step(node_in::reshard_requested{-1, false, w.now});
  CHECK_FALSE(r.reply);
  REQUIRE(r.redis.size() == 1);
  CHECK(r.redis[0].what == redis_op::abandon_reshard);
  r = m.step(node_in::abandon_done{4, store_result<reshard_switch>::done()});
  REQUIRE(r.reshard_answers.size() == 1);
  CHECK(r.reshard_answers[0] == "OK: the preparation of 4 shards was given up; 2 stay in force");
  CHECK(m.preparing() == 0);
  // Redis unreadable: read again a second later, on a tick.
  m.step(node_in::reshard_read{store_result<std::pair<int, int>>::failed("timeout"), w.now});
  r = m.step(node_in::tick{w.now + 1250, w.now + 1250});
  CHECK(std::any_of(r.redis.begin(), r.redis.end(), [](auto& op) { return op.what == redis_op::read_reshard; }));
}

TEST_CASE("node machine: a follower that missed the master's word follows the set in force that Redis shows") {
  auto w = started(2, {1, 2});
  auto r = w.nodes.at(2).step(node_in::view_read{node_ids{1, 2}, 4, 0});
  CHECK(r.in_force == std::optional<int>(4));
  CHECK(w.nodes.at(2).total() == 4);
  // Not while a reshard to that count is prepared (the switch has not happened).
  r = w.nodes.at(1).step(node_in::view_read{node_ids{1, 2}, 4, 4});
  CHECK_FALSE(r.in_force);
}
