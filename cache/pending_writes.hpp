#pragma once
// What a batch of plans will have written, so that the reads of later entries in the same batch can be answered
// from values fetched before the batch plus these writes, in one round trip for the whole batch instead of a
// flush and a read for each entry that merges. Pure.
#include <optional>
#include <string>
#include <unordered_map>

#include "cache/cache_keys.hpp"
#include "cache/event_plan.hpp"

namespace g::cache {

class pending_writes {
 public:
  explicit pending_writes(const cache_keys& keys) : keys_(keys) {}

  void record(const cache_plan& plan);
  void clear() { keys_written_.clear(); sets_touched_ = false; }

  // The value `q` reads now, given what it read before the batch; nullopt when the writes cannot tell (a shard's
  // guild set after guilds moved): the caller then writes the batch and reads Redis again.
  std::optional<read_result> resolve(const read_request& q, const read_result& before) const;

 private:
  struct key_writes {
    bool reset = false;                                            // deleted (then perhaps written again)
    std::optional<std::string> value;                              // a string key's value, if set
    std::unordered_map<std::string, std::optional<std::string>> fields;  // a hash's fields (nullopt: deleted)
  };
  key_writes& at(const std::string& key) { return keys_written_[key]; }
  void reset_guild(const std::string& gid, bool with_guild_object);

  cache_keys keys_;
  std::unordered_map<std::string, key_writes> keys_written_;
  bool sets_touched_ = false;  // an M or G op changed some shard's guild set
};

}  // namespace g::cache
