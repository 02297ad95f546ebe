#pragma once
// Backend commands for the shards a node runs, read from their `commands:<id>` streams in one XREAD for all of
// them (a poll per shard cost a Redis round trip per shard five times a second, most of an idle node's CPU with a
// thousand shards). What is read is deleted: each command is handled once, sent or rejected with a reason.
#include <map>
#include <set>
#include <string>
#include <vector>

namespace g::net {
class redis_connection;
}

namespace g::actors {

struct command {
  std::string stream_id;
  int op = -1;     // -1: missing or not a number (check_command rejects it)
  std::string d;
};

// At most `per_shard` commands of each shard, oldest first; empty when there are none or Redis is down.
std::map<int, std::vector<command>> take_commands(net::redis_connection& conn, const std::string& group,
                                                  const std::set<int>& shards, int per_shard = 100);

}  // namespace g::actors
