#include "actors/node_actor.hpp"

#include <caf/io/all.hpp>

#include <map>
#include <set>

#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_actor.hpp"
#include "cluster/assignment.hpp"
#include "cluster/election.hpp"
#include "net/clock.hpp"
#include "net/peer_auth.hpp"
#include "net/redis/redis_worker.hpp"

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
using claimed_atom = caf::atom_constant<caf::atom("claimed")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using owners_atom = caf::atom_constant<caf::atom("owners")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;

struct peer {
  caf::actor handle;
  cluster::node_rank rank;
  std::string my_challenge;  // what we asked it to prove
  bool authenticated = false;
};

struct node_state {
  static inline const char* name = "node";
  std::unique_ptr<cluster::election> election;
  std::map<std::uint64_t, peer> peers;
  std::set<std::uint64_t> connecting;
  std::map<int, caf::actor> shards;  // the shards this node runs
  std::map<int, std::uint64_t> owners;  // the master's view
  std::uint64_t epoch_seen = 0;
  bool stopping = false;
  bool owners_loaded = false;
};

using node_actor_t = caf::stateful_actor<node_state>;

std::uint64_t self_id(node_env* env) { return std::stoull(env->node_id); }

void register_node(node_env* env) {
  env->redis->post([env](net::redis_connection& conn) {
    net::shard_store(conn, env->cfg->node.group, env->node_id).register_node(env->registry_entry, env->shard_total);
  });
}

void apply_election(node_actor_t* self, node_env* env, const cluster::election_outputs& outs);

void start_shard(node_actor_t* self, node_env* env, int shard, bool take_over) {
  auto& s = self->state;
  if (s.shards.count(shard) || s.stopping) return;
  auto a = spawn_shard(self->system(), *env, shard, take_over);
  self->monitor(a);
  s.shards[shard] = a;
}

// The master's placement round: every shard owned by a live node, then rebalanced.
void place(node_actor_t* self, node_env* env) {
  auto& s = self->state;
  if (!s.election || !s.election->is_master() || !s.owners_loaded || s.stopping) return;
  cluster::placement_input in;
  in.total = env->shard_total;
  in.max_concurrency = env->max_concurrency;
  in.live_nodes.push_back(self_id(env));
  for (auto& [id, p] : s.peers)
    if (p.authenticated) in.live_nodes.push_back(id);
  in.owners = s.owners;
  in.rebalance = env->cfg->cluster.rebalance;
  in.max_moves = 1;
  auto plan = cluster::plan_placement(in);
  const std::uint64_t epoch = s.election->epoch();
  std::set<std::uint64_t> live(in.live_nodes.begin(), in.live_nodes.end());
  for (auto& a : plan.assigns) {
    auto prev = s.owners.find(a.shard);
    bool take_over = prev != s.owners.end() && !live.count(prev->second);  // its owner is gone: steal the session
    s.owners[a.shard] = a.node;
    if (a.node == self_id(env)) start_shard(self, env, a.shard, take_over);
    else self->send(s.peers[a.node].handle, assign_atom::value, epoch, a.shard, take_over);
  }
  for (auto& m : plan.moves) {
    s.owners[m.shard] = m.to;
    if (m.from == self_id(env)) {
      if (auto it = s.shards.find(m.shard); it != s.shards.end()) self->send(it->second, stop_atom::value);
    } else {
      self->send(s.peers[m.from].handle, release_atom::value, epoch, m.shard);
    }
    // The new owner waits for the released lease, then resumes.
    if (m.to == self_id(env)) start_shard(self, env, m.shard, false);
    else self->send(s.peers[m.to].handle, assign_atom::value, epoch, m.shard, false);
  }
}

void load_owners(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  env->redis->post([env, me](net::redis_connection& conn) {
    net::shard_store store(conn, env->cfg->node.group, env->node_id);
    std::vector<std::string> keys;
    for (int i = 0; i < env->shard_total; ++i) keys.push_back(store.keys().owner(env->shard_total, i));
    std::vector<std::string_view> argv = {"MGET"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    auto r = conn.command(argv);
    std::vector<std::uint64_t> owners(static_cast<std::size_t>(env->shard_total), 0);
    for (std::size_t i = 0; i < r.elements.size() && i < owners.size(); ++i)
      if (r.elements[i].type == net::redis_reply::string) owners[i] = std::stoull(r.elements[i].text);
    caf::anon_send(me, owners_atom::value, owners);
  });
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
        env->redis->post([env, me](net::redis_connection& conn) {
          auto epoch = net::shard_store(conn, env->cfg->node.group, env->node_id).claim_master(env->cfg->cluster.lease_ms);
          caf::anon_send(me, claimed_atom::value, epoch.has_value(), epoch.value_or(0));
        });
        break;
      }
      case cluster::election_output::resign:
        env->redis->post([env](net::redis_connection& conn) {
          net::shard_store(conn, env->cfg->node.group, env->node_id).resign_master();
        });
        break;
      case cluster::election_output::became_follower:
      case cluster::election_output::master_lost:
        s.owners_loaded = false;
        break;
    }
  }
}

