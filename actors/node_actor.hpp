#pragma once
// The node: on one host it is its own master and cluster worker. It spawns a shard actor for every shard and,
// on stop, hands every shard over gracefully before it quits.
#include <caf/fwd.hpp>

namespace g::actors {

struct node_env;

caf::actor spawn_node(caf::actor_system& sys, node_env& env);

}  // namespace g::actors
