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
#include "actors/state_writes.hpp"
#include "actors/stream_trimmer.hpp"
#include "config/redis_endpoint.hpp"
#include "actors/status_protocol.hpp"
#include "cluster/assignment.hpp"
#include "cluster/election.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/peer_auth.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/reshard_store.hpp"
#include "net/rest/gateway_bot.hpp"
#include "cluster/reshard_plan.hpp"

namespace g::actors {
namespace {
struct gateway_msg {  // a /gateway/bot read for a reshard decision
  net::gateway_bot bot;
  std::string error;
};
struct switch_msg {  // the switch's outcome, from the Redis thread
  int to = 0;  // 0 when the job failed before it knew: the switch is tried again
  net::reshard_result result;
  std::int64_t took_us = 0;
  static switch_msg failed(std::string why) { return {0, net::reshard_result::failed(std::move(why)), 0}; }
};
}  // namespace
}  // namespace g::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::cluster_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::gateway_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::switch_msg)

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
using connected_atom = caf::atom_constant<caf::atom("connected")>;
using redis_atom = caf::atom_constant<caf::atom("redis")>;  // node → master: whether it can reach Redis
using view_atom = caf::atom_constant<caf::atom("view")>;
using inbox_atom = caf::atom_constant<caf::atom("inbox")>;
using trim_atom = caf::atom_constant<caf::atom("trim")>;
using reshard_atom = caf::atom_constant<caf::atom("reshard")>;  // node → master: `g-actor reshard`, passed on
using switch_atom = caf::atom_constant<caf::atom("switch")>;    // master → nodes: the reshard switched
using abandon_atom = caf::atom_constant<caf::atom("abandon")>;  // master → nodes: the prepared set is given up
using begun_atom = caf::atom_constant<caf::atom("begun")>;
using switched_atom = caf::atom_constant<caf::atom("switched")>;
using resharding_atom = caf::atom_constant<caf::atom("reshardng")>;

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

// This node's shards of one shard total: the set in force, and during a reshard the set being prepared.
struct shard_set {
  std::map<int, caf::actor> actors;
  std::set<int> ready;               // … that are ready (in force: may send backend commands)
  std::set<int> closing;             // … told to stop, not gone yet
  std::map<int, bool> start_when_closed;  // assigned back while still closing: start (take_over?) once gone
};

// The master's view of one shard total.
struct set_placement {
  std::map<int, std::uint64_t> owners;
  std::map<int, std::int64_t> moving;  // migrating shard → when to stop waiting for it
  std::map<int, int> leaseless;        // shard → reads in a row that found no lease holder
  std::map<int, std::int64_t> in_flight_leaseless;  // in flight, and no lease holder since (steady ms)
  std::set<int> ready;                 // shards reported ready (the prepared set switches once all are)
  // Shards whose owner was fenced (steady ms of the report) while the master did not move them: the lease holder
  // is stale (a failover's replica lacked a handover, say), so the shard is placed again as soon as that lease
  // expires, not after the three reads.
  std::map<int, std::int64_t> fenced;
  bool loaded = false, loading = false;

  // Nobody owns the shard as far as the master knows: placement assigns it on its next round.
  void unown(int shard) {
    owners.erase(shard);
    leaseless.erase(shard);
    ready.erase(shard);
  }
};

