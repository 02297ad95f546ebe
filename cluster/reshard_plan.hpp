#pragma once
// Whether and to what a reshard goes, as pure functions: the master asks /gateway/bot, then decides here.
//
// Discord's rules (gateway docs, "Sharding" and "Sharding for Large Bots"): a shard with more than 2,500 guilds is
// closed with 4011, so the recommended count is what to grow to; bots with a max_concurrency above 1 ("large
// bots") must use a multiple of it (4010 otherwise), so counts are rounded up to one. Every shard of the new set
// IDENTIFYs once, so the daily session budget, minus the reserve the node keeps for emergencies, must cover them.
#include <cstdint>
#include <string>

namespace g::cluster {

// What a switch did (the master's machine logs it): the marker's stream id and what became of the held events.
struct reshard_switch {
  std::string marker_id;
  std::int64_t appended = 0, skipped = 0, left_out = 0;
  int not_ready = -1;  // refused because this shard of the new set has no lease holder or no session yet
};

struct reshard_input {
  int requested = 0;        // 0: "auto", the recommended count
  int current = 0;          // the set in force
  int preparing = 0;        // a reshard to this many is under way (0: none)
  int recommended = 0;      // /gateway/bot `shards`
  int max_concurrency = 1;  // /gateway/bot session_start_limit.max_concurrency
  int sessions_left = 0;    // session_start_limit.remaining
  int reserve = 0;          // [discord] session_reserve
};

struct reshard_decision {
  int to = 0;             // 0: refused
  std::string reason;     // why refused, or what was decided (the count was rounded up, say)
};

reshard_decision plan_reshard(const reshard_input& in);

// The `[discord] reshard = "auto"` policy: the count to reshard to when the recommended count (rounded up for
// large bots) outgrows the current one by more than `margin` (0.25: by a quarter), else 0.
int auto_reshard_target(int current, int recommended, int max_concurrency, double margin);

}  // namespace g::cluster
