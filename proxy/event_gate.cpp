#include "proxy/event_gate.hpp"

#include <algorithm>

#include "net/discord/intents.hpp"
#include "proxy/json_peek.hpp"

namespace g::proxy {

namespace intent = discord::intent;

bool event_gate::passes(std::string_view t, std::string_view d) const {
  if (t == "READY" || t == "RESUMED") return false;
  if (t == "GUILD_MEMBERS_CHUNK" || t == "RATE_LIMITED") {
    // RATE_LIMITED answers a request too (op 8 over its limit); its nonce is in `meta`.
    std::string nonce = json_string_at(d, t == "RATE_LIMITED" ? "/meta/nonce" : "/nonce");
    return nonce.empty() || std::find(nonces_.begin(), nonces_.end(), nonce) != nonces_.end();
  }
  const std::uint64_t in_guild = intent::gating(t, true), in_dm = intent::gating(t, false);
  if (in_guild == in_dm) return in_guild == 0 || (intents_ & in_guild) != 0;
  const bool wants_guild = intents_ & in_guild, wants_dm = intents_ & in_dm;
  if (wants_guild == wants_dm) return wants_guild;
  // The bot wants one of the two. The stream holds the other kind only when G's own intents include it; only
  // then is the event looked into.
  if (!(stream_intents_ & (wants_guild ? in_dm : in_guild))) return true;
  bool has_guild = false;
  json_string_at(d, "/guild_id", &has_guild);
  return has_guild ? wants_guild : wants_dm;
}

void event_gate::add_nonce(std::string nonce) {
  if (nonce.empty() || std::find(nonces_.begin(), nonces_.end(), nonce) != nonces_.end()) return;
  if (nonces_.size() >= max_nonces) nonces_.erase(nonces_.begin());
  nonces_.push_back(std::move(nonce));
}

}  // namespace g::proxy
