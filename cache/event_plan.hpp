#pragma once
// What one stream entry does to the cache standard, decided without I/O: prepare() parses the event and says
// which current values it needs (a merge needs the stored object); plan() takes those values and returns the
// writes, as ops that the apply script (cache_store) carries out atomically with `cache:applied`.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache_keys.hpp"
#include "net/redis/event_stream.hpp"

namespace g::cache {

struct cache_options {
  bool members = true, presences = false, voice_states = true, emojis = true;
};

using net::stream_entry;

struct read_request {
  enum kind { get, hget, hgetall, smembers } what = get;
  std::string key, field;
};

struct read_result {
  bool found = false;
  std::string value;                                        // get, hget
  std::vector<std::pair<std::string, std::string>> pairs;   // hgetall
  std::vector<std::string> members;                         // smembers
};

// Ops, flattened for the apply script: a code, then its arguments.
//   S key value | D key | H key field value | X key field | G gid (drop the guild) | C gid (clear its hashes and
//   channel pointers) | M gid shard (the guild belongs to that shard)
struct cache_plan {
  std::vector<std::string> ops;
  std::string session_id;  // set by READY: the applied marker moves to this session
  std::string problem;     // why the entry changed nothing it should have (bad JSON, say); empty if fine
};

class event_planner {
 public:
  event_planner(const cache_keys& keys, cache_options options);
  ~event_planner();

  // Parses the entry; the reads plan() needs (none for most events).
  std::vector<read_request> prepare(const stream_entry& e);
  // The writes, given the results of prepare()'s reads in the same order.
  cache_plan plan(std::vector<read_result> reads);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace g::cache
