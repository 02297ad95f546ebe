#pragma once
// What every actor of a node shares: configuration, the io threads of the gateway connections, the Redis
// control thread, the identify gate and the node's counters. Owned by main; outlives every actor.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/event_filter.hpp"
#include "config/node_config.hpp"

namespace g::actors {
class io_threads;
class stream_trimmer;
}

namespace g::net {
class redis_worker;
class lease_renewals;
class identify_gate;
}  // namespace g::net

namespace g::actors {

struct node_counters {
  std::atomic<std::uint64_t> events{0}, commits{0}, redis_errors{0}, identifies{0}, resumes{0},
      rejected_commands{0}, fenced{0}, identify_refused{0};
  std::atomic<std::uint64_t> commit_outages{0};  // episodes of Redis refusing or not answering commits
  std::atomic<std::uint64_t> given_up{0};  // shards let go while cut off from Redis (their leases expired)
};

// Each shard's latest state, written by its actor, read by the HTTP endpoints.
struct shard_status {
  bool here = false;           // this node runs the shard now
  std::string state = "idle";
  std::int64_t seq = 0;        // committed
  std::int64_t latency_ms = -1;
  std::uint64_t events = 0;    // committed to the stream
  std::uint64_t commits = 0;
  std::size_t buffered = 0;    // waiting for Redis
  bool committing = true;      // its last commit went through (false: Redis refuses or does not answer)
  std::string error;
  bool fatal = false;
  // Ready means the session is up and its events reach the stream: a shard that cannot commit is not ready.
  bool ready() const { return state == "ready" && committing; }
};

class shard_board {
 public:
  void resize(int n) {
    std::lock_guard l(mu_);
    shards_.resize(static_cast<std::size_t>(n));
  }
  // Another shard set is in force (a reshard): its shards fill the board anew.
  void reset(int n) {
    std::lock_guard l(mu_);
    shards_.assign(static_cast<std::size_t>(n), shard_status{});
  }
  template <class F>
  void update(int id, F&& f) {
    std::lock_guard l(mu_);
    if (id >= 0 && static_cast<std::size_t>(id) < shards_.size()) f(shards_[static_cast<std::size_t>(id)]);
  }
  std::vector<shard_status> snapshot() const {
    std::lock_guard l(mu_);
    return shards_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<shard_status> shards_;
};

// The cluster as this node last read it (JSON, see cluster_view.hpp): written by the node actor every second,
// served by the HTTP thread and `g-actor status`.
class published_view {
 public:
  void set(std::string json) {
    std::lock_guard l(mu_);
    json_ = std::move(json);
  }
  std::string get() const {
    std::lock_guard l(mu_);
    return json_;
  }

 private:
  mutable std::mutex mu_;
  std::string json_;
};

struct node_env {
  const config::node_config* cfg = nullptr;
  std::string node_id;
  std::string gateway_url;
  std::atomic<int> shard_total{1};
  // This node sees fewer than half of the cluster's nodes (links, and Redis's witness): a shard that cannot renew
  // its lease lets it go once expired, for the majority's master to place it elsewhere.
  std::atomic<bool> minority{false};
  std::atomic<bool> redis_reachable{true};  // Redis answered within the last lease (or 1.5 s)  // the set in force: set by the node actor (a reshard's switch), read anywhere
  int max_concurrency = 1;
  io_threads* threads = nullptr;     // own the shards' connections and commits (io_threads.hpp)
  // Two blocking Redis connections, each with its own thread, so that a node's thousands of shards never delay its
  // master lease: `redis` for the shards (leases, identify slots, session records, status lines, commands, trims,
  // registration), `control` for the node actor (the master lease and claims, who is connected, the view, reshards).
  net::redis_worker* redis = nullptr;
  net::redis_worker* control = nullptr;
  net::lease_renewals* renewals = nullptr;  // the shards' renewals and status lines, in rounds on `redis`
  stream_trimmer* trimmer = nullptr;   // trims the stream once a second, keeps the consumer groups' figures
  net::identify_gate* gate = nullptr;
  cluster::event_filter filter;
  node_counters counters;
  shard_board board;
  std::string name;
  std::int64_t started_ms = 0;
  std::string registry_entry;  // this node's JSON in `nodes`
  bool tls = false;            // cluster links go through caf::openssl (mutual TLS)
  published_view view;
};

}  // namespace g::actors
