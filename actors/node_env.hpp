#pragma once
// What every actor of a node shares: configuration, the io_context of the gateway connections, the Redis
// thread, the identify gate and the node's counters. Owned by main; outlives every actor.
#include <atomic>
#include <cstdint>
#include <string>

#include "cluster/event_filter.hpp"
#include "config/node_config.hpp"

namespace boost::asio {
class io_context;
}

namespace g::net {
class redis_worker;
class identify_gate;
}  // namespace g::net

namespace g::actors {

struct node_counters {
  std::atomic<std::uint64_t> events{0}, commits{0}, redis_errors{0}, identifies{0}, resumes{0},
      rejected_commands{0}, fenced{0};
};

struct node_env {
  const config::node_config* cfg = nullptr;
  std::string node_id;
  std::string gateway_url;
  int shard_total = 1;
  boost::asio::io_context* io = nullptr;
  net::redis_worker* redis = nullptr;
  net::identify_gate* gate = nullptr;
  cluster::event_filter filter;
  node_counters counters;
};

}  // namespace g::actors
