#pragma once
// The one place a node's [redis] settings become a connection's endpoint (a server, or sentinels naming one).
#include "config/node_config.hpp"
#include "net/redis/redis_connection.hpp"

namespace g::config {

inline net::redis_endpoint redis_endpoint_of(const node_config& cfg, std::int64_t timeout_ms) {
  net::redis_endpoint e(cfg.redis.host, cfg.redis.port, cfg.redis.password, cfg.redis.db, timeout_ms);
  e.sentinel_master = cfg.redis.sentinel_master;
  for (auto& s : cfg.redis.sentinels) e.sentinels.push_back({s.host, s.port});
  return e;
}

}  // namespace g::config
