#pragma once
// Which stream entries of its shard a bot's proxy session receives, decided from the session's record alone, so a
// RESUME (possibly on another proxy node) counts exactly the entries the first connection counted:
//  - READY and RESUMED are G's own sessions' (the bot has its proxy session's READY);
//  - an event whose intent the bot did not ask for is left out, as Discord would not send it;
//  - GUILD_MEMBERS_CHUNK (and RATE_LIMITED, its refusal) with a nonce goes only to the session whose request carried
//    that nonce (on Discord only the requesting session gets them); without a nonce they go to every session.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace g::proxy {

class event_gate {
 public:
  // The newest requests are remembered: more than two minutes of them at the 120-per-60-s limit, so a chunk is never
  // dropped for an evicted nonce while its answer can still be in flight, nor counted differently on a replay.
  static constexpr std::size_t max_nonces = 256;

  // `bot_intents`: what the bot identified with; `stream_intents`: G's own ([discord] intents), which bound what the
  // stream can hold at all.
  event_gate(std::uint64_t bot_intents, std::uint64_t stream_intents)
      : intents_(bot_intents), stream_intents_(stream_intents) {}

  bool passes(std::string_view t, std::string_view d) const;

  void add_nonce(std::string nonce);
  const std::vector<std::string>& nonces() const { return nonces_; }
  std::uint64_t intents() const { return intents_; }

 private:
  std::uint64_t intents_, stream_intents_;
  std::vector<std::string> nonces_;
};

}  // namespace g::proxy
