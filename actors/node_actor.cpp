#include "actors/node_actor.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>

#include <malloc.h>

#include <algorithm>
#include <map>
#include <set>

#include "actors/cluster_view.hpp"
#include "actors/command_inbox.hpp"
#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_actor.hpp"
#include "actors/state_writes.hpp"
#include "actors/status_protocol.hpp"
#include "actors/stream_trimmer.hpp"
#include "cluster/node_machine.hpp"
#include "config/redis_endpoint.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/peer_auth.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/reshard_store.hpp"
#include "net/rest/gateway_bot.hpp"

// The node actor is the shell of cluster::node_machine (cluster/node_machine.hpp): it authenticates links, turns
// messages, timers and Redis answers into the machine's inputs, and applies each Ready (sends to peers, runs the
// Redis operations on the control connection, spawns and tells shard actors). Every decision is the machine's.

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::cluster::node_input)
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
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using redis_atom = caf::atom_constant<caf::atom("redis")>;  // node → master: whether it can reach Redis
using view_atom = caf::atom_constant<caf::atom("view")>;
using inbox_atom = caf::atom_constant<caf::atom("inbox")>;
using trim_atom = caf::atom_constant<caf::atom("trim")>;
using reshard_atom = caf::atom_constant<caf::atom("reshard")>;  // node → master: `g-actor reshard`, passed on
using switch_atom = caf::atom_constant<caf::atom("switch")>;    // master → nodes: the reshard switched
using abandon_atom = caf::atom_constant<caf::atom("abandon")>;  // master → nodes: the prepared set is given up

namespace in = cluster::node_in;

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
  std::optional<cluster::node_machine> machine;  // from `start` on
  std::map<std::uint64_t, caf::actor> peers;     // authenticated links, by node id
  std::map<caf::actor_addr, handshake> handshakes;
  std::set<std::uint64_t> connecting;
  std::map<std::pair<int, int>, caf::actor> shards;  // this node's shard actors, by (total, shard)
  std::optional<caf::response_promise> reshard_reply;  // `g-actor reshard` waiting for the decision
  bool inbox_reading = false;
  std::uint64_t view_rounds = 0;  // view refreshes (every second): paces the unknown-shard sweep
  // The cluster view: events/s from the stream's entries-added.
  std::int64_t last_added = -1;
  std::int64_t last_added_ms = 0;
  double events_per_s = 0;
  net::status_challenges challenges;
};

using node_actor_t = caf::stateful_actor<node_state>;

std::uint64_t self_id(node_env* env) { return std::stoull(env->node_id); }

bool is_master(node_actor_t* self) { return self->state.machine && self->state.machine->is_master(); }

std::vector<std::string> id_texts(const cluster::node_ids& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(std::to_string(id));
  return out;
}

cluster::node_ids ids_of(const std::vector<std::string>& texts) {
  cluster::node_ids out;
  for (auto& id : texts) out.push_back(std::strtoull(id.c_str(), nullptr, 10));
  return out;
}

// Redis's witness of the live nodes, as the machine takes it (nothing when Redis did not answer).
std::optional<cluster::node_ids> witnessed(const net::store_result<std::vector<std::string>>& ids) {
  if (!ids.ok()) return std::nullopt;
  return ids_of(ids.value);
}

// Registered again every second (the view round), so one failed write is repaired by the next.
void register_node(node_env* env) {
  write_state(env, "registering this node", [env](net::shard_store& store) {
    return store.register_node(env->registry_entry, env->shard_total);
  }, std::nullopt, log::level::debug);
}

// The authenticated peer that sent the current message, or 0.
std::uint64_t authenticated_sender(node_actor_t* self) {
  auto from = self->current_sender();
  if (!from) return 0;
  for (auto& [id, handle] : self->state.peers)
    if (handle.address() == from->address()) return id;
  return 0;
}

caf::io::middleman_actor cluster_link(node_actor_t* self, node_env* env) {
  return env->tls ? self->system().openssl_manager().actor_handle() : self->system().middleman().actor_handle();
}

// An answer for the machine, from the Redis thread (or the REST one): it goes through the mailbox like any input.
void answer(const caf::actor& node, cluster::node_input in) { caf::anon_send(node, local{}, std::move(in)); }

void run(node_actor_t* self, node_env* env, const cluster::redis_op& op);
void send_peer(node_actor_t* self, node_env* env, const cluster::peer_message& m);
void order_shard(node_actor_t* self, node_env* env, const cluster::shard_order& o);

