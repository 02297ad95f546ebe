#pragma once
// `g-actor status` talks to a node actor in two requests: `status` → "<node id>:<challenge>", then
// `status, client id, challenge, proof` → the cluster view JSON, or `status_denied`. The proof is the same
// HMAC over the cookie that nodes use between themselves, so the cookie never travels.
#include <caf/atom.hpp>

#include <cstdint>
#include <deque>
#include <string>

#include "net/peer_auth.hpp"

namespace g::actors {

using status_atom = caf::atom_constant<caf::atom("status")>;
inline const std::string status_denied = "DENIED";

// Challenges handed out and not yet redeemed: each is good once, for a short while, and only a few are kept so
// that nobody can make a node hoard them.
class status_challenges {
 public:
  static constexpr std::int64_t lifetime_ms = 10000;
  static constexpr std::size_t kept = 32;

  std::string issue(std::int64_t now_ms) {
    issued_.push_back({net::make_challenge(), now_ms + lifetime_ms});
    if (issued_.size() > kept) issued_.pop_front();
    return issued_.back().value;
  }
  bool redeem(const std::string& challenge, std::int64_t now_ms) {
    for (auto it = issued_.begin(); it != issued_.end(); ++it) {
      if (it->value != challenge) continue;
      bool fresh = it->expires_ms >= now_ms;
      issued_.erase(it);
      return fresh;
    }
    return false;
  }

 private:
  struct entry {
    std::string value;
    std::int64_t expires_ms;
  };
  std::deque<entry> issued_;
};

}  // namespace g::actors
