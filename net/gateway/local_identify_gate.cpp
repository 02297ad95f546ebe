#include <utility>

#include <boost/asio.hpp>
#include <chrono>
#include <map>
#include <mutex>

#include "cluster/identify_schedule.hpp"
#include "net/gateway/identify_gate.hpp"
#include "net/clock.hpp"

namespace g::net {

namespace {

class local_identify_gate : public identify_gate {
 public:
  local_identify_gate(boost::asio::io_context& io, int max_concurrency, std::int64_t slot_ms)
      : timer_(io), schedule_(max_concurrency, slot_ms) {}

  ticket request(int shard_id, std::function<void()> granted) override {
    std::lock_guard lock(mu_);
    ticket t = schedule_.request(shard_id);
    waiting_.emplace(t, std::move(granted));
    arm();
    return t;
  }

  void cancel(ticket t) override {
    std::lock_guard lock(mu_);
    schedule_.cancel(t);
    waiting_.erase(t);
  }

  void sent(ticket t) override {
    std::lock_guard lock(mu_);
    schedule_.sent(t, steady_ms());
    arm();
  }

 private:
  void arm() {  // holds mu_
    std::int64_t at = schedule_.next_grant_at();
    if (at == INT64_MAX) return;
    std::int64_t delay = std::max<std::int64_t>(0, at - steady_ms());
    timer_.expires_after(std::chrono::milliseconds(delay));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      std::vector<std::function<void()>> run;
      {
        std::lock_guard lock(mu_);
        for (ticket t : schedule_.grant(steady_ms())) {
          auto it = waiting_.find(t);
          if (it == waiting_.end()) continue;
          run.push_back(std::move(it->second));
          waiting_.erase(it);
        }
        arm();
      }
      for (auto& f : run) f();
    });
  }

  std::mutex mu_;
  boost::asio::steady_timer timer_;
  cluster::identify_schedule schedule_;
  std::map<ticket, std::function<void()>> waiting_;
};

}  // namespace

std::unique_ptr<identify_gate> make_local_identify_gate(boost::asio::io_context& io, int max_concurrency,
                                                        std::int64_t slot_ms) {
  return std::make_unique<local_identify_gate>(io, max_concurrency, slot_ms);
}

}  // namespace g::net
