#include "proxy/event_gate.hpp"

#include <simdjson.h>

#include <algorithm>

#include "net/discord/intents.hpp"

namespace g::proxy {

namespace intent = discord::intent;

std::string top_level_string(std::string_view json, std::string_view name, bool* present) {
  static thread_local simdjson::dom::parser parser;
  if (present) *present = false;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) return {};
  simdjson::dom::element field;
  if (doc[name].get(field) != simdjson::SUCCESS) return {};
  if (present) *present = !field.is_null();
  std::string_view s;
  if (field.get_string().get(s) != simdjson::SUCCESS) return {};
  return std::string(s);
}

namespace {

std::string meta_nonce(std::string_view d) {
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view nonce;
  if (parser.parse(d.data(), d.size()).get(doc) != simdjson::SUCCESS ||
      doc["meta"]["nonce"].get_string().get(nonce) != simdjson::SUCCESS)
    return {};
  return std::string(nonce);
}

}  // namespace

bool event_gate::passes(std::string_view t, std::string_view d) const {
  if (t == "READY" || t == "RESUMED") return false;
  if (t == "GUILD_MEMBERS_CHUNK" || t == "RATE_LIMITED") {
    // RATE_LIMITED answers a request too (op 8 over its limit); its nonce is in `meta`.
    std::string nonce = t == "RATE_LIMITED" ? meta_nonce(d) : top_level_string(d, "nonce");
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
  top_level_string(d, "guild_id", &has_guild);
  return has_guild ? wants_guild : wants_dm;
}

void event_gate::add_nonce(std::string nonce) {
  if (nonce.empty() || std::find(nonces_.begin(), nonces_.end(), nonce) != nonces_.end()) return;
  if (nonces_.size() >= max_nonces) nonces_.erase(nonces_.begin());
  nonces_.push_back(std::move(nonce));
}

}  // namespace g::proxy
