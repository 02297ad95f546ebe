#pragma once
// The node's share of consumer protection (net/redis/stream_trim.hpp): once a second, on the Redis thread, the stream
// is trimmed as [events] says, and what the consumer groups look like is kept for /metrics. A group holding the
// stream above stream_maxlen is logged once when it starts and once when it ends; entries cut past
// stream_maxlen_hard that a protected group still needed are logged each time, with the counts.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "config/node_config.hpp"
#include "net/redis/stream_trim.hpp"

namespace g::actors {

class stream_trimmer {
 public:
  stream_trimmer(const config::node_config& cfg, std::string events_key);
  void run(net::redis_connection& conn);  // on the Redis thread
  void append_metrics(std::string& out) const;  // any thread

 private:
  net::trim_policy policy_;
  std::string key_;
  std::string held_by_;  // the group holding the stream back, for the episode's log lines (Redis thread only)
  mutable std::mutex mu_;
  net::trim_report last_;
  std::map<std::string, std::uint64_t> lost_;  // per group: entries trimmed it still needed, since start
};

}  // namespace g::actors
