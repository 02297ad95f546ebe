#include "actors/node_actor.hpp"

#include <set>

#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_actor.hpp"
#include "net/redis/redis_worker.hpp"

namespace g::actors {

namespace {

struct node_state {
  static inline const char* name = "node";
  std::set<caf::actor_addr> shards;
  bool stopping = false;
};

using register_atom = caf::atom_constant<caf::atom("register")>;

// The node's entry in `nodes` and the cluster's `shard_count`, written again every few seconds so that a Redis
// that restarted empty learns them back.
void register_node(node_env* env) {
  env->redis->post([env](net::redis_connection& conn) {
    net::shard_store store(conn, env->cfg->node.group, env->node_id);
    conn.pipeline({{"SET", store.keys().shard_count(), std::to_string(env->shard_total)},
                   {"HSET", store.keys().nodes(), env->node_id, env->registry_entry}});
  });
}

caf::behavior node_behavior(caf::stateful_actor<node_state>* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    self->state.shards.erase(dm.source);
    if (self->state.stopping && self->state.shards.empty()) self->quit();
  });
  return {
      [=](register_atom) {
        if (self->state.stopping) return;
        register_node(env);
        self->delayed_send(self, std::chrono::seconds(5), register_atom::value);
      },
      [=](start_atom) {
        self->send(self, register_atom::value);
        for (int id = 0; id < env->shard_total; ++id) {
          auto shard = spawn_shard(self->system(), *env, id);
          self->monitor(shard);
          self->state.shards.insert(shard.address());
        }
      },
      [=](stop_atom) {
        self->state.stopping = true;
        if (self->state.shards.empty()) return self->quit();
        for (auto& addr : self->state.shards)
          if (auto shard = caf::actor_cast<caf::actor>(addr)) self->send(shard, stop_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_node(caf::actor_system& sys, node_env& env) { return sys.spawn(node_behavior, &env); }

}  // namespace g::actors
