#include "actors/node_actor.hpp"

#include <set>

#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_actor.hpp"

namespace g::actors {

namespace {

struct node_state {
  static inline const char* name = "node";
  std::set<caf::actor_addr> shards;
  bool stopping = false;
};

caf::behavior node_behavior(caf::stateful_actor<node_state>* self, node_env* env) {
  self->set_down_handler([=](caf::down_msg& dm) {
    self->state.shards.erase(dm.source);
    if (self->state.stopping && self->state.shards.empty()) self->quit();
  });
  return {
      [=](start_atom) {
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
