#include "net/redis/redis_identify_gate.hpp"

#include <utility>

#include <algorithm>
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
    attempt(t, shard_id, std::make_shared<std::function<void()>>(std::move(granted)));
    return t;
  }

  void cancel(ticket t) override {
    std::lock_guard l(mu_);
    live_.erase(t);
    granted_.erase(t);
  }

  void sent(ticket t) override {
    grant g;
    {
      std::lock_guard l(mu_);
      auto it = granted_.find(t);
      if (it == granted_.end()) return;
      g = it->second;
      granted_.erase(it);
    }
    const int bucket = g.shard_id % max_concurrency_;
    const std::int64_t late_ms = steady_ms() - g.at_ms;
    if (late_ms >= 2 * slot_ms_)
      LOG_SHARD_WARN((log::shard{g.shard_id}), "IDENTIFY sent %lld ms after its slot was granted, after the slot's hold "
                     "ran out: another node may have identified in bucket %d within %lld ms of it (the node is overloaded)",
                     static_cast<long long>(late_ms), bucket, static_cast<long long>(slot_ms_));
    else
      LOG_SHARD_DEBUG((log::shard{g.shard_id}), "IDENTIFY sent in bucket %d, %lld ms after its slot was granted", bucket,
                      static_cast<long long>(late_ms));
    redis_.post([this, bucket](redis_connection& conn) {
      // Not set (Redis down): the slot ends two slots after the grant, which was just before.
      auto r = shard_store(conn, group_, node_).extend_identify_slot(bucket, slot_ms_);
      if (r.unavailable()) LOG_WARN("identify slot %d not extended from its IDENTIFY: %s", bucket, r.reason.c_str());
    });
  }

 private:
  bool live(ticket t) {
    std::lock_guard l(mu_);
    return live_.count(t) != 0;
  }

  // What one try for a slot came to. `failed` (an unavailable Redis, or a job that threw) tries again in a second:
  // a shard waiting for its slot always hears back.
  struct slot_try {
    enum { granted, held, unavailable, no_budget, cancelled } what = unavailable;
    std::int64_t wait_ms = 0;
    std::string why;
    static slot_try failed(std::string why) { return {unavailable, 0, std::move(why)}; }
  };

  slot_try take_slot(redis_connection& conn, ticket t, int shard_id) {
    const int bucket = shard_id % max_concurrency_;
    if (!live(t)) return {slot_try::cancelled, 0, {}};
    {
      std::lock_guard l(mu_);
      if (!guard_.allows(steady_ms()))
        return {slot_try::no_budget, 0, "IDENTIFY refused: only " + std::to_string(guard_.remaining()) +
                                            " session starts left today (reserve reached); resuming sessions continue"};
    }
    // Held for two slots from the grant, and set to one slot from the IDENTIFY when it leaves (sent): the slot
    // counts from the IDENTIFY, as Discord counts, however late the IDENTIFY or the Redis job that marks it.
    auto slot = shard_store(conn, group_, node_).take_identify_slot(bucket, 2 * slot_ms_);
    if (slot.lost()) return {slot_try::held, slot.value, {}};
    if (!slot.ok()) return slot_try::failed(slot.reason);
    std::lock_guard l(mu_);
    if (!live_.erase(t)) return {slot_try::cancelled, 0, {}};  // cancelled meanwhile: the slot goes unused, as on Discord
    guard_.spent();
    if (granted_.size() >= 4096) granted_.erase(granted_.begin());  // grants whose IDENTIFY never left
    granted_[t] = {shard_id, steady_ms()};
    return {slot_try::granted, 0, {}};
  }

  void attempt(ticket t, int shard_id, std::shared_ptr<std::function<void()>> granted) {
    redis_.ask<slot_try>([this, t, shard_id](redis_connection& conn) { return take_slot(conn, t, shard_id); },
                         [this, t, shard_id, granted](slot_try r) {
                           switch (r.what) {
                             case slot_try::granted: (*granted)(); return;
                             case slot_try::cancelled: return;
                             // When it frees, or a slot from now: a slot granted but whose IDENTIFY has not left
                             // yet is held for two slots, and shortened to one once it leaves.
                             case slot_try::held: return retry_later(t, shard_id, granted, std::min(r.wait_ms, slot_ms_) + 10);
                             case slot_try::unavailable: return retry_later(t, shard_id, granted, 1000);
                             case slot_try::no_budget:
                               if (refused_) refused_(r.why);
                               return retry_later(t, shard_id, granted, 60000);
                           }
                         });
  }

  void retry_later(ticket t, int shard_id, std::shared_ptr<std::function<void()>> granted, std::int64_t ms) {
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(ms));
    timer->async_wait([this, timer, t, shard_id, granted](boost::system::error_code ec) {
      if (!ec) attempt(t, shard_id, granted);
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
  struct grant {
    int shard_id = 0;
    std::int64_t at_ms = 0;  // steady clock
  };
  std::map<ticket, grant> granted_;  // granted, IDENTIFY not yet sent
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
