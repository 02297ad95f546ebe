#include "sim/events.hpp"

#include <ctime>

#include "net/json/json_writer.hpp"
#include "sim/world.hpp"

namespace g::sim {

std::string iso8601(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

void write_message_fields(json::writer& w, const world& wd, const message_spec& m,
                          const std::function<bool(std::string_view)>& skip) {
  auto want = [&](std::string_view key) {
    if (skip && skip(key)) return false;
    w.key(key);
    return true;
  };
  if (want("id")) w.id(m.id);
  if (want("channel_id")) w.id(wd.text_channel_id(m.guild, m.channel));
  if (want("guild_id")) w.id(wd.guild_id(m.guild));
  if (want("author")) {
    if (m.author >= 0) wd.write_user(w, m.guild, m.author);
    else wd.write_owner_user(w);
  }
  if (want("member")) {
    if (m.author >= 0) {
      wd.write_member(w, m.guild, m.author, false);
    } else {
      w.begin_object().key("roles").begin_array().end_array().field("joined_at", iso8601(m.unix_ms - 86400000))
          .field("deaf", false).field("mute", false).field("flags", 0).end_object();
    }
  }
  if (want("content")) w.value(m.content);
  if (want("timestamp")) w.value(iso8601(m.unix_ms));
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
