#include "net/redis/lease_renewals.hpp"

#include <algorithm>

#include "net/log.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"

namespace g::net {

lease_renewals::lease_renewals(redis_worker& redis, std::string group, std::string node_id, std::int64_t lease_ms)
    : rounds_(std::make_shared<rounds>(redis, std::move(group), std::move(node_id), lease_ms)) {}

void lease_renewals::renew(int total, int id, answer a) {
  std::lock_guard l(rounds_->mu);
  rounds_->renewals.push_back({total, id, std::move(a)});
  rounds_->post();
}

void lease_renewals::set_status(int id, std::string json) {
  std::lock_guard l(rounds_->mu);
  rounds_->statuses[id] = std::move(json);
  rounds_->post();
}

void lease_renewals::rounds::post() {
  if (posted) return;
  posted = true;
  redis.post([self = shared_from_this()](redis_connection& conn) { self->run(conn); });
}

void lease_renewals::rounds::run(redis_connection& conn) {
  std::vector<renewal> renewals;
  std::map<int, std::string> statuses;
  {
    std::lock_guard l(mu);
    posted = false;  // what arrives from now on goes to the next round
    renewals.swap(this->renewals);
    statuses.swap(this->statuses);
  }
  shard_store store(conn, group, node);
  // One call per shard set (a reshard runs two side by side).
  std::stable_sort(renewals.begin(), renewals.end(), [](const renewal& a, const renewal& b) { return a.total < b.total; });
  for (std::size_t from = 0; from < renewals.size();) {
    std::size_t to = from;
    std::vector<int> ids;
    while (to < renewals.size() && renewals[to].total == renewals[from].total) ids.push_back(renewals[to++].id);
    auto renewed = store.renew_leases(renewals[from].total, ids, lease_ms);
    for (std::size_t i = from; i < to; ++i) {
      auto r = std::move(renewed[i - from]);
      if (r.lost()) {
        // Not ours any more, or gone (a Redis restart without persistence): taken back if it is free.
        auto taken = store.acquire_lease(renewals[i].total, renewals[i].id, lease_ms);
        r = {taken.outcome, {}, taken.reason};
      }
      renewals[i].a(std::move(r));
    }
    from = to;
  }
  if (statuses.empty()) return;
  std::vector<std::pair<int, std::string>> lines(std::make_move_iterator(statuses.begin()), std::make_move_iterator(statuses.end()));
  // Only the status page reads them, and the next round (a third of a lease) writes them again.
  auto written = store.set_statuses(lines);
  if (written.unavailable()) LOG_DEBUG("writing %zu status lines failed: %s", lines.size(), written.reason.c_str());
}

}  // namespace g::net
