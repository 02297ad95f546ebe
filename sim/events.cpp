#include "sim/events.hpp"

#include "net/discord/timestamp.hpp"
#include "net/json/json_writer.hpp"
#include "sim/world.hpp"

namespace g::sim {

void write_message_fields(json::writer& w, const world& wd, const message_spec& m,
                          const std::function<bool(std::string_view)>& skip) {
  auto want = [&](std::string_view key) {
    if (skip && skip(key)) return false;
    w.key(key);
    return true;
  };
  if (want("id")) w.id(m.id);
  if (want("channel_id")) w.id(m.channel_id);
  if (want("guild_id")) w.id(wd.guild_id(m.guild));
  if (want("author")) {
    if (m.author) wd.write_user(w, *m.author);
    else wd.write_owner_user(w);
  }
  if (want("member")) {
    if (m.author) {
      wd.write_member(w, *m.author, false);
    } else {
      w.begin_object().key("roles").begin_array().end_array().field("joined_at", discord::iso8601(m.unix_ms - 86400000))
          .field("deaf", false).field("mute", false).field("flags", 0).end_object();
    }
  }
  if (want("content")) w.value(m.content);
  if (want("timestamp")) w.value(discord::iso8601(m.unix_ms));
  if (want("edited_timestamp")) w.null();
  if (want("tts")) w.value(false);
  if (want("mention_everyone")) w.value(false);
  if (want("mentions")) w.begin_array().end_array();
  if (want("mention_roles")) w.begin_array().end_array();
  if (want("attachments")) w.begin_array().end_array();
  if (want("embeds")) w.begin_array().end_array();
  if (want("components")) w.begin_array().end_array();
  if (want("pinned")) w.value(false);
  if (want("type")) w.value(0);
  if (want("flags")) w.value(0);
  if (want("channel_type")) w.value(0);
  if (!m.nonce.empty() && want("nonce")) w.value(m.nonce);
}

}  // namespace g::sim
