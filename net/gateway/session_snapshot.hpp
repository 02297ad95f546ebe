#pragma once
// The dispatches that open a session describe state, not changes: READY, then a GUILD_CREATE for each guild READY
// listed as unavailable. A shard set prepared by a reshard leaves them out of what it holds (the stream already has
// every change since, through the set in force); this tells them apart.
#include <cstdint>
#include <string_view>
#include <unordered_set>

namespace g::net {

class session_snapshot {
 public:
  // True for READY and for the first GUILD_CREATE of each guild READY listed. `guild_id` is the frame scanner's.
  bool opens_session(std::string_view t, std::string_view d, std::uint64_t guild_id);
  // Since READY, every guild it listed has had its GUILD_CREATE: the session is complete.
  bool opened() const { return ready_seen_ && awaited_.empty(); }

 private:
  std::unordered_set<std::uint64_t> awaited_;  // listed in READY, GUILD_CREATE not seen yet
  bool ready_seen_ = false;
};

}  // namespace g::net