log::level log_level(cluster::note_level l) {
  switch (l) {
    case cluster::note_level::debug: return log::level::debug;
    case cluster::note_level::info: return log::level::info;
    case cluster::note_level::warn: return log::level::warn;
    case cluster::note_level::error: return log::level::error;
  }
  return log::level::info;
}

// One Ready, applied in the order the machine decided it.
void apply(node_actor_t* self, node_env* env, cluster::node_ready r) {
  auto& s = self->state;
  for (auto& n : r.notes) {
    std::optional<log::shard> about;
    if (n.shard >= 0) about = log::shard{n.shard, n.total};
    G_LOG_AT(log_level(n.level), about, "%s", n.text.c_str());
  }
  if (r.in_force) {  // before the orders: the promoted shards report to the board of their set
    env->shard_total = *r.in_force;
    env->board.reset(*r.in_force);
  }
  for (auto& m : r.messages) send_peer(self, env, m);
  for (auto& o : r.shards) order_shard(self, env, o);
  for (auto& op : r.redis) run(self, env, op);
  for (auto& text : r.reshard_answers) {
    LOG_INFO("reshard: %s", text.c_str());
    if (s.reshard_reply) {
      s.reshard_reply->deliver(text);
      s.reshard_reply.reset();
    }
  }
  env->minority = s.machine->in_minority();
  env->redis_reachable = s.machine->redis_reachable();
  if (r.leave) self->quit();
}

void step(node_actor_t* self, node_env* env, const cluster::node_input& in) {
  if (self->state.machine) apply(self, env, self->state.machine->step(in));
}

void send_peer(node_actor_t* self, node_env* env, const cluster::peer_message& m) {
  auto it = self->state.peers.find(m.to);
  if (it == self->state.peers.end()) return;  // the link went down meanwhile: the machine hears it next
  const auto& h = it->second;
  const auto total = static_cast<std::int32_t>(m.total), shard = static_cast<std::int32_t>(m.shard);
  using k = cluster::peer_message;
  switch (m.what) {
    case k::elect: self->send(h, elect_atom::value, self_id(env), static_cast<std::int32_t>(m.elect_message), m.epoch); break;
    case k::assign: self->send(h, assign_atom::value, m.epoch, total, shard, m.flag); break;
    case k::release: self->send(h, release_atom::value, m.epoch, total, shard); break;
    case k::drop: self->send(h, drop_atom::value, m.epoch, total, shard); break;
    case k::switched: self->send(h, switch_atom::value, m.epoch, total); break;
    case k::abandon: self->send(h, abandon_atom::value, m.epoch, total); break;
    case k::leaving: self->send(h, leaving_atom::value, self_id(env)); break;
    case k::moved: self->send(h, moved_atom::value, total, shard); break;
    case k::fenced: self->send(h, fenced_atom::value, self_id(env), total, shard); break;
    case k::redis_reach: self->send(h, redis_atom::value, self_id(env), m.flag); break;
  }
}

void order_shard(node_actor_t* self, node_env* env, const cluster::shard_order& o) {
  auto& shards = self->state.shards;
  const auto key = std::make_pair(o.total, o.shard);
  if (o.what == cluster::shard_order::start) {
    auto a = spawn_shard(self->system(), *env, o.total, o.shard, o.take_over, caf::actor_cast<caf::actor>(self));
    self->monitor(a);
    shards[key] = a;
    return;
  }
  auto it = shards.find(key);
  if (it == shards.end()) return;
  switch (o.what) {
    case cluster::shard_order::stop: self->send(it->second, stop_atom::value); break;
    case cluster::shard_order::end: self->send(it->second, local{}, end_atom::value); break;
    case cluster::shard_order::drop: self->send(it->second, local{}, drop_atom::value); break;
    case cluster::shard_order::promote: self->send(it->second, local{}, promote_atom::value); break;
    case cluster::shard_order::start: break;
  }
}

// What the master's claim asks Redis: its witness, and the claim if this node sees a majority of the members.
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

