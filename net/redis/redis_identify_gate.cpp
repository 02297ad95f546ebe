#include "net/redis/redis_identify_gate.hpp"

#include <utility>

#include <boost/asio.hpp>
#include <map>
#include <mutex>
#include <set>

#include "cluster/session_budget_guard.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"

namespace g::net {

namespace {

class redis_identify_gate : public identify_gate {
 public:
  redis_identify_gate(boost::asio::io_context& io, redis_worker& redis, std::string group, std::string node, int mc,
                      identify_budget budget, std::int64_t slot_ms)
      : io_(io),
        redis_(redis),
        group_(std::move(group)),
        node_(std::move(node)),
        max_concurrency_(mc),
        slot_ms_(slot_ms),
        refused_(std::move(budget.refused)),
        guard_(budget.total, budget.remaining, budget.reset_after_ms, budget.reserve, steady_ms()) {}


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
    granted_.erase(t);
  }

  void sent(ticket t) override {
    int bucket = 0;
    {
      std::lock_guard l(mu_);
      auto it = granted_.find(t);
      if (it == granted_.end()) return;
      bucket = it->second;
      granted_.erase(it);
    }
    redis_.post([this, bucket](redis_connection& conn) {
      // Not extended (Redis down): the slot still ends a slot after the grant, which was just before.
      auto r = shard_store(conn, group_, node_).extend_identify_slot(bucket, slot_ms_);
      if (r.unavailable()) LOG_WARN("identify slot %d not extended from its IDENTIFY: %s", bucket, r.reason.c_str());
    });
  }

 private:
  bool live(ticket t) {
    std::lock_guard l(mu_);
    return live_.count(t) != 0;
  }

  void attempt(ticket t, int bucket, std::shared_ptr<std::function<void()>> granted) {
    redis_.post([this, t, bucket, granted](redis_connection& conn) {
      if (!live(t)) return;
      {
        std::unique_lock l(mu_);
        if (!guard_.allows(steady_ms())) {
          std::string why = "IDENTIFY refused: only " + std::to_string(guard_.remaining()) +
                            " session starts left today (reserve reached); resuming sessions continue";
          l.unlock();
          if (refused_) refused_(why);
          retry_later(t, bucket, granted, 60000);
          return;
        }
      }
      auto slot = shard_store(conn, group_, node_).take_identify_slot(bucket, slot_ms_);
      if (slot.ok()) {
        {
          std::lock_guard l(mu_);
          if (!live_.erase(t)) return;  // cancelled meanwhile: the slot goes unused, as it would on Discord
          guard_.spent();
          if (granted_.size() >= 4096) granted_.erase(granted_.begin());  // grants whose IDENTIFY never left
          granted_[t] = bucket;
        }
        (*granted)();
        return;
      }
      // Held elsewhere: try again when the slot frees. Redis did not answer: in a second.
      retry_later(t, bucket, granted, slot.lost() ? slot.value + 10 : 1000);
    });
  }

  void retry_later(ticket t, int bucket, std::shared_ptr<std::function<void()>> granted, std::int64_t ms) {
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(ms));
    timer->async_wait([this, timer, t, bucket, granted](boost::system::error_code ec) {
      if (!ec) attempt(t, bucket, granted);
    });
  }

  boost::asio::io_context& io_;
  redis_worker& redis_;
  std::string group_, node_;
  int max_concurrency_;
  std::int64_t slot_ms_;
  std::function<void(const std::string&)> refused_;
  std::mutex mu_;
  cluster::session_budget_guard guard_;
  std::set<ticket> live_;
  std::map<ticket, int> granted_;  // granted, IDENTIFY not yet sent: its bucket
  ticket last_ = 0;
};

}  // namespace

std::unique_ptr<identify_gate> make_redis_identify_gate(boost::asio::io_context& io, redis_worker& redis,
                                                        std::string group, std::string node_id, int max_concurrency,
                                                        identify_budget budget, std::int64_t slot_ms) {
  return std::make_unique<redis_identify_gate>(io, redis, std::move(group), std::move(node_id),
                                               max_concurrency < 1 ? 1 : max_concurrency, std::move(budget), slot_ms);
}

}  // namespace g::net