caf::behavior node_behavior(node_actor_t* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (auto it = s.shards.begin(); it != s.shards.end(); ++it) {
      if (it->second.address() == dm.source) {
        s.shards.erase(it);
        if (s.stopping && s.shards.empty()) self->quit();
        return;
      }
    }
    for (auto it = s.peers.begin(); it != s.peers.end(); ++it) {
      if (it->second.handle.address() != dm.source) continue;
      std::uint64_t id = it->first;
      bool was_auth = it->second.authenticated;
      s.peers.erase(it);
      if (was_auth) apply_election(self, env, s.election->peer_down(id, net::steady_ms()));
      place(self, env);  // a dead worker's shards go to the living at once
      return;
    }
  });
  return {
      [=](start_atom) {
        auto& s = self->state;
        cluster::node_rank me{self_id(env), env->cfg->node.priority, env->started_ms};
        s.election = std::make_unique<cluster::election>(me, net::steady_ms() + 1500);  // 1.5 s to meet the peers
        self->send(self, register_atom::value);
        self->send(self, discover_atom::value);
        self->send(self, tick_atom::value);
      },
      [=](register_atom) {
        if (self->state.stopping) return;
        register_node(env);
        self->delayed_send(self, std::chrono::seconds(5), register_atom::value);
      },
      [=](discover_atom) {
        auto& s = self->state;
        if (s.stopping) return;
        auto me = caf::actor_cast<caf::actor>(self);
        env->redis->post([env, me](net::redis_connection& conn) {
          net::shard_store store(conn, env->cfg->node.group, env->node_id);
          auto r = conn.command({"HGETALL", store.keys().nodes()});
          std::vector<std::string> entries;
          for (auto& e : r.elements) entries.push_back(e.text);
          caf::anon_send(me, peers_atom::value, entries);
        });
        self->delayed_send(self, std::chrono::seconds(1), discover_atom::value);
      },
      [=](peers_atom, const std::vector<std::string>& entries) {
        auto& s = self->state;
        for (std::size_t i = 0; i + 1 < entries.size(); i += 2) {
          std::uint64_t id = std::stoull(entries[i]);
          if (id == self_id(env) || s.peers.count(id) || s.connecting.count(id)) continue;
          if (id < self_id(env)) continue;  // one connection per pair: the older id... is dialled by the newer one
          const std::string& json = entries[i + 1];
          auto host_at = json.find("\"host\":\"");
          auto port_at = json.find("\"port\":");
          if (host_at == std::string::npos || port_at == std::string::npos) continue;
          std::string host = json.substr(host_at + 8, json.find('"', host_at + 8) - host_at - 8);
          auto port = static_cast<std::uint16_t>(std::stoi(json.substr(port_at + 7)));
          s.connecting.insert(id);
          auto mm = self->system().middleman().actor_handle();
          self->request(mm, std::chrono::seconds(3), caf::connect_atom::value, host, port)
              .then(
                  [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
                    self->state.connecting.erase(id);
                    if (!ptr) return;
                    auto h = caf::actor_cast<caf::actor>(ptr);
                    auto& p = self->state.peers[id];
                    p.handle = h;
                    p.my_challenge = net::make_challenge();
                    self->monitor(h);
                    self->send(h, hello_atom::value, self_id(env), static_cast<std::int32_t>(env->cfg->node.priority),
                               env->started_ms, p.my_challenge);
                  },
                  [=](caf::error&) { self->state.connecting.erase(id); });
        }
      },
      [=](hello_atom, std::uint64_t id, std::int32_t priority, std::int64_t started, const std::string& challenge) {
        auto& s = self->state;
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender || id == self_id(env)) return;
        auto& p = s.peers[id];
        if (!p.handle) {
          p.handle = sender;
          self->monitor(sender);
        }
        p.rank = {id, priority, started};
        if (p.my_challenge.empty()) {
          p.my_challenge = net::make_challenge();
          self->send(sender, hello_atom::value, self_id(env), static_cast<std::int32_t>(env->cfg->node.priority),
                     env->started_ms, p.my_challenge);
        }
        self->send(sender, proof_atom::value, self_id(env), net::prove(env->cfg->security.cookie, challenge, self_id(env), id));
      },
      [=](proof_atom, std::uint64_t id, const std::string& proof) {
        auto& s = self->state;
        auto it = s.peers.find(id);
        if (it == s.peers.end() || it->second.authenticated) return;
        if (!net::verify(env->cfg->security.cookie, it->second.my_challenge, id, self_id(env), proof)) {
          std::fprintf(stderr, "g-actor: node %llu failed authentication (wrong cookie): ignored\n",
                       static_cast<unsigned long long>(id));
          self->demonitor(it->second.handle);
          s.peers.erase(it);
          return;
        }
        it->second.authenticated = true;
        if (it->second.rank.id == 0) it->second.rank.id = id;
        apply_election(self, env, s.election->peer_up(it->second.rank, net::steady_ms()));
        place(self, env);
      },
      [=](elect_atom, std::uint64_t from, std::int32_t m, std::uint64_t epoch) {
        auto& s = self->state;
        auto it = s.peers.find(from);
        if (it == s.peers.end() || !it->second.authenticated) return;  // unauthenticated: never acted on
        apply_election(self, env, s.election->receive(from, static_cast<cluster::election_message>(m), epoch, net::steady_ms()));
      },
      [=](claimed_atom, bool granted, std::uint64_t epoch) {
        auto& s = self->state;
        apply_election(self, env, s.election->claim_result(granted, epoch, net::steady_ms()));
        if (s.election->is_master()) {
          std::fprintf(stderr, "g-actor: master of group '%s', epoch %llu\n", env->cfg->node.group.c_str(),
                       static_cast<unsigned long long>(epoch));
          load_owners(self, env);
        }
      },
      [=](owners_atom, const std::vector<std::uint64_t>& owners) {
        auto& s = self->state;
        if (!s.election->is_master()) return;
        s.owners.clear();
        for (std::size_t i = 0; i < owners.size(); ++i)
          if (owners[i]) s.owners[static_cast<int>(i)] = owners[i];
        s.owners_loaded = true;
        place(self, env);
      },
      [=](tick_atom) {
        auto& s = self->state;
        if (s.stopping) return;
        std::int64_t now = net::steady_ms();
        if (s.election->next_wakeup() <= now) apply_election(self, env, s.election->tick(now));
        if (s.election->is_master()) {
          // Keep the master lease; losing it means another node may act as master.
          auto me = caf::actor_cast<caf::actor>(self);
          env->redis->post([env, me](net::redis_connection& conn) {
            if (!net::shard_store(conn, env->cfg->node.group, env->node_id).keep_master(env->cfg->cluster.lease_ms))
              caf::anon_send(me, lost_atom::value);
          });
          place(self, env);
        }
        self->delayed_send(self, std::chrono::milliseconds(250), tick_atom::value);
      },
      [=](lost_atom) {
        std::fprintf(stderr, "g-actor: lost the master lease; stepping down\n");
        apply_election(self, env, self->state.election->lease_lost(net::steady_ms()));
      },
      [=](assign_atom, std::uint64_t epoch, std::int32_t shard, bool take_over) {
        auto& s = self->state;
        if (epoch < s.epoch_seen) return;  // from a deposed master
        s.epoch_seen = epoch;
        start_shard(self, env, shard, take_over);
      },
      [=](release_atom, std::uint64_t epoch, std::int32_t shard) {
        auto& s = self->state;
        if (epoch < s.epoch_seen) return;
        s.epoch_seen = epoch;
        if (auto it = s.shards.find(shard); it != s.shards.end()) self->send(it->second, stop_atom::value);
      },
      [=](stop_atom) {
        auto& s = self->state;
        s.stopping = true;
        if (s.shards.empty()) return self->quit();
        for (auto& [id, shard] : s.shards) self->send(shard, stop_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_node(caf::actor_system& sys, node_env& env) { return sys.spawn(node_behavior, &env); }

}  // namespace g::actors
