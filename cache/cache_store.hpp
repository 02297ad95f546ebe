#pragma once
// g-cache's Redis side: its consumer group on `events`, the reads a plan needs, and the apply script that moves
// a shard's cache and its `cache:applied` marker in one atomic step (and acknowledges the entry with them).
// Blocking calls on g-cache's one thread. Each answers a store_result: ok, or unavailable with what Redis said
// (nothing here is `lost`: no lease or claim is contested).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache_keys.hpp"
#include "cache/event_plan.hpp"
#include "net/redis/redis_connection.hpp"
#include "net/redis/store_result.hpp"

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

  using entries = net::store_result<std::vector<stream_entry>>;

  // The group (from the stream's start, so a new cache worker reads what the stream still holds) and the
  // standard's version.
  net::store_result<> prepare();
  const cache_keys& keys() const { return keys_; }

  // Entries: new ones for this consumer (waiting up to block_ms for them; 0: not at all), its own pending ones (after a restart under the same name), and
  // entries another consumer left unacknowledged for `idle_ms`.
  entries read_new(int count, int block_ms);
  entries read_own_pending(int count);
  entries claim_idle(std::int64_t idle_ms, int count);

  // shard → id of the last entry applied ("0-0": none yet).
  net::store_result<std::map<int, std::string>> applied_ids(const std::vector<int>& shards);
  net::store_result<std::vector<read_result>> read(const std::vector<read_request>& reqs);
  // One round trip for the whole batch, applied in order. The outcome of every entry is in `value` whatever
  // the result; unavailable (with the first reason) when any failed.
  net::store_result<std::vector<apply_outcome>> apply(const std::vector<pending_apply>& batch);

  // Whether an entry is still in the stream, and whether some consumer of the group holds it unacknowledged.
  net::store_result<bool> in_stream(const std::string& id);
  net::store_result<bool> pending(const std::string& id);
  net::store_result<std::optional<stream_entry>> fetch(const std::string& id);  // ok with nothing: not in the stream

 private:
  entries entries_of(const net::redis_reply& r, bool nested_stream);
  net::redis_connection& redis_;
  cache_keys keys_;
  std::string group_, consumer_;
};

using net::compare_stream_ids;

}  // namespace g::cache
