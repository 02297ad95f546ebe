#pragma once
// A reshard in Redis: the new shard set is prepared beside the one in force and then switched to, once.
//
//   reshard          hash    from, to, started (ms), epoch: exists while a preparation runs
//   reshard:held     stream  the new set's events while it is prepared (fields as in `events`); never trimmed
//   reshard:seen     hash    SHA-1 of "t\nd" → its guild ("0": none), then when the set in force received each
//                            copy it wrote during the preparation (ms, space-separated); after the switch, the
//                            copies the new set may still commit, for 10 s
//   reshard:present  hash    guild → when the new set's session got its GUILD_CREATE ("0": shard 0's READY)
//   reshard:live     hash    new shard → the session it runs and receives events in now (gone while it
//                            reconnects or starts a new one): the switch waits for every shard of the new set
//   shard_count      string  the set in force; the switch moves it, and every commit of another set is refused
//
// The commit script (shard_store.cpp) routes each set's events; the switch below turns the held events into
// stream entries, leaving out those the stream already has.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/reshard_plan.hpp"
#include "net/redis/redis_connection.hpp"
#include "net/redis/shard_store.hpp"
#include "net/redis/store_result.hpp"

namespace g::net {

struct reshard_record {
  int from = 0, to = 0;
  std::int64_t started_ms = 0;
  std::uint64_t epoch = 0;
};

// What a reshard operation came to (store_result.hpp): done, refused by the state in Redis (lost, with the reason),
// or Redis did not answer. The switch's details ride along (cluster/reshard_plan.hpp).
using cluster::reshard_switch;
using reshard_result = store_result<reshard_switch>;

class reshard_store {
 public:
  reshard_store(redis_connection& redis, const std::string& group, std::string node_id);

  // Starts preparing `to` shards while `from` are in force (refused if another reshard runs, `from` is not in
  // force, or this node is not the master of `epoch`). Session records and leases left over from an earlier set of `to` shards are removed.
  [[nodiscard]] reshard_result begin(int from, int to, std::uint64_t epoch, std::int64_t now_ms);
  // The preparation under way, if any (ok with nothing when none).
  [[nodiscard]] store_result<std::optional<reshard_record>> current();
  // Only while this node is the master of `epoch` and every shard of the new set runs a session it stored and
  // receives in (`reshard:live`; a shard starting a new session after op 9 would miss events): writes the
  // marker entry, then the held events the stream lacks (a new session's READY and initial GUILD_CREATEs are not
  // held at all: the stream already has every change since), and moves `shard_count`. Atomic.
  [[nodiscard]] reshard_result switch_over(int to, std::uint64_t epoch, std::int64_t now_ms, std::uint64_t stream_maxlen);
  // Gives the preparation of `to` shards up (the set in force stays).
  [[nodiscard]] reshard_result abandon(int to);
  // A shard of the set being prepared runs `session_id` and receives its events now (empty: not at the moment).
  [[nodiscard]] store_result<> set_live(int id, const std::string& session_id);

 private:
  redis_connection& redis_;
  redis_keys keys_;
  std::string node_;
};

}  // namespace g::net
