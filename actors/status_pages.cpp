#include "actors/status_pages.hpp"

#include <chrono>
#include <vector>

#include "actors/node_env.hpp"
#include "actors/stream_trimmer.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/json/json_writer.hpp"
#include "status_page_html.hpp"  // generated from status_page/index.html

namespace g::actors {

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// A node-wide counter: its header and its one sample.
void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  metric(out, name, "counter", help);
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

// One gauge or counter with a sample per shard.
template <class F>
void per_shard(std::string& out, const char* name, const char* type, const char* help,
               const std::vector<shard_status>& shards, F value) {
  metric(out, name, type, help);
  for (std::size_t i = 0; i < shards.size(); ++i)
    if (shards[i].here)  // each shard is reported by the node that runs it
      out += std::string(name) + "{shard=\"" + std::to_string(i) + "\"} " + std::to_string(value(shards[i])) + "\n";
}

net::http_answer metrics_page(const node_env& env) {
  net::http_answer a;
  a.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string& o = a.body;
  auto shards = env.board.snapshot();
  per_shard(o, "g_shard_ready", "gauge", "1 when the shard's session is ready and its events reach the stream", shards,
            [](const shard_status& s) { return static_cast<int>(s.ready()); });
  per_shard(o, "g_shard_committing", "gauge", "0 while Redis refuses or does not answer the shard's commits", shards,
            [](const shard_status& s) { return static_cast<int>(s.committing); });
  per_shard(o, "g_shard_latency_ms", "gauge", "last heartbeat round trip (-1 unknown)", shards,
            [](const shard_status& s) { return s.latency_ms; });
  per_shard(o, "g_shard_seq", "gauge", "last committed sequence number", shards, [](const shard_status& s) { return s.seq; });
  per_shard(o, "g_shard_events_total", "counter", "events written to the stream", shards,
            [](const shard_status& s) { return s.events; });
  per_shard(o, "g_shard_commits_total", "counter", "atomic commits to Redis", shards,
            [](const shard_status& s) { return s.commits; });
  per_shard(o, "g_shard_buffered_events", "gauge", "events waiting for Redis", shards,
            [](const shard_status& s) { return s.buffered; });
  per_shard(o, "g_shard_fatal", "gauge", "1 when the shard stopped for good (token, intents, shards): alert on it", shards,
            [](const shard_status& s) { return static_cast<int>(s.fatal); });
  const auto& c = env.counters;
  counter(o, "g_node_events_received_total", "dispatches received from Discord", c.events);
  counter(o, "g_node_identifies_total", "sessions started (READY)", c.identifies);
  counter(o, "g_node_resumes_total", "sessions resumed (RESUMED)", c.resumes);
  counter(o, "g_node_redis_errors_total", "Redis operations that failed", c.redis_errors);
  counter(o, "g_node_commit_outages_total", "episodes of Redis refusing or not answering commits: alert on it", c.commit_outages);
  counter(o, "g_node_rejected_commands_total", "backend commands refused (invalid, queue full)", c.rejected_commands);
  counter(o, "g_node_fenced_total", "shards stopped because another node holds their lease", c.fenced);
  counter(o, "g_node_identify_refused_total", "IDENTIFYs refused to keep the session start reserve: alert on it", c.identify_refused);
  metric(o, "g_node_redis_reachable", "gauge", "0 while Redis has not answered this node for a lease (or 1.5 s): alert on it");
  o += std::string("g_node_redis_reachable ") + (env.redis_reachable ? "1" : "0") + "\n";
  metric(o, "g_node_minority", "gauge", "1 while this node sees fewer than half of the cluster's nodes");
  o += std::string("g_node_minority ") + (env.minority ? "1" : "0") + "\n";
  counter(o, "g_node_shards_given_up_total", "shards let go because their lease expired while Redis was unreachable", c.given_up);
  if (env.redis) {
    metric(o, "g_node_redis_job_failures_total", "counter", "Redis jobs that threw (a bug: the caller got a failure): alert on it");
    o += "g_node_redis_job_failures_total " + std::to_string(env.redis->failed_jobs() + (env.control ? env.control->failed_jobs() : 0)) + "\n";
  }
  if (env.trimmer) env.trimmer->append_metrics(o);
  return a;
}

net::http_answer health_page(const node_env& env) {
  net::http_answer a;
  auto shards = env.board.snapshot();
  std::size_t ready = 0, fatal = 0, here = 0, stuck = 0;
  for (auto& s : shards) {
    if (!s.here) continue;
    ++here;
    ready += s.ready();
    fatal += s.fatal;
    stuck += !s.committing;
  }
  bool ok = fatal == 0 && ready == here;
  a.status = ok ? 200 : 503;
  a.body = (ok ? "ok: " : "degraded: ") + std::to_string(ready) + "/" + std::to_string(here) + " shards of this node ready" +
           (fatal ? ", " + std::to_string(fatal) + " stopped for good" : "") +
           (stuck ? ", " + std::to_string(stuck) + " cannot commit to Redis" : "") + "\n";
  return a;
}

// This node's own shards, in more detail than the cluster view (buffered events, commits).
net::http_answer node_json(const node_env& env) {
  net::http_answer a;
  a.content_type = "application/json";
  json::writer w(a.body);
  auto shards = env.board.snapshot();
  w.begin_object()
      .field("node", env.node_id)
      .field("name", env.name)
      .field("group", env.cfg->node.group)
      .field("shard_count", env.shard_total)
      .field("started", env.started_ms)
      .key("shards")
      .begin_array();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    if (!s.here) continue;
    w.begin_object()
        .field("shard", static_cast<int>(i))
        .field("state", s.state)
        .field("seq", s.seq)
        .field("latency_ms", s.latency_ms)
        .field("events", s.events)
        .field("buffered", static_cast<std::uint64_t>(s.buffered))
        .field("committing", s.committing);
    if (!s.error.empty()) w.field("error", s.error);
    w.end_object();
  }
  w.end_array().end_object();
  return a;
}

net::http_answer route_status(const node_env& env, std::string_view method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (method != "GET") return {405, "text/plain; charset=utf-8", "use GET\n"};
  if (path == "/metrics") return metrics_page(env);
  if (path == "/healthz") return health_page(env);
  if (path == "/status.json") {
    std::string view = env.view.get();
    if (view.empty()) return {503, "application/json", "{\"error\":\"the cluster view is not read yet\"}"};
    return {200, "application/json", std::move(view)};
  }
  if (path == "/node.json") return node_json(env);
  if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", std::string(status_page_html)};
  return {404, "text/plain; charset=utf-8", "not found: try /, /status.json, /node.json, /metrics or /healthz\n"};
}

}  // namespace g::actors