void claim_master(node_env* env, const caf::actor& me, const cluster::redis_op& op) {
  std::vector<std::string> departed = id_texts(op.nodes), visible, linked;
  for (auto id : op.visible) visible.push_back(std::to_string(id));
  for (auto id : op.linked) linked.push_back(std::to_string(id));
  const std::uint64_t known = op.known_epoch;
  env->control->ask<claim_round>([env, departed, known, visible, linked](net::redis_connection& conn) {
    net::shard_store store(conn, env->cfg->node.group, env->node_id);
    claim_round c;
    c.connected = store.connected_nodes();
    std::set<std::string> members(visible.begin(), visible.end());
    std::vector<std::string> gone;  // departed, and Redis saw their connection close: dead, not partitioned
    if (c.connected.ok()) {
      const auto& ids = c.connected.value;
      for (auto& id : ids)
        if (std::find(linked.begin(), linked.end(), id) != linked.end()) members.insert(id);
      for (auto& d : departed)
        if (!std::binary_search(ids.begin(), ids.end(), d)) gone.push_back(d);
    }
    c.seen = static_cast<std::int32_t>(visible.size());
    c.members = static_cast<std::int32_t>(members.size());
    c.majority = 2 * visible.size() >= members.size();
    if (c.majority) c.claim = store.claim_master(env->cfg->cluster.lease_ms, departed, known, gone);
    return c;
  }, [me](claim_round c) {
    answer(me, in::claimed{c.claim, c.majority, c.seen, c.members, witnessed(c.connected), net::steady_ms()});
  });
}

void read_gateway_bot(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  net::rest_options rest;
  rest.rest_url = env->cfg->discord.rest_url;
  rest.token = env->cfg->discord.token;
  rest.max_attempts = 2;
  self->system().spawn([me, rest](caf::blocking_actor*) {  // blocking HTTP: its own thread
    auto info = net::fetch_gateway_bot(rest);
    in::gateway_bot_read m;
    if (auto* bot = std::get_if<net::gateway_bot>(&info)) {
      m.shards = bot->shards;
      m.max_concurrency = bot->max_concurrency;
      m.sessions_left = bot->session_remaining;
    } else {
      m.error = std::get<net::rest_error>(info).message;
    }
    answer(me, std::move(m));
  });
}

