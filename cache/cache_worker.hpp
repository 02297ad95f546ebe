#pragma once
// g-cache's loop: reads its consumer group, keeps the entries it holds in stream order, and applies each shard's
// entries one after another through the apply script; entries whose predecessor another worker holds wait for
// it, entries a dead worker left behind are claimed after `claim_idle_ms`.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "cache/cache_store.hpp"
#include "cache/event_plan.hpp"

namespace g::cache {

struct worker_settings {
  int batch = 500;
  std::int64_t claim_idle_ms = 10000;
  std::int64_t gap_after_ms = 3000;  // how long an entry waits for a predecessor nobody holds before it is a gap
};

struct worker_counters {
  std::uint64_t applied = 0, duplicates = 0, gaps = 0, problems = 0, claimed = 0;
};

class cache_worker {
 public:
  cache_worker(cache_store& store, event_planner& planner, worker_settings settings, std::string name);

  // One round: read, claim, apply what is next. Unavailable, with what Redis said, if it could not be used (the
  // caller logs and retries; nothing is lost: unapplied entries stay pending in the group).
  net::store_result<> step();
  const worker_counters& counters() const { return counters_; }
  std::size_t held() const { return held_.size(); }

 private:
  struct held_entry {
    stream_entry entry;
    std::int64_t waiting_since_ms = 0;
    bool force = false;  // its predecessor is gone from the stream: applied without the check
  };
  net::store_result<> take(cache_store::entries entries, bool claimed);
  net::store_result<> apply_ready();
  net::store_result<> flush(std::vector<pending_apply>& batch);
  void look_for_gaps(const std::string& id, held_entry& h);
  bool predecessor_gone(const std::string& prev);
  void log(const std::string& what) const;

  cache_store& store_;
  event_planner& planner_;
  worker_settings settings_;
  std::string name_;
  // Held entries by stream id (ids compare as numbers, not text).
  struct id_less {
    bool operator()(const std::string& a, const std::string& b) const { return compare_stream_ids(a, b) < 0; }
  };
  std::map<std::string, held_entry, id_less> held_;
  std::int64_t last_claim_ms_ = 0;
  bool started_ = false;
  bool progressed_ = false;  // the last round applied something
  worker_counters counters_;
};

std::int64_t monotonic_ms();

}  // namespace g::cache
