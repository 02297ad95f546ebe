#include "sim/message_store.hpp"

#include <algorithm>

#include "net/discord/timestamp.hpp"
#include "net/json/json_writer.hpp"
#include "sim/world.hpp"

namespace g::sim {

void message_store::put(stored_message m) {
  auto& q = by_channel_[m.channel_id];
  q.push_back(std::move(m));
  if (q.size() > per_channel) q.pop_front();
}

stored_message* message_store::find(std::uint64_t channel_id, std::uint64_t id) {
  auto it = by_channel_.find(channel_id);
  if (it == by_channel_.end()) return nullptr;
  for (auto& m : it->second)
    if (m.id == id) return &m;
  return nullptr;
}

bool message_store::erase(std::uint64_t channel_id, std::uint64_t id) {
  auto it = by_channel_.find(channel_id);
  if (it == by_channel_.end()) return false;
  auto& q = it->second;
  auto m = std::find_if(q.begin(), q.end(), [&](auto& x) { return x.id == id; });
  if (m == q.end()) return false;
  q.erase(m);
  return true;
}

std::vector<const stored_message*> message_store::list(std::uint64_t channel_id, int limit, std::uint64_t before,
                                                       std::uint64_t after) const {
  std::vector<const stored_message*> out;
  auto it = by_channel_.find(channel_id);
  if (it == by_channel_.end()) return out;
  for (auto m = it->second.rbegin(); m != it->second.rend() && static_cast<int>(out.size()) < limit; ++m) {
    if (before && m->id >= before) continue;
    if (after && m->id <= after) continue;
    out.push_back(&*m);
  }
  return out;
}

void write_stored_message(json::writer& w, const world& wd, const stored_message& m, bool for_gateway) {
  if (!m.raw.empty()) {
    w.raw(m.raw);
    return;
  }
  w.begin_object().id_field("id", m.id).field("type", m.type).id_field("channel_id", m.channel_id);
  if (for_gateway && m.guild_id) w.id_field("guild_id", m.guild_id);
  w.key("author");
  if (m.author.empty()) wd.write_bot_user(w);
  else w.raw(m.author);
  if (for_gateway && m.guild_id && m.author.empty()) {
    if (auto g = wd.guild_index(m.guild_id)) {
      w.key("member");
      wd.write_member(w, wd.bot_member(*g), false);
    }
  }
  w.field("content", m.content)
      .field("timestamp", discord::iso8601(m.timestamp_ms));
  if (m.edited_ms) w.field("edited_timestamp", discord::iso8601(m.edited_ms));
  else w.null_field("edited_timestamp");
  w.field("tts", m.tts)
      .field("mention_everyone", false)
      .key("mentions").begin_array().end_array()
      .key("mention_roles").begin_array().end_array()
      .key("attachments").begin_array().end_array()
      .raw_field("embeds", m.embeds)
      .raw_field("components", m.components)
      .field("pinned", false)
      .field("flags", m.flags);
  if (!m.nonce.empty()) w.raw_field("nonce", m.nonce);
  if (!m.message_reference.empty()) w.raw_field("message_reference", m.message_reference);
  if (m.webhook_id) w.id_field("webhook_id", m.webhook_id).id_field("application_id", m.webhook_id);
  if (!m.interaction_metadata.empty()) w.raw_field("interaction_metadata", m.interaction_metadata);
  w.end_object();
}

}  // namespace g::sim
