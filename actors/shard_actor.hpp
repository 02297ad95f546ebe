#pragma once
// One shard of the bot: holds the shard's lease, drives its gateway session, commits its events to the stream
// exactly once, forwards backend commands, and hands the session over cleanly when told to stop.
#include <caf/fwd.hpp>

namespace g::actors {

struct node_env;

// `total`: the shard set it belongs to; a set other than the one in force is being prepared by a reshard (its
// events are held in Redis until the switch; `promote` makes it the one in force, `end` closes a superseded one).
// `node`: told once the shard is ready (the master counts a migration as done then).
// `take_over`: the master gave this shard to this node because its previous owner is gone, so the lease is taken
// at once (the previous owner, if it still runs, is fenced) instead of waiting for it to expire.
caf::actor spawn_shard(caf::actor_system& sys, node_env& env, int total, int shard_id, bool take_over, const caf::actor& node);

}  // namespace g::actors
