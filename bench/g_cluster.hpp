#pragma once
// A G cluster for benchmarks: a private redis-server, g-fakecord under load, and N g-actor processes with default
// cluster settings, each with its own config and log in a temporary directory. Nodes can be killed and restarted.
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
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
  int max_moves = 0;  // [cluster] max_moves (live migrations in flight); 0: the node's default
  int lease_ms = 0;   // [cluster] lease_ms; 0: the node's default
  int session_limit = 1000;  // g-fakecord's daily session starts (Discord's default; large bots are given more)
};

// One kill -9 of a node, as g-fakecord saw it: the node's ready shards, the RESUMEs and IDENTIFYs that followed.
struct kill_outcome {
  int owned = 0;            // the node's ready shards when it was killed
  std::int64_t resumed = 0;  // RESUMEs counted by g-fakecord from the kill until the wait ended
  std::int64_t identified = 0;
  double ms = 0;            // from the kill to the last of `owned` RESUMEs (or to the bound)
  bool all_resumed() const { return resumed >= owned; }
};

// What the shards' status says beyond readiness (read at one moment).
struct shard_health {
  std::vector<double> latency_ms;  // each shard's last heartbeat round trip, where known
  // Shards (node id + shard) whose last connection the node closed as a zombie (no heartbeat ACK): the node keeps a
  // shard's last error until the next one, so this sees every shard that had one, not how many times.
  std::set<std::string> zombies;
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
  pid_t node_pid(int i) const;
  // kill -9 of node i, then waits up to `bound` until g-fakecord has counted as many RESUMEs as the node had ready
  // shards. With `restart_at_once` the node comes back right after the kill (a lone node's shards have nowhere else
  // to go); otherwise the survivors take its shards and restart_and_rebalance brings it back.
  kill_outcome kill_awaiting_resumes(int i, bool restart_at_once, std::chrono::milliseconds bound);
  // Restarts node i (after a kill) and waits until it runs under a new id and the shards are balanced again.
  bool restart_and_rebalance(int i, std::chrono::milliseconds timeout);
  std::string node_id(int i);
  int master_index();  // the node holding the master lease, or -1
  // Ready shards per node id (from the `status` hash).
  std::map<std::string, int> ready_by_node();
  // Per node (named a, b, … where it is one of ours): shards READY by the status hash, and leases held. What an
  // unbalanced cluster looks like, for the report of a run that did not rebalance.
  std::string placement_census();
  // The shards the status hash does not show READY: how many per node and state, the first few of each, and the
  // shards with no status at all. What a cold start that missed its bound was waiting for.
  std::string not_ready_census();
  shard_health health();
  // Every shard ready, on every running node, counts differing by at most one.
  bool balanced();
  // A counter of g-fakecord's stats (without its list of sessions: cheap enough to poll at 10,000 sessions).
  std::int64_t fakecord_stat(const char* pointer);
  std::string fakecord_counters();  // those stats as JSON
  stream_check check_stream();
  bool caught_up();  // every live session's seq is in the stream
  // Polls every `poll`; at thousands of shards the status hash and the stream cost a poll more than 10 ms.
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(10));
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
