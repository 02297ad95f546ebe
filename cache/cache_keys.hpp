#pragma once
// The cache standard's keys (docs/cache.md is the specification), drawn once:
//
//   g:<group>:cache:version                      "1"
//   g:<group>:cache:me                           the bot user
//   g:<group>:cache:application                  READY's application object (id, flags)
//   g:<group>:cache:guilds                       hash  guild id → shard id
//   g:<group>:cache:guild:<gid>                  the guild object without its arrays
//   g:<group>:cache:guild:<gid>:channels         hash  channel id → channel (with guild_id)
//                              :threads          hash  thread id → thread channel, active threads only
//                              :roles            hash  role id → role
//                              :members          hash  user id → member (with user)
//                              :emojis :stickers hash  id → object
//                              :voice_states     hash  user id → voice state (with guild_id, without member)
//                              :presences        hash  user id → presence (without guild_id), when enabled
//   g:<group>:cache:channel:<cid>                guild id of a channel or thread
//   g:<group>:cache:applied                      hash  shard → "session_id:seq" applied through
//   g:<group>:cache:applied_id                   hash  shard → stream id of the last entry applied (g-cache's own)
//   g:<group>:cache:shard:<id>:guilds            set   the guilds of a shard (g-cache's own: READY's replacement)
#include <string>
#include <string_view>

namespace g::cache {

struct cache_keys {
  explicit cache_keys(const std::string& group) : prefix("g:" + group + ":") {}
  std::string prefix;

  std::string events() const { return prefix + "events"; }
  std::string version() const { return prefix + "cache:version"; }
  std::string me() const { return prefix + "cache:me"; }
  std::string application() const { return prefix + "cache:application"; }
  std::string guilds() const { return prefix + "cache:guilds"; }
  std::string guild(std::string_view gid) const { return prefix + "cache:guild:" + std::string(gid); }
  std::string guild_hash(std::string_view gid, std::string_view what) const {
    return guild(gid) + ":" + std::string(what);
  }
  std::string channel(std::string_view cid) const { return prefix + "cache:channel:" + std::string(cid); }
  std::string applied() const { return prefix + "cache:applied"; }
  std::string applied_id() const { return prefix + "cache:applied_id"; }
  std::string shard_guilds(int shard) const { return prefix + "cache:shard:" + std::to_string(shard) + ":guilds"; }
};

inline constexpr std::string_view cache_version = "1";

}  // namespace g::cache
