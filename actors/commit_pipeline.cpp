#include "actors/commit_pipeline.hpp"

#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/redis/redis_worker.hpp"

#include <cstdio>

namespace g::actors {

void commit_pipeline::submit(const caf::actor& shard, int total, int shard_id, cluster::event_batch batch) {
  std::lock_guard l(mu_);
  queue_.push_back({shard, total, shard_id, std::move(batch)});
  if (drain_posted_) return;
  drain_posted_ = true;
  env_.redis->post([this](net::redis_connection& conn) { drain(conn); });
}

void commit_pipeline::drain(net::redis_connection& conn) {  // on the Redis thread
  std::vector<pending> work;
  {
    std::lock_guard l(mu_);
    work.swap(queue_);
    drain_posted_ = false;
  }
  if (work.empty()) return;
  const std::int64_t now = net::wall_ms();
  std::vector<net::shard_store::commit_request> requests;
  requests.reserve(work.size());
  for (auto& p : work)
    requests.push_back({p.total, p.id, &p.batch.session->session_id, &p.batch.session->resume_url,
                        &p.batch.events, 0, now, env_.cfg->cluster.lease_ms,
                        p.total == env_.shard_total});
  std::vector<net::commit_result> results;
  try {
    results = net::shard_store(conn, env_.cfg->node.group, env_.node_id).commit_many(requests);
  } catch (const std::exception& e) {  // a bug (store operations answer instead of throwing): every shard hears back
    LOG_ERROR("BUG: a commit round threw (%s); its batches are retried", e.what());
    results.assign(work.size(), net::commit_result::failed(std::string("bug: ") + e.what()));
  }
  note_outcome(conn, results);
  for (std::size_t i = 0; i < work.size(); ++i)
    caf::anon_send(work[i].shard, commit_msg{std::move(results[i]), std::move(work[i].batch)});
}

void commit_pipeline::note_outcome(const net::redis_connection& conn, const std::vector<net::commit_result>& results) {
  const net::commit_result* failed = nullptr;
  for (auto& r : results)
    if (r.unavailable()) failed = &r;
  if (conn.connections() != connections_) {  // a reconnect: name the server if it is another (a failover)
    connections_ = conn.connections();
    if (conn.address() != address_) {
      if (!address_.empty())
        LOG_WARN("commits go to Redis at %s now (before: %s)\n", conn.address().c_str(), address_.c_str());
      address_ = conn.address();
    }
  }
  if (!failed == !failing_since_ || results.empty()) return;  // no change: the usual case costs nothing more
  const std::string where = conn.address();
  if (failed) {
    failing_since_ = net::steady_ms();
    ++env_.counters.commit_outages;
    LOG_ERROR("Redis at %s does not take commits (%s): events are buffered and the shards are "
                         "not ready until it does\n", where.c_str(), failed->reason.c_str());
  } else {
    LOG_INFO("Redis at %s takes commits again after %.1f s\n", where.c_str(),
                 static_cast<double>(net::steady_ms() - failing_since_) / 1000.0);
    failing_since_ = 0;
  }
}

}  // namespace g::actors
