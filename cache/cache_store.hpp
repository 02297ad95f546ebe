#pragma once
// g-cache's Redis side: its consumer group on `events`, the reads a plan needs, and the apply script that moves
// a shard's cache and its `cache:applied` marker in one atomic step (and acknowledges the entry with them).
// Blocking calls on g-cache's one thread.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache_keys.hpp"
#include "cache/event_plan.hpp"
#include "net/redis/redis_connection.hpp"

namespace g::cache {

// What the apply script answered for one entry.
enum class apply_outcome {
  applied,    // the writes and the marker moved
  duplicate,  // the entry was applied already (by this worker before a crash, or by another): acknowledged
  not_next,   // the shard's previous entry is not applied yet: nothing written
  failed      // Redis refused or could not be reached: nothing written
};

struct pending_apply {
  const stream_entry* entry;
  cache_plan plan;
  bool check_prev = true;  // false: the previous entry is gone from the stream (a gap the worker accepted)
};

class cache_store {
 public:
  cache_store(net::redis_connection& redis, const cache_keys& keys, std::string group, std::string consumer);

  // The group (from the stream's start, so a new cache worker reads what the stream still holds) and the
  // standard's version. False with error() when Redis refuses.
  bool prepare();
  const std::string& error() const { return error_; }
  const cache_keys& keys() const { return keys_; }

  // Entries: new ones for this consumer (waiting up to block_ms for them; 0: not at all), its own pending ones (after a restart under the same name), and
  // entries another consumer left unacknowledged for `idle_ms`.
  std::optional<std::vector<stream_entry>> read_new(int count, int block_ms);
  std::optional<std::vector<stream_entry>> read_own_pending(int count);
  std::optional<std::vector<stream_entry>> claim_idle(std::int64_t idle_ms, int count);

  // shard → id of the last entry applied ("0-0": none yet).
  std::optional<std::map<int, std::string>> applied_ids(const std::vector<int>& shards);
  std::optional<std::vector<read_result>> read(const std::vector<read_request>& reqs);
  // One round trip for the whole batch, applied in order.
  std::vector<apply_outcome> apply(const std::vector<pending_apply>& batch);

  // Whether an entry is still in the stream, and whether some consumer of the group holds it unacknowledged.
  std::optional<bool> in_stream(const std::string& id);
  std::optional<bool> pending(const std::string& id);
  std::optional<stream_entry> fetch(const std::string& id);

 private:
  std::optional<std::vector<stream_entry>> entries_of(const net::redis_reply& r, bool nested_stream);
  net::redis_connection& redis_;
  cache_keys keys_;
  std::string group_, consumer_;
  std::string error_;
};

using net::compare_stream_ids;

}  // namespace g::cache