struct node_state {
  static inline const char* name = "node";
  std::unique_ptr<cluster::election> election;
  std::map<std::uint64_t, peer> peers;
  std::map<caf::actor_addr, handshake> handshakes;
  std::set<std::uint64_t> connecting;
  int total = 0;                     // the shard set in force (env->shard_total, kept here for the actor's thread)
  std::map<int, shard_set> sets;     // this node's shards, by shard total
  bool inbox_reading = false;
  std::uint64_t view_rounds = 0;  // view refreshes (every second): paces the unknown-shard sweep
  std::deque<std::string> departed;  // peers whose link went down: their master lease may be taken at once
  // Membership. Redis witnesses which nodes live: those with a named connection (shard_store::connected_nodes),
  // read by every node each second and by the master each tick. With the links this node sees, it gives the
  // majority rule, and tells a node behind a partition (connected, link down) from a dead one (connection closed).
  std::set<std::uint64_t> connected;
  std::set<std::uint64_t> ever_linked;  // nodes this one has been linked to: only they count as members
  int minority_ticks = 0;               // the master's ticks in a row seeing less than half of the members
  std::set<std::uint64_t> cut_off;      // the master's: nodes that report they cannot reach Redis
  std::set<std::uint64_t> unlisted;     // the master's: links down, still in `nodes` until Redis shows them gone
  bool redis_reachable = true;          // what this node last told its master
  std::uint64_t reach_told = 0;         // … and which master it told
  std::int64_t reach_told_ms = 0;       // … and when
  bool claim_refusal_logged = false;
  // The master's view: the set in force and, during a reshard, the set being prepared.
  std::map<int, set_placement> placements;
  std::set<std::uint64_t> draining;    // nodes handing their shards over before they stop
  int ticks_since_owners = 0;
  // A reshard (the master's): the total being prepared, whether a switch is on its way, when to try it next.
  int preparing = 0;
  std::int64_t preparing_since = 0;
  bool switching = false;
  std::int64_t next_switch_ms = 0;
  bool reshard_asked = false;  // a request's /gateway/bot read is under way
  int reshard_requested = 0;   // what was asked: a count, 0 for auto
  bool reshard_by_policy = false;
  std::optional<caf::response_promise> reshard_reply;  // `g-actor reshard` waiting for the decision
  std::int64_t next_auto_check_ms = 0;
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

// What the master's rounds in Redis answer (redis_worker::ask): each part with its own outcome.
struct claim_round {
  net::store_result<std::uint64_t> claim = net::store_result<std::uint64_t>::refused("no majority");  // the epoch
  net::store_result<std::vector<std::string>> connected;  // Redis's witness
  bool majority = false;
  std::int32_t seen = 0, members = 0;
  static claim_round failed(std::string why) {
    claim_round c;
    c.claim = net::store_result<std::uint64_t>::failed(why);
    c.connected = net::store_result<std::vector<std::string>>::failed(std::move(why));
    c.majority = true;  // unknown: not reported as a refusal for want of a majority
    return c;
  }
};
struct master_round {
  net::store_result<> lease;
  net::store_result<std::vector<std::string>> connected;
  static master_round failed(std::string why) { return {net::store_result<>::failed(why), {}}; }
};

// A shard as log lines name it: with its total only when its set is not the one in force.
g::log::shard shard_ref(node_actor_t* self, int total, int shard) { return {shard, total == self->state.total ? 0 : total}; }

// Registered again every second (the view round), so one failed write is repaired by the next.
void register_node(node_env* env) {
  write_state(env, "registering this node", [env](net::shard_store& store) {
    return store.register_node(env->registry_entry, env->shard_total);
  }, std::nullopt, log::level::debug);
}

// A lease left unreleased expires by itself (lease_ms); the next master waits that long at most.
void resign_master(node_env* env) {
  write_state(env, "resigning the master lease", [](net::shard_store& store) { return store.resign_master(); });
}

void unregister_nodes(node_env* env, std::vector<std::string> ids) {
  // Not removed (Redis down): the next master's round removes what is still listed without a connection.
  write_state(env, "unregistering departed nodes", [ids = std::move(ids)](net::shard_store& store) {
    net::store_result<> last = net::store_result<>::done();
    for (auto& id : ids)
      if (auto r = store.unregister_node(id); !r.ok()) last = r;
    return last;
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

bool runs_no_shard(const node_state& s) {
  for (auto& [total, set] : s.sets)
    if (!set.actors.empty()) return false;
  return true;
}

void start_shard(node_actor_t* self, node_env* env, int total, int shard, bool take_over) {
  auto& s = self->state;
  if (s.stopping) return;
  auto& set = s.sets[total];
  if (set.actors.count(shard)) {
    // The actor of an earlier stint is still here: handing over, or left from before a freeze (the shard was taken
    // over meanwhile, and the actor is about to be fenced). Run the shard again once it is gone, rather than
    // ignoring an assignment the master counts on (it would wait minutes for the shard to become ready).
    set.start_when_closed[shard] = take_over;
    return;
  }
  auto a = spawn_shard(self->system(), *env, total, shard, take_over, caf::actor_cast<caf::actor>(self));
  self->monitor(a);
  set.actors[shard] = a;
}

void stop_shard(node_actor_t* self, int total, int shard) {
  auto& set = self->state.sets[total];
  set.ready.erase(shard);  // its commands stay in Redis for the next owner
  set.start_when_closed.erase(shard);
  if (auto it = set.actors.find(shard); it != set.actors.end()) {
    set.closing.insert(shard);
    self->send(it->second, stop_atom::value);
  }
}

// A superseded or given-up set: its shards end their sessions (close 1000) and are not started again.
void end_shards(node_actor_t* self, shard_set& set) {
  set.ready.clear();
  set.start_when_closed.clear();
  for (auto& [id, a] : set.actors) {
    set.closing.insert(id);
    self->send(a, local{}, end_atom::value);
  }
}

// A reshard switched the cluster to `to` shards (this node's master did, or another's, or this node read it in
// Redis): the prepared set is in force and takes the backend commands; the superseded set closes its sessions
// with 1000 (its commits are refused in Redis from the switch on, so it could not write anyway).
void apply_switch(node_actor_t* self, node_env* env, int to) {
  auto& s = self->state;
  if (to == s.total || to <= 0) return;
  const int from = s.total;
  LOG_INFO("the cluster runs %d shards now (resharded from %d)\n", to, from);
  s.total = to;
  env->shard_total = to;
  env->board.reset(to);
  for (auto it = s.sets.begin(); it != s.sets.end();) {
    auto& [total, set] = *it;
    if (total == to) {  // ready shards of the new set stay ready: they take the backend commands from now on
      ++it;
      continue;
    }
    end_shards(self, set);
    it = set.actors.empty() ? s.sets.erase(it) : std::next(it);
  }
  for (auto& [id, a] : s.sets[to].actors) self->send(a, local{}, promote_atom::value);
  for (auto it = s.placements.begin(); it != s.placements.end();) it = it->first == to ? std::next(it) : s.placements.erase(it);
  if (s.preparing == to) {
    s.preparing = 0;
    s.switching = false;
  }
}

// The prepared set is given up (Redis lost the preparation, or it cannot finish): its shards end their sessions.
void abandon_preparation(node_actor_t* self, int total) {
  auto& s = self->state;
  if (total == s.total) return;
  if (auto it = s.sets.find(total); it != s.sets.end()) end_shards(self, it->second);
  s.placements.erase(total);
  if (s.preparing == total) {
    LOG_INFO("the reshard to %d shards was given up; %d stay in force\n", total, s.total);
    s.preparing = 0;
    s.switching = false;
  }
}

// The end of a stop: the shards are handed over (or stopped); a master gives up its lease so that another node
// need not wait for it.
void leave(node_actor_t* self, node_env* env) {
  if (self->state.election && self->state.election->is_master())
    resign_master(env);
  self->quit();
}

// A stopping master leaves once the moves it started have landed (or timed out), so that the next master does not
// find shards with no lease and hand them out a second time.
void leave_when_settled(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  bool moving = false;
  for (auto& [total, p] : s.placements) moving = moving || !p.moving.empty();
  if (s.election && s.election->is_master() && moving && net::steady_ms() < s.drain_deadline) return;
  leave(self, env);
}

// No master to hand the shards over through: each closes with a resumable code, commits and releases its lease;
// whoever gets it next resumes the session.
void stop_every_shard(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  s.drain_deadline = 0;
  if (s.shards_stopped) return;
  s.shards_stopped = true;
  if (runs_no_shard(s)) return leave(self, env);
  for (auto& [total, set] : s.sets) {
    set.ready.clear();
    for (auto& [id, shard] : set.actors) self->send(shard, stop_atom::value);
  }
}

std::set<std::uint64_t> live_nodes(node_actor_t* self, node_env* env) {
  std::set<std::uint64_t> live{self_id(env)};
  for (auto& [id, p] : self->state.peers) live.insert(id);
  return live;
}

void note_connected(node_state& s, const std::vector<std::string>& ids) {
  s.connected.clear();
  for (auto& id : ids) s.connected.insert(std::strtoull(id.c_str(), nullptr, 10));
  for (auto it = s.ever_linked.begin(); it != s.ever_linked.end();)  // gone for good: forgotten
    it = s.connected.count(*it) || s.peers.count(*it) ? std::next(it) : s.ever_linked.erase(it);
}

// The cluster's members: every node this one is linked to, and every node it was linked to that Redis still sees
// connected and busy. A named connection alone does not make a member: a node still joining (linked within a
// second) or one that never proved the cookie must not tip a master into the minority.
std::size_t member_count(node_actor_t* self, node_env* env) {
  auto members = live_nodes(self, env);
  for (auto n : self->state.connected)
    if (self->state.ever_linked.count(n)) members.insert(n);
  return members.size();
}

// At least half of the members, this node included. A tie keeps the master it has (two nodes whose link broke:
// the one holding the Redis master lease stays master, the other cannot take the lease from it).
bool sees_majority(node_actor_t* self, node_env* env) {
  return 2 * (self->state.peers.size() + 1) >= member_count(self, env);
}

// Nodes that keep the shards they own and get nothing more: linked nodes that cannot reach Redis, and nodes whose
// link is down but whose Redis connection lives (a partition between nodes: they still renew their leases, and a
// master that merely lost its link to them must not take their shards).
std::set<std::uint64_t> holding_nodes(node_actor_t* self, const std::set<std::uint64_t>& live) {
  auto& s = self->state;
  std::set<std::uint64_t> out;
  for (auto n : s.cut_off)
    if (live.count(n)) out.insert(n);
  for (auto n : s.connected)
    if (!live.count(n)) out.insert(n);
  return out;
}

// The master's placement round for one shard set: every shard owned by a live node, leaving nodes emptied, then
// rebalanced. During a reshard the prepared set is placed by the same rules, beside the set in force.
void place_set(node_actor_t* self, node_env* env, int total, set_placement& p, const std::set<std::uint64_t>& live,
               std::int64_t now) {
  auto& s = self->state;
  for (auto it = p.moving.begin(); it != p.moving.end();) {
    auto owner = p.owners.find(it->first);
    bool lost = owner == p.owners.end() || !live.count(owner->second);
    it = (lost || it->second < now) ? p.moving.erase(it) : std::next(it);
  }
  cluster::placement_input in;
  in.total = total;
  in.max_concurrency = env->max_concurrency;
  in.live_nodes.assign(live.begin(), live.end());
  for (auto n : s.draining)
    if (live.count(n)) in.draining.insert(n);
  if (s.stopping) in.draining.insert(self_id(env));
  in.owners = p.owners;
  in.holding = holding_nodes(self, live);
  for (auto& [shard, until] : p.moving) in.moving.insert(shard);
  in.rebalance = env->cfg->cluster.rebalance;
  in.max_moves = env->cfg->cluster.max_moves;
  const std::uint64_t epoch = s.election->epoch();
  if (in.draining.size() == in.live_nodes.size()) {
    // Every node is leaving: nowhere to move anything. Each stops its shards (commit, resumable close, lease
    // released), and whoever runs them next resumes the sessions.
    for (auto it = p.owners.begin(); it != p.owners.end();) {
      if (it->second != self_id(env) && live.count(it->second))
        self->send(s.peers[it->second].handle, release_atom::value, epoch, static_cast<std::int32_t>(total),
                   static_cast<std::int32_t>(it->first));
      it = live.count(it->second) ? p.owners.erase(it) : std::next(it);
    }
    if (s.stopping) stop_every_shard(self, env);
    return;
  }
  auto plan = cluster::plan_placement(in);
  auto tell = [&](std::uint64_t node, int shard, bool take_over) {
    if (node == self_id(env)) start_shard(self, env, total, shard, take_over);
    else
      self->send(s.peers[node].handle, assign_atom::value, epoch, static_cast<std::int32_t>(total),
                 static_cast<std::int32_t>(shard), take_over);
  };
  for (auto& a : plan.assigns) {
    auto prev = p.owners.find(a.shard);
    bool take_over = prev != p.owners.end() && !live.count(prev->second);  // its owner is gone: steal the session
    p.owners[a.shard] = a.node;
    p.ready.erase(a.shard);
    // In flight until ready, like a migration: a shard still identifying is never moved (its new owner would
    // have no session to resume and would IDENTIFY again), so rebalancing waits for a cold start to finish.
    p.moving[a.shard] = now + assign_timeout_ms;
    tell(a.node, a.shard, take_over);
  }
  for (auto& m : plan.moves) {
    // Live migration: the old owner commits, closes with a resumable code and releases the lease; the new owner
    // takes the released lease and resumes.
    p.owners[m.shard] = m.to;
    p.ready.erase(m.shard);
    p.moving[m.shard] = now + move_timeout_ms;
    if (m.from == self_id(env)) stop_shard(self, total, m.shard);
    else
      self->send(s.peers[m.from].handle, release_atom::value, epoch, static_cast<std::int32_t>(total),
                 static_cast<std::int32_t>(m.shard));
    tell(m.to, m.shard, false);
  }
}

void place(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  if (!s.election || !s.election->is_master()) return;
  if (!sees_majority(self, env)) return;  // about to give mastership up: assign nothing meanwhile
  const std::int64_t now = net::steady_ms();
  const auto live = live_nodes(self, env);
  for (auto& [total, p] : s.placements)
    if (p.loaded) place_set(self, env, total, p, live, now);
}

void load_owners(node_actor_t* self, node_env* env, int total) {
  auto& p = self->state.placements[total];
  if (p.loading) return;
  p.loading = true;
  auto me = caf::actor_cast<caf::actor>(self);
  using holders = net::store_result<std::vector<std::string>>;
  env->redis->ask<holders>([env, total](net::redis_connection& conn) {
    return net::shard_store(conn, env->cfg->node.group, env->node_id).lease_holders(total);
  }, [me, total](holders h) {
    std::vector<std::uint64_t> owners;
    if (h.ok())  // else Redis did not answer: the next tick asks again
      for (auto& id : h.value) owners.push_back(std::strtoull(id.c_str(), nullptr, 10));
    caf::anon_send(me, local{}, owners_atom::value, static_cast<std::int32_t>(total), owners, h.ok());
  });
}

// The master's map against the lease holders in Redis, for shards not in flight: a shard held by another live
// node than the map says is recorded as that node's; one that nobody has held for three reads (15 s) is handed
// out again. Messages are not lost between live nodes in normal operation, but a node that ignored an assignment
// (it was stopping, say) would otherwise leave its shard unowned for good.
void reconcile_owners(node_actor_t* self, node_env* env, int total, set_placement& p,
                      const std::vector<std::uint64_t>& holders) {
  const auto live = live_nodes(self, env);
  const auto holding = holding_nodes(self, live);
  for (std::size_t i = 0; i < holders.size(); ++i) {
    const int shard = static_cast<int>(i);
    if (auto f = p.fenced.find(shard); f != p.fenced.end() && net::steady_ms() - f->second > 2 * env->cfg->cluster.lease_ms)
      p.fenced.erase(f);  // held (or placed) again meanwhile
    if (p.moving.count(shard)) {
      p.fenced.erase(shard);  // the master moves it anyway
      p.leaseless.erase(shard);
      // A shard in flight takes its lease within a second (before any identify slot). None for 10 s: the
      // assignment was lost (its node was gone, or ignored it); place the shard again rather than wait minutes.
      const std::int64_t now = net::steady_ms();
      if (holders[i]) {
        p.in_flight_leaseless.erase(shard);
      } else if (now - p.in_flight_leaseless.emplace(shard, now).first->second > 10000) {
        LOG_SHARD_WARN(shard_ref(self, total, shard), "assigned, but nobody took its lease in 10 s: assigning it again");
        p.in_flight_leaseless.erase(shard);
        p.moving.erase(shard);
        p.unown(shard);
      }
      continue;
    }
    p.in_flight_leaseless.erase(shard);
    if (auto f = p.fenced.find(shard); f != p.fenced.end()) {
      if (!holders[i]) {
        LOG_SHARD_WARN(shard_ref(self, total, shard), "its owner was fenced by a stale lease, which expired: assigning it again");
        p.fenced.erase(f);
        p.unown(shard);
        continue;
      }
    }
    if (holders[i]) {
      p.leaseless.erase(shard);
      if (live.count(holders[i])) p.owners[shard] = holders[i];
      continue;
    }
    auto owner = p.owners.find(shard);
    if (owner == p.owners.end()) continue;  // unowned already: placement assigns it
    if (holding.count(owner->second)) {
      // Its owner cannot renew (cut off from Redis, or behind a partition and frozen): the lease expired, so the
      // shard is placed now. A linked owner is told to let it go; one behind a partition is fenced if it returns.
      LOG_SHARD_WARN(shard_ref(self, total, shard), "the lease of node %llu expired while it could not renew it: moving the shard",
                     static_cast<unsigned long long>(owner->second));
      if (live.count(owner->second) && owner->second != self_id(env))
        self->send(self->state.peers[owner->second].handle, drop_atom::value, self->state.election->epoch(),
                   static_cast<std::int32_t>(total), static_cast<std::int32_t>(shard));
      p.owners.erase(owner);
      p.leaseless.erase(shard);
      p.ready.erase(shard);
      continue;
    }
    if (++p.leaseless[shard] < 3) continue;
    LOG_SHARD_WARN(shard_ref(self, total, shard), "no lease holder for 15 s: assigning it again");
    p.owners.erase(shard);
    p.leaseless.erase(shard);
    p.ready.erase(shard);
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
        std::set<std::string> visible{env->node_id}, linked;
        for (auto& [id, p] : s.peers) visible.insert(std::to_string(id));
        for (auto id : s.ever_linked) linked.insert(std::to_string(id));
        env->redis->ask<claim_round>([env, departed, known, visible, linked](net::redis_connection& conn) {
          net::shard_store store(conn, env->cfg->node.group, env->node_id);
          claim_round c;
          c.connected = store.connected_nodes();
          std::set<std::string> members = visible;
          std::vector<std::string> gone;  // departed, and Redis saw their connection close: dead, not partitioned
          if (c.connected.ok()) {
            const auto& ids = c.connected.value;
            for (auto& id : ids)
              if (linked.count(id)) members.insert(id);
            for (auto& d : departed)
              if (!std::binary_search(ids.begin(), ids.end(), d)) gone.push_back(d);
          }
          c.seen = static_cast<std::int32_t>(visible.size());
          c.members = static_cast<std::int32_t>(members.size());
          c.majority = 2 * visible.size() >= members.size();
          if (c.majority) c.claim = store.claim_master(env->cfg->cluster.lease_ms, departed, known, gone);
          return c;
        }, [me](claim_round c) {
          if (c.claim.unavailable() && c.majority)
            LOG_DEBUG("claiming the master lease failed: %s", c.claim.reason.c_str());
          caf::anon_send(me, local{}, claimed_atom::value, c.claim.ok(), c.claim.value, c.majority, c.seen, c.members,
                         c.connected.value, c.connected.ok());
        });
        break;
      }
      case cluster::election_output::resign:
        resign_master(env);
        break;
      case cluster::election_output::became_follower:
        if (o.epoch >= s.epoch_seen) {  // a deposed master's assignments are refused from now on
          s.epoch_seen = o.epoch;
          s.master_seen = o.master;
        }
        [[fallthrough]];
      case cluster::election_output::master_lost:
        s.cut_off.clear();  // the next master hears it again from the nodes themselves
        s.unlisted.clear();
        s.minority_ticks = 0;
        s.placements.clear();
        s.draining.clear();
        s.preparing = 0;
        s.switching = false;
        break;
    }
  }
}

// ---- Resharding (the master's part). The set in force keeps committing while the new set is placed, identifies
// and has its events held in Redis; once every new shard holds a session, one atomic switch in Redis moves the
// stream over (reshard_store.hpp), and the old set closes its sessions with 1000.

void answer_reshard(node_actor_t* self, const std::string& text) {
  auto& s = self->state;
  LOG_INFO("reshard: %s\n", text.c_str());
  if (s.reshard_reply) {
    s.reshard_reply->deliver(text);
    s.reshard_reply.reset();
  }
}

void read_gateway_bot(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  net::rest_options rest;
  rest.rest_url = env->cfg->discord.rest_url;
  rest.token = env->cfg->discord.token;
  rest.max_attempts = 2;
  self->system().spawn([me, rest](caf::blocking_actor*) {  // blocking HTTP: its own thread
    auto info = net::fetch_gateway_bot(rest);
    gateway_msg m;
    if (auto* bot = std::get_if<net::gateway_bot>(&info)) m.bot = *bot;
    else m.error = std::get<net::rest_error>(info).message;
    caf::anon_send(me, std::move(m));
  });
}

// `g-actor reshard --cancel`: the preparation is given up; the set in force stays.
caf::result<std::string> cancel_reshard(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  if (!s.preparing) return std::string("REFUSED: no reshard is in progress");
  if (s.switching) return std::string("REFUSED: the switch to " + std::to_string(s.preparing) + " shards is under way");
  if (s.reshard_reply) return std::string("REFUSED: another reshard request is being decided");
  auto me = caf::actor_cast<caf::actor>(self);
  const int to = s.preparing;
  env->redis->ask<net::reshard_result>([env, to](net::redis_connection& conn) {
    return net::reshard_store(conn, env->cfg->node.group, env->node_id).abandon(to);
  }, [me, to](net::reshard_result r) {
    caf::anon_send(me, local{}, abandon_atom::value, static_cast<std::int32_t>(to), r.ok(), r.reason);
  });
  s.reshard_reply = self->make_response_promise();
  return *s.reshard_reply;
}

// `g-actor reshard` on the master (a count, 0 for auto, -1 to cancel), or the auto policy (by_policy).
caf::result<std::string> request_reshard(node_actor_t* self, node_env* env, std::int32_t shards, bool by_policy) {
  auto& s = self->state;
  if (!s.election || !s.election->is_master()) return std::string("REFUSED: this node is not the master");
  if (shards == -1 && !by_policy) return cancel_reshard(self, env);
  if (s.preparing) return "REFUSED: a reshard to " + std::to_string(s.preparing) + " shards is in progress";
  if (s.reshard_asked) return std::string("REFUSED: another reshard request is being decided");
  if (shards < 0) return std::string("REFUSED: the shard count must be a positive number or auto");
  s.reshard_asked = true;
  s.reshard_requested = shards;
  s.reshard_by_policy = by_policy;
  read_gateway_bot(self, env);
  if (by_policy) return std::string();
  s.reshard_reply = self->make_response_promise();
  return *s.reshard_reply;
}

// The decision's end: the next request may come (a request stays "being decided" until its begin is answered).
void decided(node_actor_t* self, const std::string& answer) {
  self->state.reshard_asked = false;
  if (!answer.empty()) answer_reshard(self, answer);
}

void decide_reshard(node_actor_t* self, node_env* env, const gateway_msg& m) {
  auto& s = self->state;
  if (!s.election->is_master()) return decided(self, "REFUSED: this node is no longer the master");
  if (!m.error.empty()) return decided(self, "REFUSED: /gateway/bot: " + m.error);
  cluster::reshard_input in;
  in.requested = s.reshard_requested;
  in.current = s.total;
  in.preparing = s.preparing;
  in.recommended = m.bot.shards;
  in.max_concurrency = m.bot.max_concurrency;
  in.sessions_left = m.bot.session_remaining;
  in.reserve = env->cfg->discord.session_reserve;
  if (s.reshard_by_policy) {
    in.requested = cluster::auto_reshard_target(s.total, m.bot.shards, m.bot.max_concurrency, env->cfg->discord.reshard_margin);
    if (in.requested == 0) return decided(self, "");  // nothing outgrown
  }
  auto d = cluster::plan_reshard(in);
  if (!d.to) return decided(self, "REFUSED: " + d.reason);
  auto me = caf::actor_cast<caf::actor>(self);
  const int from = s.total, to = d.to;
  const std::uint64_t epoch = s.election->epoch();
  env->redis->ask<net::reshard_result>([env, from, to, epoch](net::redis_connection& conn) {
    return net::reshard_store(conn, env->cfg->node.group, env->node_id).begin(from, to, epoch, net::wall_ms());
  }, [me, to, note = d.reason](net::reshard_result r) {
    caf::anon_send(me, local{}, begun_atom::value, static_cast<std::int32_t>(to), r.ok(), r.reason.empty() ? note : r.reason);
  });
}

void begin_preparing(node_actor_t* self, node_env* env, int to) {
  auto& s = self->state;
  s.preparing = to;
  s.preparing_since = net::steady_ms();
  s.switching = false;
  s.next_switch_ms = 0;
  auto& p = s.placements[to];
  p = set_placement{};
  p.loaded = true;  // a new set: nobody holds any of it
  place(self, env);
}

// The master learns a shard is ready: a migration landed; for the prepared set, once all are, the switch is tried.
// A node's shard was fenced. Only where the master still counts that node as the owner (it did not move the shard
// itself) is the lease holder stale; the shard is then placed again once that lease expires.
void note_fenced(node_actor_t* self, std::uint64_t node, int total, int shard) {
  auto it = self->state.placements.find(total);
  if (it == self->state.placements.end()) return;
  auto& p = it->second;
  if (p.moving.count(shard)) return;
  auto owner = p.owners.find(shard);
  if (owner != p.owners.end() && owner->second != node) return;  // moved on purpose (a takeover): not stale
  p.fenced[shard] = net::steady_ms();
}

void shard_ready(node_actor_t* self, node_env* env, int total, int shard) {
  auto& s = self->state;
  auto it = s.placements.find(total);
  if (it == s.placements.end()) return;
  it->second.moving.erase(shard);
  it->second.ready.insert(shard);
  if (total == s.preparing && static_cast<int>(it->second.ready.size()) >= total) s.next_switch_ms = 0;
  place(self, env);
}

// Tried when every new shard reported ready, and every 2 s anyway (a new master does not know who reported): the
// switch script itself checks that every shard of the new set holds a session.
void step_reshard(node_actor_t* self, node_env* env, std::int64_t now) {
  auto& s = self->state;
  if (!s.preparing) {
    if (env->cfg->discord.reshard_auto && now >= s.next_auto_check_ms && !s.reshard_asked) {
      s.next_auto_check_ms = now + env->cfg->discord.reshard_check_s * 1000;
      request_reshard(self, env, 0, true);
    }
    return;
  }
  if (s.switching || now < s.next_switch_ms) return;
  s.switching = true;
  s.next_switch_ms = now + 2000;
  auto me = caf::actor_cast<caf::actor>(self);
  const int to = s.preparing;
  const std::uint64_t epoch = s.election->epoch();
  env->redis->ask<switch_msg>([env, to, epoch](net::redis_connection& conn) {
    switch_msg m;
    m.to = to;
    const auto t0 = std::chrono::steady_clock::now();
    m.result = net::reshard_store(conn, env->cfg->node.group, env->node_id)
                   .switch_over(to, epoch, net::wall_ms(), 0);
    m.took_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    return m;
  }, [me](switch_msg m) { caf::anon_send(me, std::move(m)); });
}

// The master tells every node what it did to a shard set (switch, abandon), under its epoch.
template <class Atom>
void tell_peers(node_actor_t* self, Atom what, int total) {
  const std::uint64_t epoch = self->state.election->epoch();
  for (auto& [id, p] : self->state.peers) self->send(p.handle, what, epoch, static_cast<std::int32_t>(total));
}

void switch_everywhere(node_actor_t* self, node_env* env, int to) {
  apply_switch(self, env, to);
  tell_peers(self, switch_atom::value, to);
}

void abandon_everywhere(node_actor_t* self, int total) {
  abandon_preparation(self, total);
  tell_peers(self, abandon_atom::value, total);
}

void read_reshard(node_actor_t* self, node_env* env);

void finish_switch(node_actor_t* self, node_env* env, const switch_msg& m) {
  auto& s = self->state;
  s.switching = false;
  if (m.to != s.preparing) return;
  const auto& r = m.result;
  if (r.ok()) {
    const std::int64_t prepared_ms = net::steady_ms() - s.preparing_since;
    LOG_INFO("reshard: switched to %d shards in %.1f ms after %.1f s of preparation: marker %s, %lld held "
                 "events written, %lld already in the stream, %lld expected from the new set's next commits\n",
                 m.to, static_cast<double>(m.took_us) / 1000.0, static_cast<double>(prepared_ms) / 1000.0,
                 r.value.marker_id.c_str(), static_cast<long long>(r.value.appended),
                 static_cast<long long>(r.value.skipped), static_cast<long long>(r.value.left_out));
    switch_everywhere(self, env, m.to);
    return;
  }
  if (r.lost() && r.value.not_ready < 0) {
    // The record is gone: this switch's own earlier try may have gone through with its answer lost (a Redis
    // timeout), or Redis lost the preparation. Redis says which: read it again (read_reshard's answer applies it).
    LOG_INFO("reshard: switch refused: %s\n", r.reason.c_str());
    if (r.reason.rfind("no reshard", 0) == 0) read_reshard(self, env);
  }
  // Not ready yet, or Redis did not answer: tried again on a later tick.
}

// A new master reads what its predecessor left: a switch already made, or a preparation under way.
void read_reshard(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  // (the count in force, the count being prepared or 0)
  using reading = net::store_result<std::pair<std::int32_t, std::int32_t>>;
  env->redis->ask<reading>([env](net::redis_connection& conn) {
    auto rec = net::reshard_store(conn, env->cfg->node.group, env->node_id).current();
    if (!rec.ok()) return reading::failed(rec.reason);
    auto count = conn.command({"GET", net::redis_keys(env->cfg->node.group).shard_count()});
    if (count.is_error()) return reading::failed(count.text);
    int in_force = count.type == net::redis_reply::string ? std::atoi(count.text.c_str()) : 0;
    return reading::done({in_force, rec.value ? rec.value->to : 0});
  }, [me](reading r) {
    caf::anon_send(me, local{}, resharding_atom::value, r.ok(), r.value.first, r.value.second);
  });
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

// A node that cannot reach Redis tells its master (again each second while it lasts, and to a new master), so that
// nothing new is placed here and the shards move once their leases expire. "Cannot reach": no answer for as long
// as a lease lasts, or 1.5 s (a node renews its leases three times per lease).
void report_redis_reach(node_actor_t* self, node_env* env, std::int64_t now) {
  auto& s = self->state;
  const std::int64_t answered = env->redis->answered_ms();
  const bool reachable = answered == 0 || now - answered < std::min<std::int64_t>(env->cfg->cluster.lease_ms, 1500);
  if (reachable && !s.redis_reachable)
    LOG_INFO("Redis (%s) answers again", config::redis_endpoint_of(*env->cfg, 0).describe().c_str());
  else if (!reachable && s.redis_reachable)
    LOG_WARN("Redis (%s) has not answered for %.1f s: telling the master",
             config::redis_endpoint_of(*env->cfg, 0).describe().c_str(), static_cast<double>(now - answered) / 1000.0);
  const bool changed = reachable != s.redis_reachable;
  s.redis_reachable = reachable;
  env->redis_reachable = reachable;
  auto m = s.election->master();
  if (s.election->is_master() || !m || !s.peers.count(*m)) return;
  // On a change, to a master not told yet (a new master starts with no list), and each second while cut off.
  if (!changed && s.reach_told == *m && (reachable || now - s.reach_told_ms < 1000)) return;
  s.reach_told = *m;
  s.reach_told_ms = now;
  self->send(s.peers[*m].handle, redis_atom::value, self_id(env), reachable);
}

caf::behavior node_behavior(node_actor_t* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (auto& [total, set] : s.sets)
      for (auto it = set.actors.begin(); it != set.actors.end(); ++it) {
        if (it->second.address() != dm.source) continue;
        const int shard = it->first, of = total;  // `total` is a structured binding: not capturable below
        set.ready.erase(shard);
        set.closing.erase(shard);
        set.actors.erase(it);
        if (auto again = set.start_when_closed.find(shard); again != set.start_when_closed.end()) {
          bool take_over = again->second;
          set.start_when_closed.erase(again);
          start_shard(self, env, of, shard, take_over);
        }
        if (s.stopping && runs_no_shard(s)) leave_when_settled(self, env);
        return;
      }
    if (s.handshakes.erase(dm.source)) return;
    for (auto it = s.peers.begin(); it != s.peers.end(); ++it) {
      if (it->second.handle.address() != dm.source) continue;
      std::uint64_t id = it->first;
      s.peers.erase(it);
      LOG_INFO("node %llu is gone (link down)\n", static_cast<unsigned long long>(id));
      s.draining.erase(id);
      s.cut_off.erase(id);
      s.unlisted.insert(id);
      s.departed.push_back(std::to_string(id));
      if (s.departed.size() > departed_kept) s.departed.pop_front();
      if (s.leaving_told == id) s.leaving_told = 0;
      apply_election(self, env, s.election->peer_down(id, net::steady_ms()));
      if (s.election->is_master()) {
        // Dead, or behind a partition? Redis saw a dead process's connection close: its shards go to the living at
        // once (session stealing). A node still connected keeps its shards while it renews their leases.
        auto me = caf::actor_cast<caf::actor>(self);
        using connected = net::store_result<std::vector<std::string>>;
        env->redis->ask<connected>([env](net::redis_connection& conn) {
          return net::shard_store(conn, env->cfg->node.group, env->node_id).connected_nodes();
        }, [me, id](connected ids) {
          const bool alive = ids.ok() && std::binary_search(ids.value.begin(), ids.value.end(), std::to_string(id));
          if (alive) LOG_INFO("node %llu lost its link but is still connected to Redis: its shards stay "
                              "with it while it renews their leases", static_cast<unsigned long long>(id));
          caf::anon_send(me, local{}, connected_atom::value, ids.value, ids.ok());
        });
      }
      return;
    }
  });
  return {
      [=](local, start_atom) {
        auto& s = self->state;
        cluster::node_rank me{self_id(env), env->cfg->node.priority, env->started_ms};
        s.election = std::make_unique<cluster::election>(me, net::steady_ms() + 1500);  // 1.5 s to meet the peers
        s.total = env->shard_total;
        // Unless Redis witnesses no other node of the group: then there is nobody to meet, and the cold start need
        // not wait (a node that starts beside others finds their connections and waits for the links).
        auto self_handle = caf::actor_cast<caf::actor>(self);
        using connected = net::store_result<std::vector<std::string>>;
        env->redis->ask<connected>([env](net::redis_connection& conn) {
          return net::shard_store(conn, env->cfg->node.group, env->node_id).connected_nodes();
        }, [self_handle, id = env->node_id](connected ids) {
          const bool alone = ids.ok() && std::all_of(ids.value.begin(), ids.value.end(), [&](auto& n) { return n == id; });
          if (alone) caf::anon_send(self_handle, local{}, alone_atom::value);
        });
        self->send(self, local{}, register_atom::value);
        self->send(self, local{}, discover_atom::value);
        self->send(self, local{}, tick_atom::value);
        self->send(self, local{}, view_atom::value);
        self->send(self, local{}, inbox_atom::value);
        self->delayed_send(self, std::chrono::seconds(10), local{}, trim_atom::value);
      },
      [=](local, alone_atom) {
        auto& s = self->state;
        s.election->no_peers_to_meet(net::steady_ms());
        if (s.election->next_wakeup() <= net::steady_ms()) apply_election(self, env, s.election->tick(net::steady_ms()));
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
          LOG_INFO("node %llu failed authentication (wrong cookie): ignored\n",
                       static_cast<unsigned long long>(id));
          self->demonitor(h.handle);
          return;
        }
        if (!h.dialer)  // it proved itself: now this node's proof
          self->send(sender, proof_atom::value, self_id(env),
                     net::prove(env->cfg->security.cookie, h.their_challenge, self_id(env), id));
        if (s.peers.count(id)) return;  // a second link to a node already linked: the first one stays
        s.peers[id] = peer{h.handle, h.rank};
        s.ever_linked.insert(id);
        s.departed.erase(std::remove(s.departed.begin(), s.departed.end(), std::to_string(id)), s.departed.end());
        apply_election(self, env, s.election->peer_up(h.rank, net::steady_ms()));
        place(self, env);
      },
      [=](elect_atom, std::uint64_t from, std::int32_t m, std::uint64_t epoch) {
        auto& s = self->state;
        if (authenticated_sender(self) != from) return;  // unauthenticated, or posing as another node
        apply_election(self, env, s.election->receive(from, static_cast<cluster::election_message>(m), epoch, net::steady_ms()));
      },
      [=](local, claimed_atom, bool granted, std::uint64_t epoch, bool majority, std::int32_t seen, std::int32_t members,
          const std::vector<std::string>& connected, bool witnessed) {
        auto& s = self->state;
        if (witnessed) note_connected(s, connected);
        if (!majority) {
          if (!s.claim_refusal_logged)
            LOG_WARN("sees %d of %d nodes: not claiming mastership without a majority\n", seen, members);
          s.claim_refusal_logged = true;
        } else {
          s.claim_refusal_logged = false;
        }
        const bool was_master = s.election->is_master();
        apply_election(self, env, s.election->claim_result(granted, epoch, net::steady_ms()));
        if (s.election->is_master() && !was_master) {
          LOG_INFO("master of group '%s', epoch %llu\n", env->cfg->node.group.c_str(),
                       static_cast<unsigned long long>(epoch));
          s.epoch_seen = epoch;
          s.master_seen = self_id(env);
          read_reshard(self, env);  // a reshard the previous master began (or finished) goes on from Redis
          load_owners(self, env, s.total);
          // Nodes that died before this one became master (the old master, say) cannot unregister themselves.
          unregister_nodes(env, {s.departed.begin(), s.departed.end()});
        }
      },
      [=](local, owners_atom, std::int32_t total, const std::vector<std::uint64_t>& owners, bool read) {
        auto& s = self->state;
        auto it = s.placements.find(total);
        if (it == s.placements.end()) return;  // a set that is gone (switched away from, or given up)
        auto& p = it->second;
        p.loading = false;
        if (!s.election->is_master() || !read) return;
        if (!p.loaded) {  // the map a new master starts from
          p.owners.clear();
          for (std::size_t i = 0; i < owners.size(); ++i)
            if (owners[i]) p.owners[static_cast<int>(i)] = owners[i];
          p.loaded = true;
          p.leaseless.clear();
        } else {
          reconcile_owners(self, env, total, p, owners);
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
          LOG_INFO("node %llu did not prove the cookie within %lld s (wrong cookie?): dropped\n",
                       static_cast<unsigned long long>(it->second.rank.id), static_cast<long long>(handshake_timeout_ms / 1000));
          self->demonitor(it->second.handle);
          it = s.handshakes.erase(it);
        }
        if (s.election->next_wakeup() <= now) apply_election(self, env, s.election->tick(now));
        if (s.election->is_master()) {
          // Keep the master lease; losing it means another node may act as master.
          auto me = caf::actor_cast<caf::actor>(self);
          env->redis->ask<master_round>([env](net::redis_connection& conn) {
            net::shard_store store(conn, env->cfg->node.group, env->node_id);
            master_round m;
            m.lease = store.keep_master(env->cfg->cluster.lease_ms);
            if (m.lease.ok()) m.connected = store.connected_nodes();
            return m;
          }, [me](master_round m) {
            // Not renewed, for whatever reason: another node may act as master once it expires, so step down.
            if (!m.lease.ok()) {
              LOG_WARN("the master lease was not renewed (%s: %s)", net::outcome_name(m.lease.outcome), m.lease.reason.c_str());
              return caf::anon_send(me, local{}, lost_atom::value);
            }
            caf::anon_send(me, local{}, connected_atom::value, m.connected.value, m.connected.ok());
          });
          // The first read, retried while Redis is down; then every 5 s, to catch what a lost message hid; every tick
          // while a node holds shards it cannot renew (their leases expiring is the signal to move them).
          s.placements[s.total];
          bool fenced = false;
          for (auto& [total, p] : s.placements) fenced = fenced || !p.fenced.empty();
          const bool again = ++s.ticks_since_owners >= 20 || fenced || !holding_nodes(self, live_nodes(self, env)).empty();
          if (again) s.ticks_since_owners = 0;
          for (auto& [total, p] : s.placements)
            if (!p.loaded || again) load_owners(self, env, total);
          place(self, env);
          step_reshard(self, env, now);
        }
        env->minority = !sees_majority(self, env);
        report_redis_reach(self, env, now);
        if (s.stopping && runs_no_shard(s)) leave_when_settled(self, env);  // waiting for the last moves
        if (s.stopping && s.drain_deadline) {
          if (now > s.drain_deadline) {
            LOG_INFO("the handover through the master timed out; stopping the shards here\n");
            stop_every_shard(self, env);
          } else if (!s.election->is_master()) {
            tell_master_leaving(self, env);
          }
        }
        self->delayed_send(self, std::chrono::milliseconds(250), local{}, tick_atom::value);
      },
      [=](local, connected_atom, const std::vector<std::string>& ids, bool witnessed) {
        auto& s = self->state;
        if (!s.election->is_master()) return;
        if (witnessed) note_connected(s, ids);
        // A node that died cannot unregister itself: once Redis shows it gone (or cannot tell), the master does.
        for (auto it = s.unlisted.begin(); it != s.unlisted.end();) {
          if (s.peers.count(*it) || (witnessed && s.connected.count(*it))) {
            it = s.peers.count(*it) ? s.unlisted.erase(it) : std::next(it);
            continue;
          }
          unregister_nodes(env, {std::to_string(*it)});
          it = s.unlisted.erase(it);
        }
        if (sees_majority(self, env)) {
          s.minority_ticks = 0;
          place(self, env);  // a node whose connection closed is dead: its shards go to the living now
          return;
        }
        // Cut off from most of the cluster (but not from Redis): give mastership up after a second (a node that just
        // started may be connected to Redis before it is linked), so that the majority elects a master.
        if (++s.minority_ticks < 4) return;
        LOG_WARN("sees %zu of %zu nodes: giving mastership up for the majority to elect one\n",
                     s.peers.size() + 1, member_count(self, env));
        s.minority_ticks = 0;
        resign_master(env);
        apply_election(self, env, s.election->lease_lost(net::steady_ms()));
      },
      [=](redis_atom, std::uint64_t from, bool reachable) {
        auto& s = self->state;
        if (authenticated_sender(self) != from || !s.election->is_master()) return;
        if (reachable ? s.cut_off.erase(from) == 0 : !s.cut_off.insert(from).second) return;
        if (reachable)
          LOG_INFO("node %llu reaches Redis again\n", static_cast<unsigned long long>(from));
        else
          LOG_INFO("node %llu cannot reach Redis: nothing new goes to it, and its shards move as their "
                               "leases expire\n", static_cast<unsigned long long>(from));
        place(self, env);
      },
      [=](drop_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard) {
        auto& s = self->state;
        if (!from_master(self, epoch)) return;
        auto set = s.sets.find(total);
        if (set == s.sets.end()) return;
        auto it = set->second.actors.find(shard);
        if (it == set->second.actors.end()) return;
        set->second.ready.erase(shard);
        set->second.closing.insert(shard);  // an assignment back before it is gone starts it again afterwards
        self->send(it->second, local{}, drop_atom::value);
      },
      [=](local, lost_atom) {
        if (!self->state.election->is_master()) return;  // one answer of several queued while Redis was away
        LOG_INFO("lost the master lease; stepping down\n");
        apply_election(self, env, self->state.election->lease_lost(net::steady_ms()));
      },
      [=](assign_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard, bool take_over) {
        if (!from_master(self, epoch) || total <= 0 || shard < 0 || shard >= total) return;
        start_shard(self, env, total, shard, take_over);
      },
      [=](release_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard) {
        if (!from_master(self, epoch)) return;
        stop_shard(self, total, shard);
      },
      [=](switch_atom, std::uint64_t epoch, std::int32_t to) {
        if (!from_master(self, epoch)) return;
        apply_switch(self, env, to);
      },
      [=](abandon_atom, std::uint64_t epoch, std::int32_t total) {
        if (!from_master(self, epoch)) return;
        abandon_preparation(self, total);
      },
      [=](leaving_atom, std::uint64_t id) {
        auto& s = self->state;
        if (authenticated_sender(self) != id || !s.election->is_master()) return;
        LOG_INFO("node %llu is leaving: moving its shards\n", static_cast<unsigned long long>(id));
        s.draining.insert(id);
        place(self, env);
      },
      [=](local, ready_atom, std::int32_t total, std::int32_t shard) {  // from one of this node's shard actors
        auto& s = self->state;
        s.sets[total].ready.insert(shard);
        if (s.election->is_master()) {
          shard_ready(self, env, total, shard);
        } else if (auto m = s.election->master(); m && s.peers.count(*m)) {
          self->send(s.peers[*m].handle, moved_atom::value, total, shard);
        }
      },
      [=](local, fenced_atom, std::int32_t total, std::int32_t shard) {  // from one of this node's shard actors
        auto& s = self->state;
        if (s.election->is_master()) return note_fenced(self, self_id(env), total, shard);
        if (auto m = s.election->master(); m && s.peers.count(*m))
          self->send(s.peers[*m].handle, fenced_atom::value, self_id(env), total, shard);
      },
      [=](fenced_atom, std::uint64_t from, std::int32_t total, std::int32_t shard) {
        if (authenticated_sender(self) != from || !self->state.election->is_master()) return;
        note_fenced(self, from, total, shard);
      },
      [=](moved_atom, std::int32_t total, std::int32_t shard) {
        auto& s = self->state;
        if (!authenticated_sender(self) || !s.election->is_master()) return;
        shard_ready(self, env, total, shard);  // the next migration may start
      },
      [=](local, inbox_atom) {
        auto& s = self->state;
        auto& ready = s.sets[s.total].ready;
        if (s.inbox_reading || ready.empty()) {
          self->delayed_send(self, std::chrono::milliseconds(100), local{}, inbox_atom::value);
          return;
        }
        s.inbox_reading = true;
        auto me = caf::actor_cast<caf::actor>(self);
        env->redis->ask<inbox_msg>([env, ready](net::redis_connection& conn) {
          return inbox_msg{take_commands(conn, env->cfg->node.group, ready), {}};
        }, [me](inbox_msg m) { caf::anon_send(me, std::move(m)); });
      },
      [=](inbox_msg& m) {
        auto& s = self->state;
        s.inbox_reading = false;
        for (auto& [shard, cmds] : m.by_shard) {
          auto& in_force = s.sets[s.total].actors;
          auto it = in_force.find(shard);
          if (it != in_force.end()) {
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
        env->redis->post([env](net::redis_connection& conn) { env->trimmer->run(conn); });
        // Commands for shards that do not exist are answered by the master, every few seconds.
        if (self->state.election && self->state.election->is_master() && ++self->state.view_rounds % 3 == 0)
          env->redis->post([env](net::redis_connection& conn) {
            env->counters.rejected_commands += reject_unknown_shards(conn, env->cfg->node.group, env->node_id, env->shard_total);
          });
        self->delayed_send(self, std::chrono::seconds(1), local{}, view_atom::value);
      },
      [=](local, view_atom, const cluster_snapshot& snap) {
        auto& s = self->state;
        if (snap.ok && snap.connected && !s.election->is_master()) note_connected(s, *snap.connected);
        std::int64_t now = net::wall_ms();
        if (snap.entries_added >= 0) {
          if (s.last_added >= 0 && now > s.last_added_ms)
            s.events_per_s = static_cast<double>(snap.entries_added - s.last_added) * 1000.0 /
                             static_cast<double>(now - s.last_added_ms);
          s.last_added = snap.entries_added;
          s.last_added_ms = now;
        }
        // Redis says which set is in force: a node that missed the master's word (or whose master died right
        // after the switch) follows it here.
        if (snap.ok && snap.shard_count > 0 && snap.shard_count != s.total && !snap.reshard_to) apply_switch(self, env, snap.shard_count);
        env->view.set(render_cluster(snap, {env->cfg->node.group, env->node_id, env->shard_total, now, s.events_per_s}));
      },
      // `g-actor reshard`: the status challenge, then the request; a node that is not the master passes it on.
      [=](status_atom, std::uint64_t client, const std::string& challenge, const std::string& proof,
          std::int32_t shards) -> caf::result<std::string> {
        auto& s = self->state;
        if (!net::verify(env->cfg->security.cookie, challenge, client, self_id(env), proof) ||
            !s.challenges.redeem(env->cfg->security.cookie, challenge, net::steady_ms())) {
          LOG_INFO("a reshard request failed authentication (wrong cookie)\n");
          return status_denied;
        }
        if (s.election && s.election->is_master()) return request_reshard(self, env, shards, false);
        auto m = s.election ? s.election->master() : std::nullopt;
        if (!m || !s.peers.count(*m)) return std::string("REFUSED: no master is known yet; try again in a few seconds");
        auto rp = self->make_response_promise<std::string>();
        self->request(s.peers[*m].handle, std::chrono::seconds(30), reshard_atom::value, self_id(env), shards)
            .then([rp](std::string& answer) mutable { rp.deliver(answer); },
                  [rp](caf::error&) mutable { rp.deliver(std::string("REFUSED: the master did not answer")); });
        return rp;
      },
      [=](reshard_atom, std::uint64_t from, std::int32_t shards) -> caf::result<std::string> {
        if (authenticated_sender(self) != from) return status_denied;  // only a node of the cluster passes one on
        return request_reshard(self, env, shards, false);
      },
      [=](gateway_msg& m) { decide_reshard(self, env, m); },
      [=](local, begun_atom, std::int32_t to, bool begun, const std::string& reason) {
        auto& s = self->state;
        if (!begun) return decided(self, "REFUSED: " + reason);
        if (!s.election->is_master()) {  // deposed meanwhile: the begin was refused unless this was still the master
          return decided(self, "OK: preparing " + std::to_string(to) + " shards (the master changed; it goes on)");
        }
        begin_preparing(self, env, to);
        decided(self, "OK: preparing " + std::to_string(to) + " shards beside the " + std::to_string(s.total) +
                          " in force" + (reason.empty() ? "" : " (" + reason + ")") +
                          "; the switch follows once every new shard runs its session");
      },
      [=](switch_msg& m) { finish_switch(self, env, m); },
      [=](local, resharding_atom) { read_reshard(self, env); },
      [=](local, abandon_atom, std::int32_t to, bool done, const std::string& reason) {  // --cancel, from Redis
        auto& s = self->state;
        if (!done) return answer_reshard(self, "REFUSED: " + reason);
        const int in_force = s.total;
        if (s.election->is_master()) abandon_everywhere(self, to);
        else abandon_preparation(self, to);
        answer_reshard(self, "OK: the preparation of " + std::to_string(to) + " shards was given up; " +
                                 std::to_string(in_force) + " stay in force");
      },
      [=](local, resharding_atom, bool ok, std::int32_t in_force, std::int32_t to) {
        auto& s = self->state;
        if (!s.election->is_master()) return;
        if (!ok) {  // Redis did not answer: asked again shortly (an unread preparation could be neither finished nor cancelled)
          self->delayed_send(self, std::chrono::seconds(1), local{}, resharding_atom::value);
          return;
        }
        if (in_force > 0 && in_force != s.total) switch_everywhere(self, env, in_force);
        if (to == 0 && s.preparing && s.preparing != s.total)  // Redis lost the preparation: the new set is retired
          abandon_everywhere(self, s.preparing);
        if (to > 0 && to != s.total && s.preparing != to) {
          LOG_INFO("reshard: going on with the preparation of %d shards\n", to);
          s.preparing = to;
          s.preparing_since = net::steady_ms();
          s.placements[to];  // loaded from the lease holders on the next tick
        }
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
          LOG_INFO("a status request failed authentication (wrong cookie)\n");
          return status_denied;
        }
        return env->view.get();
      },
      [=](local, stop_atom) {
        auto& s = self->state;
        s.stopping = true;
        if (runs_no_shard(s)) return leave(self, env);
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