// A Redis operation the machine asked for, on the control connection; its answer goes back in as an input.
void run(node_actor_t* self, node_env* env, const cluster::redis_op& op) {
  auto me = caf::actor_cast<caf::actor>(self);
  const std::string group = env->cfg->node.group;
  using k = cluster::redis_op;
  using connected = net::store_result<std::vector<std::string>>;
  switch (op.what) {
    case k::claim_master: return claim_master(env, me, op);
    case k::keep_master: {
      struct master_round {
        net::store_result<> lease;
        connected ids;
        static master_round failed(std::string why) { return {net::store_result<>::failed(std::move(why)), {}}; }
      };
      env->control->ask<master_round>([env](net::redis_connection& conn) {
        net::shard_store store(conn, env->cfg->node.group, env->node_id);
        master_round m;
        m.lease = store.keep_master(env->cfg->cluster.lease_ms);
        if (m.lease.ok()) m.ids = store.connected_nodes();
        return m;
      }, [me](master_round m) {
        answer(me, in::master_kept{m.lease, witnessed(m.ids), net::steady_ms()});
      });
      return;
    }
    case k::resign_master:
      // A lease left unreleased expires by itself (lease_ms); the next master waits that long at most.
      return write_state(env, "resigning the master lease", [](net::shard_store& store) { return store.resign_master(); });
    case k::read_owners: {
      const int total = op.total;
      env->control->ask<connected>([env, total](net::redis_connection& conn) {
        return net::shard_store(conn, env->cfg->node.group, env->node_id).lease_holders(total);
      }, [me, total](connected h) {
        answer(me, in::owners_read{total, witnessed(h), net::steady_ms()});  // nothing read: the next tick asks again
      });
      return;
    }
    case k::read_connected: {
      const std::uint64_t link_down = op.link_down;
      env->control->ask<connected>([env](net::redis_connection& conn) {
        return net::shard_store(conn, env->cfg->node.group, env->node_id).connected_nodes();
      }, [me, link_down](connected ids) {
        answer(me, in::connected_read{witnessed(ids), link_down, net::steady_ms()});
      });
      return;
    }
    case k::unregister:
      // Not removed (Redis down): the next master's round removes what is still listed without a connection.
      return write_state(env, "unregistering departed nodes", [ids = id_texts(op.nodes)](net::shard_store& store) {
        net::store_result<> last = net::store_result<>::done();
        for (auto& id : ids)
          if (auto r = store.unregister_node(id); !r.ok()) last = r;
        return last;
      });
    case k::read_reshard: {
      // (the count in force, the count being prepared or 0)
      using reading = net::store_result<std::pair<int, int>>;
      env->control->ask<reading>([env](net::redis_connection& conn) {
        auto rec = net::reshard_store(conn, env->cfg->node.group, env->node_id).current();
        if (!rec.ok()) return reading::failed(rec.reason);
        auto count = conn.command({"GET", net::redis_keys(env->cfg->node.group).shard_count()});
        if (count.is_error()) return reading::failed(count.text);
        int in_force = count.type == net::redis_reply::string ? std::atoi(count.text.c_str()) : 0;
        return reading::done({in_force, rec.value ? rec.value->to : 0});
      }, [me](reading r) { answer(me, in::reshard_read{r, net::steady_ms()}); });
      return;
    }
    case k::begin_reshard: {
      const int from = op.from, to = op.total;
      const std::uint64_t epoch = op.epoch;
      env->control->ask<net::reshard_result>([env, from, to, epoch](net::redis_connection& conn) {
        return net::reshard_store(conn, env->cfg->node.group, env->node_id).begin(from, to, epoch, net::wall_ms());
      }, [me, to, note = op.note](net::reshard_result r) { answer(me, in::reshard_begun{to, r, note, net::steady_ms()}); });
      return;
    }
    case k::switch_reshard: {
      const int to = op.total;
      const std::uint64_t epoch = op.epoch;
      struct timed_switch {
        net::reshard_result result;
        std::int64_t took_us = 0;
        static timed_switch failed(std::string why) { return {net::reshard_result::failed(std::move(why)), 0}; }
      };
      env->control->ask<timed_switch>([env, to, epoch](net::redis_connection& conn) {
        const auto t0 = std::chrono::steady_clock::now();
        timed_switch t;
        t.result = net::reshard_store(conn, env->cfg->node.group, env->node_id).switch_over(to, epoch, net::wall_ms(), 0);
        t.took_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
        return t;
      }, [me, to](timed_switch t) { answer(me, in::switch_done{to, t.result, t.took_us, net::steady_ms()}); });
      return;
    }
    case k::abandon_reshard: {
      const int to = op.total;
      env->control->ask<net::reshard_result>([env, to](net::redis_connection& conn) {
        return net::reshard_store(conn, env->cfg->node.group, env->node_id).abandon(to);
      }, [me, to](net::reshard_result r) { answer(me, in::abandon_done{to, r}); });
      return;
    }
    case k::read_gateway_bot: return read_gateway_bot(self, env);
  }
}

void refresh_view(node_actor_t* self, node_env* env) {
  auto me = caf::actor_cast<caf::actor>(self);
  env->control->post([env, me](net::redis_connection& conn) {
    caf::anon_send(me, local{}, view_atom::value, read_cluster(conn, env->cfg->node.group, env->shard_total));
  });
}

// `g-actor reshard` on this node: the machine answers at once, or later (the promise waits for it).
caf::result<std::string> request_reshard(node_actor_t* self, node_env* env, std::int32_t shards) {
  auto& s = self->state;
  if (!s.machine) return std::string("REFUSED: this node is not the master");
  auto r = s.machine->step(in::reshard_requested{shards, false, net::steady_ms()});
  auto reply = r.reply;
  apply(self, env, std::move(r));
  if (reply) return *reply;
  s.reshard_reply = self->make_response_promise();
  return *s.reshard_reply;
}

cluster::node_settings settings_of(node_env* env) {
  cluster::node_settings s;
  s.self = {self_id(env), env->cfg->node.priority, env->started_ms};
  s.group = env->cfg->node.group;
  s.redis_endpoint = config::redis_endpoint_of(*env->cfg, 0).describe();
  s.shard_total = env->shard_total;
  s.max_concurrency = env->max_concurrency;
  s.lease_ms = env->cfg->cluster.lease_ms;
  s.rebalance = env->cfg->cluster.rebalance;
  s.max_moves = env->cfg->cluster.max_moves;
  s.reshard_auto = env->cfg->discord.reshard_auto;
  s.reshard_check_ms = env->cfg->discord.reshard_check_s * 1000;
  s.reshard_margin = env->cfg->discord.reshard_margin;
  s.session_reserve = env->cfg->discord.session_reserve;
  return s;
}

