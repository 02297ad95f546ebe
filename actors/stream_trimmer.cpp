#include "actors/stream_trimmer.hpp"

#include "net/log.hpp"

#include <algorithm>
#include <cstdio>

namespace g::actors {

namespace {

// A Prometheus label value: a group's name may hold anything.
std::string label(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

stream_trimmer::stream_trimmer(const config::node_config& cfg, std::string events_key) : key_(std::move(events_key)) {
  policy_.maxlen = cfg.events.stream_maxlen;
  policy_.hard = cfg.events.stream_maxlen_hard;
  policy_.every_group = !cfg.events.protect_groups.has_value();
  if (cfg.events.protect_groups) policy_.groups = *cfg.events.protect_groups;
}

void stream_trimmer::run(net::redis_connection& conn) {
  auto result = net::trim_stream(conn, key_, policy_);
  if (!result.ok()) return;  // Redis trouble is the commits' to report; the next round tries again
  auto& r = result.value;
  if (r.held_by != held_by_) {
    if (!r.held_by.empty()) {
      for (auto& g : r.groups)
        if (g.name == r.held_by)
          LOG_WARN("consumer group '%s' holds the stream at %lld entries, above stream_maxlen %llu: "
                       "%lld entries unread, %lld unacknowledged; kept up to stream_maxlen_hard %llu\n",
                       g.name.c_str(), static_cast<long long>(r.length), static_cast<unsigned long long>(policy_.maxlen),
                       static_cast<long long>(g.lag), static_cast<long long>(g.pending),
                       static_cast<unsigned long long>(policy_.hard));
    } else {
      LOG_INFO("the stream is trimmed to stream_maxlen again (%lld entries)\n", static_cast<long long>(r.length));
    }
    held_by_ = r.held_by;
  }
  std::lock_guard l(mu_);
  for (auto& g : r.groups) {
    if (g.unread_trimmed == 0 && g.pending_trimmed == 0) continue;
    lost_[g.name] += static_cast<std::uint64_t>(std::max<std::int64_t>(g.unread_trimmed, 0) + g.pending_trimmed);
    const std::string unread = g.unread_trimmed < 0 ? "an unknown number of" : std::to_string(g.unread_trimmed);
    LOG_ERROR("the stream reached stream_maxlen_hard %llu: trimmed %s entries consumer group '%s' "
                 "had not read and %lld it had not acknowledged\n",
                 static_cast<unsigned long long>(policy_.hard), unread.c_str(), g.name.c_str(),
                 static_cast<long long>(g.pending_trimmed));
  }
  last_ = std::move(r);
}

void stream_trimmer::append_metrics(std::string& out) const {
  std::lock_guard l(mu_);
  auto header = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  header("g_stream_length", "gauge", "entries in the event stream");
  out += "g_stream_length " + std::to_string(last_.length) + "\n";
  header("g_stream_trim_held", "gauge", "1 while a protected consumer group keeps the stream above stream_maxlen");
  out += std::string("g_stream_trim_held ") + (last_.held_by.empty() ? "0" : "1") + "\n";
  auto per_group = [&](const char* name, const char* type, const char* help, auto value) {
    header(name, type, help);
    for (auto& g : last_.groups) out += std::string(name) + "{group=\"" + label(g.name) + "\"} " + std::to_string(value(g)) + "\n";
  };
  per_group("g_stream_group_lag", "gauge", "entries not yet delivered to the group (-1: Redis cannot tell)",
            [](const net::consumer_group_state& g) { return g.lag; });
  per_group("g_stream_group_pending", "gauge", "entries delivered to the group and not acknowledged",
            [](const net::consumer_group_state& g) { return g.pending; });
  per_group("g_stream_group_protected", "gauge", "1 when trimming waits for the group ([events] protect_groups)",
            [](const net::consumer_group_state& g) { return static_cast<int>(g.is_protected); });
  header("g_stream_trimmed_unread_total", "counter",
         "entries trimmed past stream_maxlen_hard that the group had not read or acknowledged (this node's trims): alert on it");
  for (auto& [name, n] : lost_) out += "g_stream_trimmed_unread_total{group=\"" + label(name) + "\"} " + std::to_string(n) + "\n";
}

}  // namespace g::actors
