#include "net/redis/redis_identify_gate.hpp"

#include <utility>

#include <boost/asio.hpp>
#include <mutex>
#include <set>

#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"

namespace g::net {

namespace {

class redis_identify_gate : public identify_gate {
 public:
  redis_identify_gate(boost::asio::io_context& io, redis_worker& redis, std::string group, std::string node, int mc,
                      std::int64_t slot_ms)
      : io_(io), redis_(redis), group_(std::move(group)), node_(std::move(node)), max_concurrency_(mc), slot_ms_(slot_ms) {}

  ticket request(int shard_id, std::function<void()> granted) override {
    ticket t;
    {
      std::lock_guard l(mu_);
      t = ++last_;
      live_.insert(t);
    }
    attempt(t, shard_id % max_concurrency_, std::make_shared<std::function<void()>>(std::move(granted)));
    return t;
  }

  void cancel(ticket t) override {
    std::lock_guard l(mu_);
    live_.erase(t);
  }

 private:
  bool live(ticket t) {
    std::lock_guard l(mu_);
    return live_.count(t) != 0;
  }

  void attempt(ticket t, int bucket, std::shared_ptr<std::function<void()>> granted) {
    redis_.post([this, t, bucket, granted](redis_connection& conn) {
      if (!live(t)) return;
      std::int64_t wait = shard_store(conn, group_, node_).take_identify_slot(bucket, slot_ms_);
      if (wait == 0) {
        {
          std::lock_guard l(mu_);
          if (!live_.erase(t)) return;  // cancelled meanwhile: the slot goes unused, as it would on Discord
        }
        (*granted)();
        return;
      }
      // Held elsewhere (or Redis down: -1): try again when the slot frees.
      auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(wait > 0 ? wait + 10 : 1000));
      timer->async_wait([this, timer, t, bucket, granted](boost::system::error_code ec) {
        if (!ec) attempt(t, bucket, granted);
      });
    });
  }

  boost::asio::io_context& io_;
  redis_worker& redis_;
  std::string group_, node_;
  int max_concurrency_;
  std::int64_t slot_ms_;
  std::mutex mu_;
  std::set<ticket> live_;
  ticket last_ = 0;
};

}  // namespace

std::unique_ptr<identify_gate> make_redis_identify_gate(boost::asio::io_context& io, redis_worker& redis,
                                                        std::string group, std::string node_id, int max_concurrency,
                                                        std::int64_t slot_ms) {
  return std::make_unique<redis_identify_gate>(io, redis, std::move(group), std::move(node_id),
                                               max_concurrency < 1 ? 1 : max_concurrency, slot_ms);
}

}  // namespace g::net
