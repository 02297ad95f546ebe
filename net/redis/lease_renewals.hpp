#pragma once
// Every shard's lease renewal and status line of a node, sent to Redis in rounds: each round renews every lease
// asked for since the last one in one script call (per 1,000) and writes every status line in one HSET.
//
// Why: each shard renews its lease every lease_ms / 3 and writes its status line with it. One round trip each
// on the control connection is ~6,000 blocking round trips a second for a node of 10,000 shards, more than one
// connection answers: the queue grew, leases expired while their renewals waited, and shards were fenced. A round
// is posted when the first request arrives and takes whatever came while the previous one ran, so rounds grow
// with the load instead of the queue.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "net/redis/store_result.hpp"

namespace g::net {

class redis_worker;
class redis_connection;

class lease_renewals {
 public:
  // The answer comes on the Redis thread: ok, lost (another node's: taken back at once if it was free, as a
  // lease gone with a Redis restart without persistence), or unavailable.
  using answer = std::function<void(store_result<>)>;

  lease_renewals(redis_worker& redis, std::string group, std::string node_id, std::int64_t lease_ms);

  void renew(int total, int id, answer a);    // any thread
  void set_status(int id, std::string json);  // any thread; a shard's latest line replaces one not yet written

 private:
  struct renewal {
    int total = 0, id = 0;
    answer a;
  };
  // Shared with the round posted to the Redis thread, which may run after this object is gone (at shutdown).
  struct rounds : std::enable_shared_from_this<rounds> {
    rounds(redis_worker& r, std::string g, std::string n, std::int64_t ms)
        : redis(r), group(std::move(g)), node(std::move(n)), lease_ms(ms) {}
    redis_worker& redis;
    const std::string group, node;
    const std::int64_t lease_ms;
    std::mutex mu;
    std::vector<renewal> renewals;
    std::map<int, std::string> statuses;
    bool posted = false;  // a round is queued and has not started: new requests join it
    void post();          // with mu held
    void run(redis_connection& conn);
  };
  std::shared_ptr<rounds> rounds_;
};

}  // namespace g::net
