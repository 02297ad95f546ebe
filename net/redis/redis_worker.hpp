#pragma once
// The thread that talks to Redis. Jobs run in order on one blocking connection; callers (actors, io handlers)
// only enqueue and get their answer by message (ask), so nothing of theirs ever blocks on Redis.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <exception>
#include <string>
#include <utility>

#include "net/redis/redis_connection.hpp"

namespace g::net {

class redis_worker {
 public:
  using job = std::function<void(redis_connection&)>;

  explicit redis_worker(redis_endpoint endpoint);
  ~redis_worker();  // finishes queued jobs, then joins

  // Fire and forget: for jobs whose outcome nobody waits for (each logs its own failure). A job that throws is a
  // bug: it is logged as an ERROR and counted in failed_jobs().
  void post(job j);

  // A question whose caller waits for the answer: `work(conn)` runs on the Redis thread and its result goes to
  // `answer` there. The caller always hears back: should `work` throw (a bug: store operations do not throw), the
  // answer is R::failed with what was thrown, so nothing waits forever for a reply that never comes.
  template <class R, class Work, class Answer>
  void ask(Work work, Answer answer) {
    post([this, work = std::move(work), answer = std::move(answer)](redis_connection& conn) mutable {
      R result;
      try {
        result = work(conn);
      } catch (const std::exception& e) {
        note_bug(e.what());
        result = R::failed(std::string("bug: ") + e.what());
      }
      answer(std::move(result));
    });
  }
  std::uint64_t failed_jobs() const { return failed_jobs_; }
  std::size_t queued() const;
  std::int64_t answered_ms() const { return conn_.answered_ms(); }  // when Redis last answered (steady ms)
  std::optional<redis_address> master_in_use() const { return conn_.master_in_use(); }  // any thread

 private:
  void run();
  void note_bug(const char* what);
  redis_connection conn_;
  std::atomic<std::uint64_t> failed_jobs_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace g::net
