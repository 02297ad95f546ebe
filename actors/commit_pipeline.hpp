#pragma once
// The node's commits, pipelined: shard actors submit their batches here instead of posting a Redis job each; one
// job on the Redis thread sends every batch waiting at that moment in one round trip and answers each shard. While
// it waits for Redis, new batches gather for the next round. (A job per commit cost two thread wake-ups and a
// round trip per commit: the largest share of G's CPU per event.)
#include <caf/actor.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "cluster/commit_batch.hpp"
#include "net/redis/shard_store.hpp"

namespace g::net {
class redis_connection;
}

namespace g::actors {

struct node_env;

class commit_pipeline {
 public:
  // Must outlive the Redis thread's queued jobs (declare it before the redis_worker).
  explicit commit_pipeline(node_env& env) : env_(env) {}
  // Thread-safe. `shard` receives a commit_msg with the result and the batch.
  void submit(const caf::actor& shard, int total, int shard_id, cluster::event_batch batch);

 private:
  struct pending {
    caf::actor shard;
    int total, id;
    cluster::event_batch batch;
  };
  void drain(net::redis_connection& conn);

  // An episode of failed commits (Redis down, read-only, refusing), logged once when it starts and once when it ends.
  // Only the Redis thread touches these.
  void note_outcome(const net::redis_connection& conn, const std::vector<net::commit_result>& results);
  std::int64_t failing_since_ = 0;
  std::uint64_t connections_ = 0;
  std::string address_;

  node_env& env_;
  std::mutex mu_;
  std::vector<pending> queue_;
  bool drain_posted_ = false;
};

}  // namespace g::actors
