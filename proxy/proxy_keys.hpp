#pragma once
// The proxy's own keys, beside G's (net/redis/shard_store.hpp) and the cache standard's (cache/cache_keys.hpp),
// drawn once. A bot's proxy session lives in Redis, not in the proxy's memory, so that any proxy node can resume it
// (after a restart of the node that served it, say):
//
//   g:<group>:proxy:session:<sid>        hash  shard, total, intents, nonces (member requests this session made,
//                                              space-separated), created; expires [proxy] resume_window after the
//                                              bot's socket went away
//   g:<group>:proxy:session:<sid>:marks  zset  score seq → "seq:entry-id": after counting seq, the session's cursor in
//                                              the events stream was entry-id. RESUME replays from the greatest mark
//                                              at or below the bot's seq, counting the same filtered entries again.
#include <string>

namespace g::proxy {

struct proxy_keys {
  explicit proxy_keys(const std::string& group) : prefix("g:" + group + ":") {}
  std::string prefix;
  std::string session(const std::string& sid) const { return prefix + "proxy:session:" + sid; }
  std::string marks(const std::string& sid) const { return session(sid) + ":marks"; }
};

}  // namespace g::proxy
