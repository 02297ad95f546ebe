#pragma once
// Backend commands for the shards a node runs, read from their `commands:<id>` streams in one XREAD for all of
// them (a poll per shard cost a Redis round trip per shard five times a second, most of an idle node's CPU with a
// thousand shards). What is read is deleted: each command is handled once, sent or rejected with a reason.
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "net/gateway/command.hpp"

namespace g::net {
class redis_connection;
}

namespace g::actors {

struct node_env;

struct command {
  std::string stream_id;
  int op = -1;     // -1: missing or not a number (check_command rejects it)
  std::string d;
};

// At most `per_shard` commands of each shard, oldest first; empty when there are none or Redis is down.
std::map<int, std::vector<command>> take_commands(net::redis_connection& conn, const std::string& group,
                                                  const std::set<int>& shards, int per_shard = 100);

// One answer for each command on `command_results`: the command's shard (as its key names it) and stream id
// (ids are per stream: the pair names the command), `sent` or `rejected` with the reason (docs/workers.md lists
// them) and a detail, the node, the time. Capped at the newest ~100,000.
struct command_answer {
  std::string shard;
  std::string stream_id;
  std::string_view reason;  // "sent", or why not (net::result_name, or "unknown_shard")
  std::string detail;
};
void answer_commands(net::redis_connection& conn, const std::string& group, const std::string& node,
                     const std::vector<command_answer>& answers);

// What became of one command, answered from the Redis thread; a rejection is also counted and logged.
void answer_command(node_env* env, int shard, std::string stream_id, net::command_result r, std::string detail);

// Commands written to a shard that does not exist (commands:<id> with id >= shard_total, or not a number) are
// answered `unknown_shard` and deleted, not left lying. The master runs this. Returns how many.
std::size_t reject_unknown_shards(net::redis_connection& conn, const std::string& group, const std::string& node,
                                  int shard_total);

}  // namespace g::actors
