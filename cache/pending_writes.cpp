#include "cache/pending_writes.hpp"

namespace g::cache {

void pending_writes::reset_guild(const std::string& gid, bool with_guild_object) {
  for (const char* h : {"channels", "threads", "roles", "members", "emojis", "stickers", "voice_states", "presences"}) {
    key_writes& k = at(keys_.guild_hash(gid, h));
    k = key_writes{};
    k.reset = true;
  }
  if (with_guild_object) {
    key_writes& k = at(keys_.guild(gid));
    k = key_writes{};
    k.reset = true;
  }
}

// Follows the op codes of event_plan.hpp.
void pending_writes::record(const cache_plan& plan) {
  const auto& o = plan.ops;
  for (std::size_t i = 0; i < o.size();) {
    const std::string& code = o[i];
    if (code == "S") {
      key_writes& k = at(o[i + 1]);
      k.reset = true;
      k.value = o[i + 2];
      i += 3;
    } else if (code == "D") {
      at(o[i + 1]) = key_writes{true, std::nullopt, {}};
      i += 2;
    } else if (code == "H") {
      at(o[i + 1]).fields[o[i + 2]] = o[i + 3];
      i += 4;
    } else if (code == "X") {
      at(o[i + 1]).fields[o[i + 2]] = std::nullopt;
      i += 3;
    } else if (code == "G" || code == "C") {
      reset_guild(o[i + 1], code == "G");
      sets_touched_ |= code == "G";
      i += 2;
    } else {  // M
      sets_touched_ = true;
      i += 3;
    }
  }
}

std::optional<read_result> pending_writes::resolve(const read_request& q, const read_result& before) const {
  if (q.what == read_request::smembers) {
    if (sets_touched_) return std::nullopt;
    return before;
  }
  auto it = keys_written_.find(q.key);
  if (it == keys_written_.end()) return before;
  const key_writes& k = it->second;
  read_result r;
  switch (q.what) {
    case read_request::get:
      r.found = k.value.has_value();
      if (r.found) r.value = *k.value;
      else if (!k.reset) r = before;
      return r;
    case read_request::hget: {
      auto f = k.fields.find(q.field);
      if (f != k.fields.end()) {
        r.found = f->second.has_value();
        if (r.found) r.value = *f->second;
        return r;
      }
      if (!k.reset) return before;
      return r;
    }
    case read_request::hgetall: {
      if (!k.reset)
        for (const auto& [field, value] : before.pairs)
          if (!k.fields.count(field)) r.pairs.emplace_back(field, value);
      for (const auto& [field, value] : k.fields)
        if (value) r.pairs.emplace_back(field, *value);
      r.found = !r.pairs.empty();
      return r;
    }
    case read_request::smembers: break;
  }
  return std::nullopt;
}

}  // namespace g::cache
