#include "actors/node_actor.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>

#include <malloc.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "actors/cluster_view.hpp"
#include "actors/command_inbox.hpp"
#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_actor.hpp"
#include "actors/status_protocol.hpp"
#include "cluster/assignment.hpp"
#include "cluster/election.hpp"
#include "net/clock.hpp"
#include "net/peer_auth.hpp"
#include "net/redis/redis_worker.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::cluster_snapshot)

namespace g::actors {

namespace {

using register_atom = caf::atom_constant<caf::atom("register")>;
using discover_atom = caf::atom_constant<caf::atom("discover")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using proof_atom = caf::atom_constant<caf::atom("proof")>;
using elect_atom = caf::atom_constant<caf::atom("elect")>;
using assign_atom = caf::atom_constant<caf::atom("assign")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using leaving_atom = caf::atom_constant<caf::atom("leaving")>;  // worker → master: hand my shards over
using moved_atom = caf::atom_constant<caf::atom("moved")>;      // worker → master: this shard is ready here
using claimed_atom = caf::atom_constant<caf::atom("claimed")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using owners_atom = caf::atom_constant<caf::atom("owners")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using view_atom = caf::atom_constant<caf::atom("view")>;
using inbox_atom = caf::atom_constant<caf::atom("inbox")>;
using trim_atom = caf::atom_constant<caf::atom("trim")>;

constexpr std::int64_t move_timeout_ms = 30000;   // a migration not reported ready by then stops counting
constexpr std::int64_t assign_timeout_ms = 600000;  // an assignment may wait minutes for its identify slot
constexpr std::int64_t drain_timeout_ms = 30000;  // a stopping node waits this long for the master's handover
constexpr std::size_t departed_kept = 64;

struct peer {  // a node that proved the cookie (handshakes in progress live in `handshakes`)
  caf::actor handle;
  cluster::node_rank rank;
};

// A link being authenticated, keyed by the sending actor (never by the id it claims, which anyone can claim). The
// dialer proves first and the node it dialed proves only after checking that proof, so neither side can be used
// to answer a challenge on an impostor's behalf (nodes dial only what the Redis registry lists).
struct handshake {
  caf::actor handle;
  cluster::node_rank rank;      // as claimed; trusted once proven
  std::string my_challenge;     // what it must prove
  std::string their_challenge;  // what this node proves, when its turn comes
  bool dialer = false;          // this node dialed it
  std::int64_t started_ms = 0;
};
constexpr std::size_t max_handshakes = 64;
constexpr std::int64_t handshake_timeout_ms = 10000;

struct node_state {
  static inline const char* name = "node";
  std::unique_ptr<cluster::election> election;
  std::map<std::uint64_t, peer> peers;
  std::map<caf::actor_addr, handshake> handshakes;
  std::set<std::uint64_t> connecting;
  std::map<int, caf::actor> shards;  // the shards this node runs
  std::set<int> ready;               // … that are ready to send backend commands
  std::set<int> closing;             // … told to stop, not gone yet
  std::map<int, bool> start_when_closed;  // assigned back while still closing: start (take_over?) once gone
  bool inbox_reading = false;
  std::uint64_t view_rounds = 0;  // view refreshes (every second): paces the unknown-shard sweep
  std::deque<std::string> departed;  // peers whose link went down: their master lease may be taken at once
  // The master's view.
  std::map<int, std::uint64_t> owners;
  std::map<int, std::int64_t> moving;  // migrating shard → when to stop waiting for it
  std::set<std::uint64_t> draining;    // nodes handing their shards over before they stop
  bool owners_loaded = false;
  int ticks_since_owners = 0;
  std::map<int, int> leaseless;  // shard → reads in a row that found no lease holder
  bool owners_loading = false;
  // As a worker: the newest master heard from.
  std::uint64_t epoch_seen = 0;
  std::uint64_t master_seen = 0;
  // Stopping.
  bool stopping = false;
  std::uint64_t leaving_told = 0;  // the master told that this node is leaving
  std::int64_t drain_deadline = 0;
  bool shards_stopped = false;  // every shard was told to stop here
  // The cluster view: events/s from the stream's entries-added.
  std::int64_t last_added = -1;
  std::int64_t last_added_ms = 0;
  double events_per_s = 0;
  net::status_challenges challenges;
};

using node_actor_t = caf::stateful_actor<node_state>;

std::uint64_t self_id(node_env* env) { return std::stoull(env->node_id); }

void register_node(node_env* env) {
  env->redis->post([env](net::redis_connection& conn) {
    net::shard_store(conn, env->cfg->node.group, env->node_id).register_node(env->registry_entry, env->shard_total);
  });
}

// The authenticated peer that sent the current message, or 0.
std::uint64_t authenticated_sender(node_actor_t* self) {
  auto from = self->current_sender();
  if (!from) return 0;
  for (auto& [id, p] : self->state.peers)
    if (p.handle.address() == from->address()) return id;
  return 0;
}

caf::io::middleman_actor cluster_link(node_actor_t* self, node_env* env) {
  return env->tls ? self->system().openssl_manager().actor_handle() : self->system().middleman().actor_handle();
}

void start_shard(node_actor_t* self, node_env* env, int shard, bool take_over) {
  auto& s = self->state;
  if (s.stopping) return;
  if (s.shards.count(shard)) {
    // The actor of an earlier stint is still handing over: run the shard again once it is gone, rather than
    // ignoring an assignment the master counts on.
    if (s.closing.count(shard)) s.start_when_closed[shard] = take_over;
    return;
  }
  auto a = spawn_shard(self->system(), *env, shard, take_over, caf::actor_cast<caf::actor>(self));
  self->monitor(a);
  s.shards[shard] = a;
}

void stop_shard(node_actor_t* self, int shard) {
  auto& s = self->state;
  s.ready.erase(shard);  // its commands stay in Redis for the next owner
  s.start_when_closed.erase(shard);
  if (auto it = s.shards.find(shard); it != s.shards.end()) {
    s.closing.insert(shard);
    self->send(it->second, stop_atom::value);
  }
}

// The end of a stop: the shards are handed over (or stopped); a master gives up its lease so that another node
// need not wait for it.
void leave(node_actor_t* self, node_env* env) {
  if (self->state.election && self->state.election->is_master())
    env->redis->post([env](net::redis_connection& conn) {
      net::shard_store(conn, env->cfg->node.group, env->node_id).resign_master();
    });
  self->quit();
}

// A stopping master leaves once the moves it started have landed (or timed out), so that the next master does not
// find shards with no lease and hand them out a second time.
void leave_when_settled(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  if (s.election && s.election->is_master() && !s.moving.empty() && net::steady_ms() < s.drain_deadline) return;
  leave(self, env);
}

// No master to hand the shards over through: each closes with a resumable code, commits and releases its lease;
// whoever gets it next resumes the session.
void stop_every_shard(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  s.drain_deadline = 0;
  if (s.shards_stopped) return;
  s.shards_stopped = true;
  s.ready.clear();
  if (s.shards.empty()) return leave(self, env);
  for (auto& [id, shard] : s.shards) self->send(shard, stop_atom::value);
}

std::set<std::uint64_t> live_nodes(node_actor_t* self, node_env* env) {
  std::set<std::uint64_t> live{self_id(env)};
  for (auto& [id, p] : self->state.peers) live.insert(id);
  return live;
}

// The master's placement round: every shard owned by a live node, leaving nodes emptied, then rebalanced.
void place(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  if (!s.election || !s.election->is_master() || !s.owners_loaded) return;
  const std::int64_t now = net::steady_ms();
  const auto live = live_nodes(self, env);
  for (auto it = s.moving.begin(); it != s.moving.end();) {
    auto owner = s.owners.find(it->first);
    bool lost = owner == s.owners.end() || !live.count(owner->second);
    it = (lost || it->second < now) ? s.moving.erase(it) : std::next(it);
  }
  cluster::placement_input in;
  in.total = env->shard_total;
  in.max_concurrency = env->max_concurrency;
  in.live_nodes.assign(live.begin(), live.end());
  for (auto n : s.draining)
    if (live.count(n)) in.draining.insert(n);
  if (s.stopping) in.draining.insert(self_id(env));
  in.owners = s.owners;
  for (auto& [shard, until] : s.moving) in.moving.insert(shard);
  in.rebalance = env->cfg->cluster.rebalance;
  in.max_moves = env->cfg->cluster.max_moves;
  const std::uint64_t epoch = s.election->epoch();
  if (in.draining.size() == in.live_nodes.size()) {
    // Every node is leaving: nowhere to move anything. Each stops its shards (commit, resumable close, lease
    // released), and whoever runs them next resumes the sessions.
    for (auto it = s.owners.begin(); it != s.owners.end();) {
      if (it->second != self_id(env) && live.count(it->second))
        self->send(s.peers[it->second].handle, release_atom::value, epoch, static_cast<std::int32_t>(it->first));
      it = live.count(it->second) ? s.owners.erase(it) : std::next(it);
    }
    if (s.stopping) stop_every_shard(self, env);
    return;
  }
  auto plan = cluster::plan_placement(in);
  auto tell = [&](std::uint64_t node, int shard, bool take_over) {
    if (node == self_id(env)) start_shard(self, env, shard, take_over);
    else self->send(s.peers[node].handle, assign_atom::value, epoch, static_cast<std::int32_t>(shard), take_over);
  };
  for (auto& a : plan.assigns) {
    auto prev = s.owners.find(a.shard);
    bool take_over = prev != s.owners.end() && !live.count(prev->second);  // its owner is gone: steal the session
    s.owners[a.shard] = a.node;
    // In flight until ready, like a migration: a shard still identifying is never moved (its new owner would
    // have no session to resume and would IDENTIFY again), so rebalancing waits for a cold start to finish.
    s.moving[a.shard] = now + assign_timeout_ms;
    tell(a.node, a.shard, take_over);
  }
  for (auto& m : plan.moves) {
    // Live migration: the old owner commits, closes with a resumable code and releases the lease; the new owner
    // takes the released lease and resumes.
    s.owners[m.shard] = m.to;
    s.moving[m.shard] = now + move_timeout_ms;
    if (m.from == self_id(env)) stop_shard(self, m.shard);
    else self->send(s.peers[m.from].handle, release_atom::value, epoch, static_cast<std::int32_t>(m.shard));
    tell(m.to, m.shard, false);
  }
}

void load_owners(node_actor_t* self, node_env* env) {
  if (self->state.owners_loading) return;
  self->state.owners_loading = true;
  auto me = caf::actor_cast<caf::actor>(self);
  env->redis->post([env, me](net::redis_connection& conn) {
    auto holders = net::shard_store(conn, env->cfg->node.group, env->node_id).lease_holders(env->shard_total);
    std::vector<std::uint64_t> owners;
    if (holders)  // else Redis is down: the next tick asks again
      for (auto& h : *holders) owners.push_back(std::strtoull(h.c_str(), nullptr, 10));
    caf::anon_send(me, local{}, owners_atom::value, owners, holders.has_value());
  });
}

// The master's map against the lease holders in Redis, for shards not in flight: a shard held by another live
// node than the map says is recorded as that node's; one that nobody has held for three reads (15 s) is handed
// out again. Messages are not lost between live nodes in normal operation, but a node that ignored an assignment
// (it was stopping, say) would otherwise leave its shard unowned for good.
void reconcile_owners(node_actor_t* self, node_env* env, const std::vector<std::uint64_t>& holders) {
  auto& s = self->state;
  const auto live = live_nodes(self, env);
  for (std::size_t i = 0; i < holders.size(); ++i) {
    const int shard = static_cast<int>(i);
    if (s.moving.count(shard)) {
      s.leaseless.erase(shard);
      continue;
    }
    if (holders[i]) {
      s.leaseless.erase(shard);
      if (live.count(holders[i])) s.owners[shard] = holders[i];
      continue;
    }
    if (!s.owners.count(shard)) continue;  // unowned already: placement assigns it
    if (++s.leaseless[shard] < 3) continue;
    std::fprintf(stderr, "g-actor: shard %d has had no lease holder for 15 s: assigning it again\n", shard);
    s.owners.erase(shard);
    s.leaseless.erase(shard);
  }
}

void apply_election(node_actor_t* self, node_env* env, const cluster::election_outputs& outs) {
  auto& s = self->state;
  for (auto& o : outs) {
    switch (o.what) {
      case cluster::election_output::send:
        if (auto it = s.peers.find(o.to); it != s.peers.end())
          self->send(it->second.handle, elect_atom::value, self_id(env), static_cast<std::int32_t>(o.message), o.epoch);
        break;
      case cluster::election_output::claim_master: {
        auto me = caf::actor_cast<caf::actor>(self);
        std::vector<std::string> departed(s.departed.begin(), s.departed.end());
        const std::uint64_t known = s.epoch_seen;
        env->redis->post([env, me, departed, known](net::redis_connection& conn) {
          auto epoch = net::shard_store(conn, env->cfg->node.group, env->node_id)
                           .claim_master(env->cfg->cluster.lease_ms, departed, known);
          caf::anon_send(me, local{}, claimed_atom::value, epoch.has_value(), epoch.value_or(0));
        });
        break;
      }
      case cluster::election_output::resign:
        env->redis->post([env](net::redis_connection& conn) {
          net::shard_store(conn, env->cfg->node.group, env->node_id).resign_master();
        });
        break;
      case cluster::election_output::became_follower:
        if (o.epoch >= s.epoch_seen) {  // a deposed master's assignments are refused from now on
          s.epoch_seen = o.epoch;
          s.master_seen = o.master;
        }
        [[fallthrough]];
      case cluster::election_output::master_lost:
        s.owners_loaded = false;
        s.moving.clear();
        s.draining.clear();
        break;
    }
  }
}

// A message from the master: acted on only from an authenticated peer, and never from a deposed master.
bool from_master(node_actor_t* self, std::uint64_t epoch) {
  auto& s = self->state;
  std::uint64_t from = authenticated_sender(self);
  if (!from || epoch < s.epoch_seen) return false;
  if (auto m = s.election->master(); m && *m != from) return false;  // not the master this node follows
  if (epoch == s.epoch_seen && s.master_seen && from != s.master_seen) return false;
  s.epoch_seen = epoch;
  s.master_seen = from;
  return true;
}

// A stopping worker tells the current master, again after every change of master, until its shards are gone.
void tell_master_leaving(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  auto master = s.election->master();
  if (!master || *master == self_id(env) || *master == s.leaving_told) return;
  auto it = s.peers.find(*master);
  if (it == s.peers.end()) return;
  self->send(it->second.handle, leaving_atom::value, self_id(env));
  s.leaving_told = *master;
}

void refresh_view(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  env->redis->post([env, me](net::redis_connection& conn) {
    caf::anon_send(me, local{}, view_atom::value, read_cluster(conn, env->cfg->node.group, env->shard_total));
  });
}

caf::behavior node_behavior(node_actor_t* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (auto it = s.shards.begin(); it != s.shards.end(); ++it) {
      if (it->second.address() == dm.source) {
        const int shard = it->first;
        s.ready.erase(shard);
        s.closing.erase(shard);
        s.shards.erase(it);
        if (auto again = s.start_when_closed.find(shard); again != s.start_when_closed.end()) {
          bool take_over = again->second;
          s.start_when_closed.erase(again);
          start_shard(self, env, shard, take_over);
        }
        if (s.stopping && s.shards.empty()) leave_when_settled(self, env);
        return;
      }
    }
    if (s.handshakes.erase(dm.source)) return;
    for (auto it = s.peers.begin(); it != s.peers.end(); ++it) {
      if (it->second.handle.address() != dm.source) continue;
      std::uint64_t id = it->first;
      s.peers.erase(it);
      std::fprintf(stderr, "g-actor: node %llu is gone (link down)\n", static_cast<unsigned long long>(id));
      s.draining.erase(id);
      s.departed.push_back(std::to_string(id));
      if (s.departed.size() > departed_kept) s.departed.pop_front();
      if (s.leaving_told == id) s.leaving_told = 0;
      apply_election(self, env, s.election->peer_down(id, net::steady_ms()));
      if (s.election->is_master())  // a node that died cannot unregister itself
        env->redis->post([env, id](net::redis_connection& conn) {
          net::shard_store(conn, env->cfg->node.group, env->node_id).unregister_node(std::to_string(id));
        });
      place(self, env);  // a dead worker's shards go to the living at once
      return;
    }
  });
  return {
      [=](local, start_atom) {
        auto& s = self->state;
        cluster::node_rank me{self_id(env), env->cfg->node.priority, env->started_ms};
        s.election = std::make_unique<cluster::election>(me, net::steady_ms() + 1500);  // 1.5 s to meet the peers
        self->send(self, local{}, register_atom::value);
        self->send(self, local{}, discover_atom::value);
        self->send(self, local{}, tick_atom::value);
        self->send(self, local{}, view_atom::value);
        self->send(self, local{}, inbox_atom::value);
        self->delayed_send(self, std::chrono::seconds(10), local{}, trim_atom::value);
      },
      [=](local, trim_atom) {
        // Bursts (a cold start's GUILD_CREATEs, a backlog after a Redis outage) leave freed memory that glibc keeps;
        // with a thousand shards that was a third of the resident size. Give it back now and then.
        malloc_trim(0);
        self->delayed_send(self, std::chrono::seconds(10), local{}, trim_atom::value);
      },
      [=](local, register_atom) {
        if (self->state.stopping) return;
        register_node(env);
        self->delayed_send(self, std::chrono::seconds(5), local{}, register_atom::value);
      },
      [=](local, discover_atom) {
        auto& s = self->state;
        if (s.stopping) return;
        auto me = caf::actor_cast<caf::actor>(self);
        env->redis->post([env, me](net::redis_connection& conn) {
          auto r = conn.command({"HGETALL", net::redis_keys(env->cfg->node.group).nodes()});
          std::vector<std::string> entries;
          for (auto& e : r.elements) entries.push_back(e.text);
          caf::anon_send(me, local{}, peers_atom::value, entries);
        });
        self->delayed_send(self, std::chrono::seconds(1), local{}, discover_atom::value);
      },
      [=](local, peers_atom, const std::vector<std::string>& entries) {
        auto& s = self->state;
        for (std::size_t i = 0; i + 1 < entries.size(); i += 2) {
          std::uint64_t id = std::strtoull(entries[i].c_str(), nullptr, 10);
          if (id == 0 || id == self_id(env) || s.peers.count(id) || s.connecting.count(id)) continue;
          if (std::any_of(s.handshakes.begin(), s.handshakes.end(), [&](auto& h) { return h.second.rank.id == id; })) continue;
          if (id < self_id(env)) continue;  // one connection per pair: the older node (smaller id) dials the newer
          auto at = registry_address(entries[i + 1]);
          if (!at) continue;
          s.connecting.insert(id);
          self->request(cluster_link(self, env), std::chrono::seconds(3), caf::connect_atom::value, at->first, at->second)
              .then(
                  [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
                    self->state.connecting.erase(id);
                    if (!ptr) return;
                    auto h = caf::actor_cast<caf::actor>(ptr);
                    auto& hs = self->state.handshakes[h.address()];
                    hs.handle = h;
                    hs.rank.id = id;
                    hs.my_challenge = net::make_challenge();
                    hs.dialer = true;
                    hs.started_ms = net::steady_ms();
                    self->monitor(h);
                    self->send(h, hello_atom::value, self_id(env), static_cast<std::int32_t>(env->cfg->node.priority),
                               env->started_ms, hs.my_challenge);
                  },
                  [=](caf::error&) { self->state.connecting.erase(id); });
        }
      },
      [=](hello_atom, std::uint64_t id, std::int32_t priority, std::int64_t started, const std::string& challenge) {
        auto& s = self->state;
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender || id == 0 || id == self_id(env) || s.peers.count(id)) return;
        auto it = s.handshakes.find(sender.address());
        if (it == s.handshakes.end()) {  // dialed by it: our challenge back, and no proof before it proves
          if (s.handshakes.size() >= max_handshakes) return;
          handshake h;
          h.handle = sender;
          h.my_challenge = net::make_challenge();
          h.started_ms = net::steady_ms();
          self->monitor(sender);
          it = s.handshakes.emplace(sender.address(), std::move(h)).first;
          self->send(sender, hello_atom::value, self_id(env), static_cast<std::int32_t>(env->cfg->node.priority),
                     env->started_ms, it->second.my_challenge);
        }
        auto& h = it->second;
        if (h.dialer && h.rank.id != id) return;  // not the node the registry listed at that address
        h.rank = {id, priority, started};
        h.their_challenge = challenge;
        if (h.dialer)  // the dialer proves first
          self->send(sender, proof_atom::value, self_id(env), net::prove(env->cfg->security.cookie, challenge, self_id(env), id));
      },
      [=](proof_atom, std::uint64_t id, const std::string& proof) {
        auto& s = self->state;
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender) return;
        auto it = s.handshakes.find(sender.address());
        if (it == s.handshakes.end() || it->second.rank.id != id || it->second.their_challenge.empty()) return;
        handshake h = std::move(it->second);
        s.handshakes.erase(it);
        if (!net::verify(env->cfg->security.cookie, h.my_challenge, id, self_id(env), proof)) {
          std::fprintf(stderr, "g-actor: node %llu failed authentication (wrong cookie): ignored\n",
                       static_cast<unsigned long long>(id));
          self->demonitor(h.handle);
          return;
        }
        if (!h.dialer)  // it proved itself: now this node's proof
          self->send(sender, proof_atom::value, self_id(env),
                     net::prove(env->cfg->security.cookie, h.their_challenge, self_id(env), id));
        if (s.peers.count(id)) return;  // a second link to a node already linked: the first one stays
        s.peers[id] = peer{h.handle, h.rank};
        s.departed.erase(std::remove(s.departed.begin(), s.departed.end(), std::to_string(id)), s.departed.end());
        apply_election(self, env, s.election->peer_up(h.rank, net::steady_ms()));
        place(self, env);
      },
      [=](elect_atom, std::uint64_t from, std::int32_t m, std::uint64_t epoch) {
        auto& s = self->state;
        if (authenticated_sender(self) != from) return;  // unauthenticated, or posing as another node
        apply_election(self, env, s.election->receive(from, static_cast<cluster::election_message>(m), epoch, net::steady_ms()));
      },
      [=](local, claimed_atom, bool granted, std::uint64_t epoch) {
        auto& s = self->state;
        const bool was_master = s.election->is_master();
        apply_election(self, env, s.election->claim_result(granted, epoch, net::steady_ms()));
        if (s.election->is_master() && !was_master) {
          std::fprintf(stderr, "g-actor: master of group '%s', epoch %llu\n", env->cfg->node.group.c_str(),
                       static_cast<unsigned long long>(epoch));
          s.epoch_seen = epoch;
          s.master_seen = self_id(env);
          load_owners(self, env);
          // Nodes that died before this one became master (the old master, say) cannot unregister themselves.
          std::vector<std::string> departed(s.departed.begin(), s.departed.end());
          env->redis->post([env, departed](net::redis_connection& conn) {
            net::shard_store store(conn, env->cfg->node.group, env->node_id);
            for (auto& id : departed) store.unregister_node(id);
          });
        }
      },
      [=](local, owners_atom, const std::vector<std::uint64_t>& owners, bool read) {
        auto& s = self->state;
        s.owners_loading = false;
        if (!s.election->is_master() || !read) return;
        if (!s.owners_loaded) {  // the map a new master starts from
          s.owners.clear();
          for (std::size_t i = 0; i < owners.size(); ++i)
            if (owners[i]) s.owners[static_cast<int>(i)] = owners[i];
          s.owners_loaded = true;
          s.leaseless.clear();
        } else {
          reconcile_owners(self, env, owners);
        }
        place(self, env);
      },
      [=](local, tick_atom) {
        auto& s = self->state;
        std::int64_t now = net::steady_ms();
        for (auto it = s.handshakes.begin(); it != s.handshakes.end();) {  // never finished: drop, discovery retries
          if (now - it->second.started_ms <= handshake_timeout_ms) {
            ++it;
            continue;
          }
          std::fprintf(stderr, "g-actor: node %llu did not prove the cookie within %lld s (wrong cookie?): dropped\n",
                       static_cast<unsigned long long>(it->second.rank.id), static_cast<long long>(handshake_timeout_ms / 1000));
          self->demonitor(it->second.handle);
          it = s.handshakes.erase(it);
        }
        if (s.election->next_wakeup() <= now) apply_election(self, env, s.election->tick(now));
        if (s.election->is_master()) {
          // Keep the master lease; losing it means another node may act as master.
          auto me = caf::actor_cast<caf::actor>(self);
          env->redis->post([env, me](net::redis_connection& conn) {
            if (!net::shard_store(conn, env->cfg->node.group, env->node_id).keep_master(env->cfg->cluster.lease_ms))
              caf::anon_send(me, local{}, lost_atom::value);
          });
          // The first read, retried while Redis is down; then every 5 s, to catch what a lost message hid.
          if (!s.owners_loaded || ++s.ticks_since_owners >= 20) {
            s.ticks_since_owners = 0;
            load_owners(self, env);
          }
          place(self, env);
        }
        if (s.stopping && s.shards.empty()) leave_when_settled(self, env);  // waiting for the last moves
        if (s.stopping && s.drain_deadline) {
          if (now > s.drain_deadline) {
            std::fprintf(stderr, "g-actor: the handover through the master timed out; stopping the shards here\n");
            stop_every_shard(self, env);
          } else if (!s.election->is_master()) {
            tell_master_leaving(self, env);
          }
        }
        self->delayed_send(self, std::chrono::milliseconds(250), local{}, tick_atom::value);
      },
      [=](local, lost_atom) {
        std::fprintf(stderr, "g-actor: lost the master lease; stepping down\n");
        apply_election(self, env, self->state.election->lease_lost(net::steady_ms()));
      },
      [=](assign_atom, std::uint64_t epoch, std::int32_t shard, bool take_over) {
        if (!from_master(self, epoch)) return;
        start_shard(self, env, shard, take_over);
      },
      [=](release_atom, std::uint64_t epoch, std::int32_t shard) {
        if (!from_master(self, epoch)) return;
        stop_shard(self, shard);
      },
      [=](leaving_atom, std::uint64_t id) {
        auto& s = self->state;
        if (authenticated_sender(self) != id || !s.election->is_master()) return;
        std::fprintf(stderr, "g-actor: node %llu is leaving: moving its shards\n", static_cast<unsigned long long>(id));
        s.draining.insert(id);
        place(self, env);
      },
      [=](local, ready_atom, std::int32_t shard) {  // from one of this node's shard actors
        auto& s = self->state;
        s.ready.insert(shard);
        if (s.election->is_master()) {
          s.moving.erase(shard);
          place(self, env);
        } else if (auto m = s.election->master(); m && s.peers.count(*m)) {
          self->send(s.peers[*m].handle, moved_atom::value, shard);
        }
      },
      [=](moved_atom, std::int32_t shard) {
        auto& s = self->state;
        if (!authenticated_sender(self) || !s.election->is_master()) return;
        s.moving.erase(shard);
        place(self, env);  // the next migration may start
      },
      [=](local, inbox_atom) {
        auto& s = self->state;
        if (s.inbox_reading || s.ready.empty()) {
          self->delayed_send(self, std::chrono::milliseconds(100), local{}, inbox_atom::value);
          return;
        }
        s.inbox_reading = true;
        auto me = caf::actor_cast<caf::actor>(self);
        env->redis->post([env, me, ready = s.ready](net::redis_connection& conn) {
          caf::anon_send(me, inbox_msg{take_commands(conn, env->cfg->node.group, ready)});
        });
      },
      [=](inbox_msg& m) {
        auto& s = self->state;
        s.inbox_reading = false;
        for (auto& [shard, cmds] : m.by_shard) {
          auto it = s.shards.find(shard);
          if (it != s.shards.end()) {
            self->send(it->second, commands_msg{std::move(cmds)});
            continue;
          }
          for (auto& c : cmds)
            answer_command(env, shard, c.stream_id, net::command_result::rejected_not_running, "the shard moved off this node");
        }
        // Commands come in bursts: look again at once after some, every 100 ms otherwise.
        self->delayed_send(self, std::chrono::milliseconds(m.by_shard.empty() ? 100 : 5), local{}, inbox_atom::value);
      },
      [=](local, view_atom) {
        refresh_view(self, env);
        // Commands for shards that do not exist are answered by the master, every few seconds.
        if (self->state.election && self->state.election->is_master() && ++self->state.view_rounds % 3 == 0)
          env->redis->post([env](net::redis_connection& conn) {
            env->counters.rejected_commands += reject_unknown_shards(conn, env->cfg->node.group, env->node_id, env->shard_total);
          });
        self->delayed_send(self, std::chrono::seconds(1), local{}, view_atom::value);
      },
      [=](local, view_atom, const cluster_snapshot& snap) {
        auto& s = self->state;
        std::int64_t now = net::wall_ms();
        if (snap.entries_added >= 0) {
          if (s.last_added >= 0 && now > s.last_added_ms)
            s.events_per_s = static_cast<double>(snap.entries_added - s.last_added) * 1000.0 /
                             static_cast<double>(now - s.last_added_ms);
          s.last_added = snap.entries_added;
          s.last_added_ms = now;
        }
        env->view.set(render_cluster(snap, {env->cfg->node.group, env->node_id, env->shard_total, now, s.events_per_s}));
      },
      // `g-actor status`: a challenge, then the view for whoever proves the cookie.
      [=](status_atom) -> std::string {
        return env->node_id + ":" + self->state.challenges.issue(env->cfg->security.cookie, net::steady_ms());
      },
      [=](status_atom, std::uint64_t client, const std::string& challenge, const std::string& proof) -> std::string {
        auto& s = self->state;
        // The proof first: only a caller holding the cookie makes the node remember a redeemed challenge.
        if (!net::verify(env->cfg->security.cookie, challenge, client, self_id(env), proof) ||
            !s.challenges.redeem(env->cfg->security.cookie, challenge, net::steady_ms())) {
          std::fprintf(stderr, "g-actor: a status request failed authentication (wrong cookie)\n");
          return status_denied;
        }
        return env->view.get();
      },
      [=](local, stop_atom) {
        auto& s = self->state;
        s.stopping = true;
        if (s.shards.empty()) return leave(self, env);
        bool peers = live_nodes(self, env).size() > 1;
        if (!peers) return stop_every_shard(self, env);
        // Hand the shards over through the master, one bucket-safe move at a time (zero identifies).
        s.drain_deadline = net::steady_ms() + drain_timeout_ms;
        if (s.election->is_master()) place(self, env);
        else tell_master_leaving(self, env);
      },
  };
}

}  // namespace

caf::actor spawn_node(caf::actor_system& sys, node_env& env) { return sys.spawn(node_behavior, &env); }

}  // namespace g::actors
