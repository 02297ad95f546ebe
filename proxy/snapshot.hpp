#pragma once
// What a bot gets before live events: READY and one GUILD_CREATE per available guild of its shard, built from the
// cache standard (docs/cache.md). The cache is read in one Lua script, so the snapshot is exactly the state after the
// shard's entry `applied_id`, and the bot's live events start right after that entry: nothing twice, nothing skipped.
#include <optional>
#include <string>
#include <vector>

#include "net/redis/store_result.hpp"

namespace g::net {
class redis_connection;
}

namespace g::proxy {

struct shard_snapshot {
  std::string applied_id;   // the shard's last entry the cache applied
  std::string me;           // the bot user
  std::string application;  // READY's application object ("" when the cache has none)
  std::vector<std::string> guild_ids;        // every guild of the shard (READY lists them as unavailable)
  std::vector<std::string> guild_creates;    // the d of each available guild's GUILD_CREATE
};

// Lost: the cache holds nothing for the shard yet (is g-cache running?); unavailable: Redis did not answer.
using snapshot_result = net::store_result<shard_snapshot>;

// Reads one shard's snapshot; presences only when the bot has the intent (and the cache keeps them).
snapshot_result read_snapshot(net::redis_connection& redis, const std::string& prefix, int shard, bool presences);

struct ready_fields {
  std::string session_id;
  std::string resume_gateway_url;
  bool shard_sent = false;
  int shard_id = 0, shard_count = 1;
};

// READY's d, as Discord shapes it (reference §5.5), from the snapshot.
std::string ready_d(const shard_snapshot& s, const ready_fields& f);

// A dispatch frame {"t":…,"s":…,"op":0,"d":…} with d copied as is.
void dispatch_frame(std::string& out, std::string_view t, std::int64_t seq, std::string_view d);

}  // namespace g::proxy
