#pragma once
// The challenges `g-actor status` must answer, without state an unauthenticated caller can fill: a challenge is
// "<expiry ms>.<random>.<mac>", the mac an HMAC over the cookie, so issuing one keeps nothing and a flood of
// requests cannot push an operator's challenge out (as a fixed-size list of issued challenges could). Only
// challenges redeemed with a valid proof are remembered, until they expire, so each is good once.
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <string>

#include "net/peer_auth.hpp"

namespace g::net {

class status_challenges {
 public:
  static constexpr std::int64_t lifetime_ms = 10000;

  // `now_ms` is a wall or steady clock in milliseconds; the same clock must be used for redeem().
  std::string issue(const std::string& cookie, std::int64_t now_ms) const {
    std::string body = std::to_string(now_ms + lifetime_ms) + "." + make_challenge();
    return body + "." + prove(cookie, body, 0, 0);
  }

  // True once per challenge this node issued, while fresh. Call it only after the caller's proof was verified, so
  // that what is remembered is bounded by what holders of the cookie ask for.
  bool redeem(const std::string& cookie, const std::string& challenge, std::int64_t now_ms) {
    auto dot = challenge.rfind('.');
    if (dot == std::string::npos || dot == 0) return false;
    std::string body = challenge.substr(0, dot);
    if (!verify(cookie, body, 0, 0, challenge.substr(dot + 1))) return false;
    std::int64_t expires = std::atoll(body.c_str());
    if (expires < now_ms) return false;
    for (auto it = redeemed_.begin(); it != redeemed_.end();)  // forget what has expired anyway
      it = it->second < now_ms ? redeemed_.erase(it) : std::next(it);
    return redeemed_.emplace(body, expires).second;
  }

 private:
  std::map<std::string, std::int64_t> redeemed_;  // body → expiry
};

}  // namespace g::net
