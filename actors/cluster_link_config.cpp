#include "actors/cluster_link_config.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

namespace g::actors {

void configure_cluster_link(caf::actor_system_config& cfg, const config::node_config::security_section& security,
                            std::int64_t heartbeat_ms, std::int64_t connection_timeout_ms) {
  cfg.load<caf::io::middleman>();
  // Identical on every node: a frozen peer is noticed (down_msg) after connection_timeout_ms.
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(heartbeat_ms)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(connection_timeout_ms)});
  if (!security.tls()) return;
  // All three are set (the config loader insists): with certificate, key and CA on both sides the link is mutual
  // TLS. Without them CAF would fall back to an anonymous cipher, which G never uses.
  cfg.load<caf::openssl::manager>();
  cfg.set("openssl.certificate", security.tls_cert);
  cfg.set("openssl.key", security.tls_key);
  cfg.set("openssl.cafile", security.tls_ca);
}

published_port publish_node(caf::actor_system& sys, const caf::actor& node, const std::string& host, std::uint16_t port,
                            bool tls) {
  auto r = tls ? caf::openssl::publish(node, port, host.c_str(), true) : sys.middleman().publish(node, port, host.c_str(), true);
  if (!r) return {0, sys.render(r.error())};
  return {*r, {}};
}

}  // namespace g::actors
