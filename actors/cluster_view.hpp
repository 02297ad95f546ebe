#pragma once
// The whole cluster as Redis holds it (registered nodes, the master and its epoch, every shard's lease holder and
// last published state), read in one round and rendered as the JSON that /status.json, the status page and
// `g-actor status` show. Every node can render it: the view does not depend on which node is asked.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace g::net {
class redis_connection;
}

namespace g::actors {

struct cluster_snapshot {
  bool ok = false;  // false: Redis did not answer
  std::string master;
  std::uint64_t epoch = 0;
  std::map<std::string, std::string> nodes;  // node id → registry JSON
  std::vector<std::string> owners;           // per shard: the lease holder ("" when none)
  std::map<int, std::string> status;         // shard → its last published state JSON
  std::int64_t entries_added = -1;           // events ever added to the stream
  int shard_count = 0;                       // the set in force (`shard_count`; 0 when unset)
  int reshard_to = 0;                        // a reshard prepares this many shards (0: none)
  std::int64_t reshard_started_ms = 0;
  std::optional<std::vector<std::string>> connected;  // nodes with a connection to Redis (unknown: no CLIENT LIST)
};

cluster_snapshot read_cluster(net::redis_connection& conn, const std::string& group, int shard_total);

struct view_context {
  std::string group;
  std::string serving_node;
  int shard_total = 0;
  std::int64_t now_ms = 0;
  double events_per_s = 0;
};

std::string render_cluster(const cluster_snapshot& snap, const view_context& ctx);

// Where a registered node listens for its peers (from its `nodes` entry).
std::optional<std::pair<std::string, std::uint16_t>> registry_address(const std::string& entry_json);

}  // namespace g::actors
