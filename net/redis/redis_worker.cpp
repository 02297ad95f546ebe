#include "net/redis/redis_worker.hpp"

#include "net/log.hpp"

#include <cstdio>
#include <exception>

namespace g::net {

redis_worker::redis_worker(redis_endpoint endpoint) : conn_(std::move(endpoint)), thread_([this] { run(); }) {}

redis_worker::~redis_worker() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void redis_worker::post(job j) {
  {
    std::lock_guard l(mu_);
    jobs_.push_back(std::move(j));
  }
  cv_.notify_one();
}

std::size_t redis_worker::queued() const {
  std::lock_guard l(mu_);
  return jobs_.size();
}

void redis_worker::note_bug(const char* what) {
  ++failed_jobs_;
  LOG_ERROR("BUG: a Redis job threw (%s); store operations answer instead of throwing", what);
}

void redis_worker::run() {
  for (;;) {
    job j;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      j(conn_);
    } catch (const std::exception& e) {
      note_bug(e.what());
    }
  }
}

}  // namespace g::net
