#pragma once
// The events stream as its readers see it (g-cache, the proxy): one entry per dispatch, with the fields G's commit
// writes (`shard`, `seq`, `t`, `d`, `prev`; `node` and `ts` are not needed by readers), and the order of stream ids.
#include <optional>
#include <string>
#include <vector>

#include "net/redis/redis_connection.hpp"

namespace g::net {

struct stream_entry {
  std::string id;  // the stream entry id
  int shard = 0;
  std::int64_t seq = 0;
  std::string t, d;
  std::string prev;  // the id of the shard's previous entry ("0-0": none)
};

// Stream ids compare as (milliseconds, sequence); "0-0" is before every entry.
int compare_stream_ids(const std::string& a, const std::string& b);

// The entries of an XRANGE reply, or (nested) of XREAD/XREADGROUP's [[stream, entries]]. nullopt with `error` set
// when the reply is a Redis error; entries deleted meanwhile (XREADGROUP's nil bodies) are left out.
std::optional<std::vector<stream_entry>> parse_stream_entries(const redis_reply& r, bool nested, std::string& error);

}  // namespace g::net