caf::behavior node_behavior(node_actor_t* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    for (auto it = s.shards.begin(); it != s.shards.end(); ++it) {
      if (it->second.address() != dm.source) continue;
      const auto [total, shard] = it->first;
      s.shards.erase(it);
      return step(self, env, in::shard_gone{total, shard, net::steady_ms()});
    }
    if (s.handshakes.erase(dm.source)) return;
    for (auto it = s.peers.begin(); it != s.peers.end(); ++it) {
      if (it->second.address() != dm.source) continue;
      const std::uint64_t id = it->first;
      s.peers.erase(it);
      return step(self, env, in::peer_down{id, net::steady_ms()});
    }
  });
  return {
      [=](local, start_atom) {
        auto& s = self->state;
        s.machine.emplace(settings_of(env), net::steady_ms());
        // Unless Redis witnesses no other node of the group: then there is nobody to meet, and the cold start need
        // not wait (a node that starts beside others finds their connections and waits for the links).
        auto me = caf::actor_cast<caf::actor>(self);
        using connected = net::store_result<std::vector<std::string>>;
        env->control->ask<connected>([env](net::redis_connection& conn) {
          return net::shard_store(conn, env->cfg->node.group, env->node_id).connected_nodes();
        }, [me, id = env->node_id](connected ids) {
          const bool alone = ids.ok() && std::all_of(ids.value.begin(), ids.value.end(), [&](auto& n) { return n == id; });
          if (alone) answer(me, in::alone{net::steady_ms()});
        });
        self->send(self, local{}, register_atom::value);
        self->send(self, local{}, discover_atom::value);
        self->send(self, local{}, tick_atom::value);
        self->send(self, local{}, view_atom::value);
        self->send(self, local{}, inbox_atom::value);
        self->delayed_send(self, std::chrono::seconds(10), local{}, trim_atom::value);
      },
      [=](local, cluster::node_input& input) { step(self, env, input); },
      [=](local, trim_atom) {
        // Bursts (a cold start's GUILD_CREATEs, a backlog after a Redis outage) leave freed memory that glibc keeps;
        // with a thousand shards that was a third of the resident size. Give it back now and then.
        malloc_trim(0);
        self->delayed_send(self, std::chrono::seconds(10), local{}, trim_atom::value);
      },
      [=](local, register_atom) {
        if (self->state.machine->stopping()) return;
        register_node(env);
        self->delayed_send(self, std::chrono::seconds(5), local{}, register_atom::value);
      },
      [=](local, discover_atom) {
        auto& s = self->state;
        if (s.machine->stopping()) return;
        auto me = caf::actor_cast<caf::actor>(self);
        env->control->post([env, me](net::redis_connection& conn) {
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
        s.peers[id] = h.handle;
        step(self, env, cluster::node_in::peer_up{h.rank, net::steady_ms()});
      },
      [=](elect_atom, std::uint64_t from, std::int32_t m, std::uint64_t epoch) {
        if (authenticated_sender(self) != from) return;  // unauthenticated, or posing as another node
        step(self, env, in::election_received{from, static_cast<cluster::election_message>(m), epoch, net::steady_ms()});
      },
      [=](local, tick_atom) {
        auto& s = self->state;
        const std::int64_t now = net::steady_ms();
        for (auto it = s.handshakes.begin(); it != s.handshakes.end();) {  // never finished: drop, discovery retries
          if (now - it->second.started_ms <= handshake_timeout_ms) {
            ++it;
            continue;
          }
          LOG_INFO("node %llu did not prove the cookie within %lld s (wrong cookie?): dropped",
                   static_cast<unsigned long long>(it->second.rank.id), static_cast<long long>(handshake_timeout_ms / 1000));
          self->demonitor(it->second.handle);
          it = s.handshakes.erase(it);
        }
        step(self, env, in::tick{now, env->control->answered_ms()});
        self->delayed_send(self, std::chrono::milliseconds(250), local{}, tick_atom::value);
      },
      // The master's orders: the machine acts only on those of the master it follows, at its epoch.
      [=](assign_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard, bool take_over) {
        step(self, env, in::assigned{authenticated_sender(self), epoch, total, shard, take_over});
      },
      [=](release_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard) {
        step(self, env, in::released{authenticated_sender(self), epoch, total, shard});
      },
      [=](drop_atom, std::uint64_t epoch, std::int32_t total, std::int32_t shard) {
        step(self, env, in::dropped{authenticated_sender(self), epoch, total, shard});
      },
      [=](switch_atom, std::uint64_t epoch, std::int32_t to) {
        step(self, env, in::switched{authenticated_sender(self), epoch, to});
      },
      [=](abandon_atom, std::uint64_t epoch, std::int32_t total) {
        step(self, env, in::abandoned{authenticated_sender(self), epoch, total});
      },
      // Reports to the master, from the node they name (checked against the link they came over).
      [=](leaving_atom, std::uint64_t id) {
        if (authenticated_sender(self) == id) step(self, env, in::leaving{id, net::steady_ms()});
      },
      [=](moved_atom, std::int32_t total, std::int32_t shard) {
        step(self, env, in::moved{authenticated_sender(self), total, shard, net::steady_ms()});
      },
      [=](fenced_atom, std::uint64_t from, std::int32_t total, std::int32_t shard) {
        if (authenticated_sender(self) == from) step(self, env, in::peer_fenced{from, total, shard, net::steady_ms()});
      },
      [=](redis_atom, std::uint64_t from, bool reachable) {
        if (authenticated_sender(self) == from) step(self, env, in::redis_reach{from, reachable, net::steady_ms()});
      },
      // From this node's shard actors.
      [=](local, ready_atom, std::int32_t total, std::int32_t shard) {
        step(self, env, in::shard_ready{total, shard, net::steady_ms()});
      },
      [=](local, fenced_atom, std::int32_t total, std::int32_t shard) {
        step(self, env, in::shard_fenced{total, shard, net::steady_ms()});
      },
      [=](local, inbox_atom) {
        auto& s = self->state;
        const auto& ready = s.machine->ready_in_force();
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
        const int total = s.machine->total();
        for (auto& [shard, cmds] : m.by_shard) {
          auto it = s.shards.find({total, shard});
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
        env->redis->post([env](net::redis_connection& conn) { env->trimmer->run(conn); });
        // Commands for shards that do not exist are answered by the master, every few seconds.
        if (is_master(self) && ++self->state.view_rounds % 3 == 0)
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
        if (snap.ok) {
          in::view_read v;
          if (snap.connected) v.connected = ids_of(*snap.connected);
          v.shard_count = snap.shard_count;
          v.reshard_to = snap.reshard_to;
          step(self, env, v);
        }
        env->view.set(render_cluster(snap, {env->cfg->node.group, env->node_id, env->shard_total, now, s.events_per_s}));
      },
      // `g-actor reshard`: the status challenge, then the request; a node that is not the master passes it on.
      [=](status_atom, std::uint64_t client, const std::string& challenge, const std::string& proof,
          std::int32_t shards) -> caf::result<std::string> {
        auto& s = self->state;
        if (!net::verify(env->cfg->security.cookie, challenge, client, self_id(env), proof) ||
            !s.challenges.redeem(env->cfg->security.cookie, challenge, net::steady_ms())) {
          LOG_INFO("a reshard request failed authentication (wrong cookie)");
          return status_denied;
        }
        if (is_master(self)) return request_reshard(self, env, shards);
        auto m = s.machine ? s.machine->master() : std::nullopt;
        if (!m || !s.peers.count(*m)) return std::string("REFUSED: no master is known yet; try again in a few seconds");
        auto rp = self->make_response_promise<std::string>();
        self->request(s.peers[*m], std::chrono::seconds(30), reshard_atom::value, self_id(env), shards)
            .then([rp](std::string& answer) mutable { rp.deliver(answer); },
                  [rp](caf::error&) mutable { rp.deliver(std::string("REFUSED: the master did not answer")); });
        return rp;
      },
      [=](reshard_atom, std::uint64_t from, std::int32_t shards) -> caf::result<std::string> {
        if (authenticated_sender(self) != from) return status_denied;  // only a node of the cluster passes one on
        return request_reshard(self, env, shards);
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
          LOG_INFO("a status request failed authentication (wrong cookie)");
          return status_denied;
        }
        return env->view.get();
      },
      [=](local, stop_atom) {
        if (!self->state.machine) return self->quit();
        step(self, env, in::stop{net::steady_ms()});
      },
  };
}

}  // namespace

caf::actor spawn_node(caf::actor_system& sys, node_env& env) { return sys.spawn(node_behavior, &env); }

}  // namespace g::actors
