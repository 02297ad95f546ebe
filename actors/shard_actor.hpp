#pragma once
// One shard of the bot: holds the shard's lease, drives its gateway session, commits its events to the stream
// exactly once, forwards backend commands, and hands the session over cleanly when told to stop.
#include <caf/fwd.hpp>

namespace g::actors {

struct node_env;

caf::actor spawn_shard(caf::actor_system& sys, node_env& env, int shard_id);

}  // namespace g::actors
