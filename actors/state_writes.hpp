#pragma once
// Writes to G's state in Redis that nobody waits for (a released lease, a status line, a node's registry entry):
// posted to the Redis thread, and a failure is logged with its reason instead of vanishing. What repairs each
// is said where it is called (a lease expires by itself, the status is written again on the next round).
#include <optional>
#include <utility>

#include "actors/node_env.hpp"
#include "net/log.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"

namespace g::actors {

// `write(store)` returns a store_result. Unavailable is logged at `level`; lost (it was not this node's any more)
// is expected and not logged.
template <class Write>
void write_state(node_env* env, const char* what, Write write, std::optional<log::shard> about = std::nullopt,
                 log::level level = log::level::warn) {
  env->redis->post([env, what, write = std::move(write), about, level](net::redis_connection& conn) {
    net::shard_store store(conn, env->cfg->node.group, env->node_id);
    auto r = write(store);
    if (r.unavailable()) G_LOG_AT(level, about, "%s failed: %s", what, r.reason.c_str());
  });
}

}  // namespace g::actors
