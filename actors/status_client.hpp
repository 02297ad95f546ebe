#pragma once
// `g-actor status`: connects to a node as a CAF remote actor, proves the cookie, and prints the cluster (master,
// epoch, nodes, every shard's owner, state, seq and latency) as a table or, with --json, as the node's JSON.
#include <cstdint>
#include <string>

#include "config/node_config.hpp"

namespace g::actors {

struct status_options {
  std::string host;       // a node's cluster address
  std::uint16_t port = 0;
  std::string cookie;
  config::node_config::security_section security;  // tls_* as the nodes use them
  std::int64_t heartbeat_ms = 500, connection_timeout_ms = 2000;  // must match the nodes'
  bool json = false;
};

// Prints the cluster on stdout; a failure is one line on stderr. Returns the exit code.
int print_cluster_status(const status_options& o);

// `g-actor reshard`: asks the master (through the node at o.host:o.port) to reshard to `shards` (0: auto, -1:
// cancel the preparation); prints
// its answer. 0 when it began, 1 when refused or unreachable.
int request_reshard(const status_options& o, int shards);

// The table `g-actor status` prints for a cluster view JSON (empty when the JSON is not one).
std::string format_cluster_table(const std::string& view_json);

}  // namespace g::actors
