#pragma once
// The thread that talks to Redis. Jobs run in order on one blocking connection; callers (actors, io handlers)
// only enqueue and get their answer by message, so nothing of theirs ever blocks on Redis.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "net/redis/redis_connection.hpp"

namespace g::net {

class redis_worker {
 public:
  using job = std::function<void(redis_connection&)>;

  explicit redis_worker(redis_endpoint endpoint);
  ~redis_worker();  // finishes queued jobs, then joins

  void post(job j);
  std::size_t queued() const;
  std::int64_t answered_ms() const { return conn_.answered_ms(); }  // when Redis last answered (steady ms)

 private:
  void run();
  redis_connection conn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace g::net
