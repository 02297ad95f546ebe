#pragma once
// The proxy role of a node ([proxy] listen): a Discord-compatible gateway and REST base on one port, for bots
// written with an ordinary library. It reads only Redis (the stream, the cache, its own session records) and writes
// only commands and its records, so any node may serve any shard and several nodes may serve at once. Runs on its
// own io thread and Redis threads; the node's actors never see it. docs/proxy.md describes it for users.
#include <cstdint>
#include <memory>
#include <string>

namespace g::config {
struct node_config;
}

namespace g::proxy {

class gateway_proxy {
 public:
  // Binds [proxy] listen and starts; throws std::runtime_error with one line naming the problem.
  explicit gateway_proxy(const config::node_config& cfg);
  ~gateway_proxy();
  std::uint16_t port() const;
  const std::string& gateway_url() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace g::proxy
