#pragma once
// The cluster link between nodes (and `g-actor status`): CAF's middleman with heartbeats that must be the same on
// every node, and, with [security] tls_*, caf::openssl with mutual TLS from a private CA. Both ends configure it
// here so that they cannot drift apart.
#include <caf/fwd.hpp>

#include <cstdint>
#include <string>

#include "config/node_config.hpp"

namespace g::actors {

void configure_cluster_link(caf::actor_system_config& cfg, const config::node_config::security_section& security,
                            std::int64_t heartbeat_ms, std::int64_t connection_timeout_ms);

// Publishes the node actor on host:port (TLS when configured): the port really bound, or a one-line error.
struct published_port {
  std::uint16_t port = 0;
  std::string error;
};
published_port publish_node(caf::actor_system& sys, const caf::actor& node, const std::string& host, std::uint16_t port,
                            bool tls);

}  // namespace g::actors
