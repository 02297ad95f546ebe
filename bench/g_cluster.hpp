#pragma once
// A G cluster for benchmarks: a private redis-server, g-fakecord under load, and N g-actor processes with default
// cluster settings, each with its own config and log in a temporary directory. Nodes can be killed and restarted.
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/fakecord_process.hpp"
#include "sim/harness/redis_process.hpp"

namespace g::bench {

struct g_cluster_options {
  std::string g_actor, fakecord;
  int nodes = 3;
  int shards = 12;
  int guilds = 1200;
  int max_concurrency = 12;
  int rate = 500;  // dispatches/s from g-fakecord
};

// Per (shard, session) in the stream: entries, and breaks in 1, 2, 3 … (gaps or duplicates).
struct stream_check {
  std::size_t entries = 0, breaks = 0;
};
stream_check check_stream(net::redis_connection& c);

class g_cluster {
 public:
  explicit g_cluster(const g_cluster_options& o);
  ~g_cluster();

  harness::fakecord_process& fakecord() { return *fc_; }
  std::uint16_t redis_port() const { return redis_.port(); }
  int nodes() const { return static_cast<int>(nodes_.size()); }
  void kill(int i);     // kill -9
  void restart(int i);  // the same config: a new node id
  std::string node_id(int i);
  int master_index();  // the node holding the master lease, or -1
  // Ready shards per node id (from the `status` hash).
  std::map<std::string, int> ready_by_node();
  // Every shard ready, on every running node, counts differing by at most one.
  bool balanced();
  std::int64_t fakecord_stat(const char* pointer);
  stream_check check_stream();
  bool caught_up();  // every live session's seq is in the stream
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
  std::string logs() const;

 private:
  g_cluster_options o_;
  harness::redis_process redis_;
  std::unique_ptr<harness::fakecord_process> fc_;
  std::string dir_;
  std::vector<std::string> configs_;
  std::vector<harness::child_process> nodes_;
  std::vector<bool> alive_;
};

}  // namespace g::bench
