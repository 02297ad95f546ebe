#pragma once
// Trimming the event stream without losing what consumers have not read (docs/operators.md, "Consumer protection").
//
// Every node runs trim_stream once a second; the script is atomic, so whichever node comes first trims and the
// others find nothing to do. The stream is cut back towards `maxlen`, but never past an entry a protected consumer
// group has not read or has read and not acknowledged — until the stream reaches `hard`: beyond it trimming goes on
// (Redis must not run out of memory), and what each group loses is counted and reported.
#include <cstdint>
#include <string>
#include <vector>

#include "net/redis/redis_connection.hpp"
#include "net/redis/store_result.hpp"

namespace g::net {

struct trim_policy {
  std::uint64_t maxlen = 1'000'000;
  std::uint64_t hard = 2'000'000;
  bool every_group = true;           // protect every consumer group …
  std::vector<std::string> groups;   // … or only these (every_group false; empty: none)
};

struct consumer_group_state {
  std::string name;
  std::int64_t lag = -1;        // entries not yet delivered to the group (-1: Redis cannot tell)
  std::int64_t pending = 0;     // delivered, not acknowledged
  bool is_protected = false;
  std::int64_t unread_trimmed = 0;   // in this call: entries trimmed the group had not read (-1: some, Redis cannot tell how many) …
  std::int64_t pending_trimmed = 0;  // … or had read and not acknowledged
};

struct trim_report {
  std::int64_t length = 0;      // after the call
  std::int64_t trimmed = 0;     // entries this call removed
  std::string held_by;          // a protected group that keeps the stream above maxlen ("" when none does)
  bool over_hard = false;       // the hard cap cut entries a protected group still needed
  std::vector<consumer_group_state> groups;
};

// unavailable: Redis did not answer, or answered what this G cannot read.
store_result<trim_report> trim_stream(redis_connection& redis, const std::string& events_key, const trim_policy& policy);

}  // namespace g::net
