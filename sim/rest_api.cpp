// Discord's REST API as g-fakecord serves it: a table of routes (Discord's paths, methods and rate limit buckets),
// Discord's JSON errors, the X-RateLimit headers on every limited route, and a record of every call for tests.
// The routes' shapes and codes follow Discord's documentation (resources/message, channel, guild; topics/rate-limits,
// opcodes-and-status-codes); where it is silent, docs/fakecord.md says what the simulator does.
#include <simdjson.h>

#include <charconv>
#include <functional>

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/rest_route.hpp"

namespace g::sim {

namespace dom = simdjson::dom;

http_reply discord_error(int status, int code, std::string_view message) {
  http_reply r;
  r.status = status;
  json::writer w(r.body);
  w.begin_object().field("message", message).field("code", code).end_object();
  return r;
}

http_reply form_error(std::string_view field, std::string_view code, std::string_view message) {
  http_reply r;
  r.status = 400;
  json::writer w(r.body);
  w.begin_object().field("message", "Invalid Form Body").field("code", 50035).key("errors").begin_object().key(field)
      .begin_object().key("_errors").begin_array().begin_object().field("code", code).field("message", message)
      .end_object().end_array().end_object().end_object().end_object();
  return r;
}

http_reply no_content() {
  http_reply r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::string_view query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (part.rfind(key, 0) == 0 && part.size() > key.size() && part[key.size()] == '=') return part.substr(key.size() + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::int64_t wall_ms(const fakecord& fc) { return fc.wall_clock_us ? fc.wall_clock_us() / 1000 : 0; }

bool find_channel(const world& wd, std::string_view id_text, channel_at& out) {
  auto id = discord::parse_snowflake(id_text);
  std::optional<int> g = id ? wd.guild_of_channel(*id) : std::nullopt;
  if (!g || !wd.bot_in(*g)) return false;
  const guild_state& st = wd.view(*g, out.scratch, false);  // the channel points into it, or into the scratch
  for (const auto* list : {&st.channels, &st.threads})
    for (const auto& c : *list)
      if (c.id == *id) {
        out.guild = *g;
        out.channel = &c;
        return true;
      }
  return false;
}

std::optional<int> find_guild(const world& wd, std::string_view id_text, http_reply& error) {
  auto id = discord::parse_snowflake(id_text);
  std::optional<int> g = id ? wd.guild_index(*id) : std::nullopt;
  if (!g) {
    error = discord_error(404, 10004, "Unknown Guild");
    return std::nullopt;
  }
  if (!wd.bot_in(*g)) {
    error = discord_error(403, 50001, "Missing Access");
    return std::nullopt;
  }
  return g;
}

void dispatch_message(fakecord& fc, std::string_view t, const stored_message& m) {
  std::string d;
  json::writer w(d);
  write_stored_message(w, fc.data(), m, true);
  // A message the app sends always carries its content (Discord's message content intent exceptions); an ephemeral
  // one reaches nobody but the user, who is not a session here.
  if (m.flags & 64) return;
  // A DM (no guild) goes to shard 0, to sessions with DIRECT_MESSAGES (Discord's sharding rule).
  fc.dispatch_guild_event(m.guild_id, t, d, m.guild_id ? discord::intent::guild_messages : discord::intent::direct_messages);
}

http_reply message_reply(fakecord& fc, const stored_message& m) {
  http_reply r;
  json::writer w(r.body);
  write_stored_message(w, fc.data(), m, false);
  return r;
}

std::optional<http_reply> edit_stored_message(fakecord& fc, stored_message& m, std::string_view json) {
  stored_message edited = m;
  if (auto err = read_message_fields(json, edited, false)) return err;
  edited.edited_ms = wall_ms(fc);
  m = std::move(edited);
  dispatch_message(fc, "MESSAGE_UPDATE", m);
  return std::nullopt;
}

void delete_stored_message(fakecord& fc, const stored_message& m) {
  std::string d;
  json::writer w(d);
  w.begin_object().id_field("id", m.id).id_field("channel_id", m.channel_id);
  if (m.guild_id) w.id_field("guild_id", m.guild_id);
  w.end_object();
  const std::uint64_t gid = m.guild_id;
  fc.messages().erase(m.channel_id, m.id);  // `m` is gone from here on
  fc.dispatch_guild_event(gid, "MESSAGE_DELETE", d, gid ? discord::intent::guild_messages : discord::intent::direct_messages);
}

namespace {

http_reply unknown_channel() { return discord_error(404, 10003, "Unknown Channel"); }
http_reply unknown_message() { return discord_error(404, 10008, "Unknown Message"); }

// --- messages --------------------------------------------------------------------------------------------------


}  // namespace

std::optional<http_reply> read_message_fields(std::string_view json, stored_message& m, bool creating) {
  static thread_local dom::parser parser;
  dom::element body;
  if (parser.parse(json.data(), json.size()).get(body) != simdjson::SUCCESS || !body.is_object())
    return discord_error(400, 50109, "The request body contains invalid JSON.");
  bool any = false;
  std::string_view content;
  if (body["content"].get_string().get(content) == simdjson::SUCCESS) {
    if (content.size() > 2000)  // characters, in Discord's count; bytes here
      return form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
    m.content = std::string(content);
    any |= !content.empty();
  }
  dom::array arr;
  if (body["embeds"].get_array().get(arr) == simdjson::SUCCESS) {
    m.embeds = simdjson::minify(arr);
    any |= arr.size() > 0;
  }
  if (body["components"].get_array().get(arr) == simdjson::SUCCESS) {
    m.components = simdjson::minify(arr);
    any |= arr.size() > 0;
  }
  bool tts = false;
  if (body["tts"].get_bool().get(tts) == simdjson::SUCCESS) m.tts = tts;
  std::int64_t flags = 0;
  if (body["flags"].get_int64().get(flags) == simdjson::SUCCESS) m.flags = static_cast<int>(flags);
  if (creating) {
    dom::element nonce, reference;
    if (body["nonce"].get(nonce) == simdjson::SUCCESS && !nonce.is_null()) m.nonce = simdjson::minify(nonce);
    if (body["message_reference"].get(reference) == simdjson::SUCCESS && reference.is_object()) {
      m.message_reference = simdjson::minify(reference);
      m.type = 19;  // a reply
      any = any || body["sticker_ids"].get_array().get(arr) == simdjson::SUCCESS;
    }
    if (!any) return discord_error(400, 50006, "Cannot send an empty message");
  }
  return std::nullopt;
}

namespace {

// A DM channel the bot opened (Create DM): its id, or 0.
std::uint64_t dm_channel(rest_call& c, std::string_view id_text) {
  auto id = discord::parse_snowflake(id_text);
  return id && c.fc.dm_recipient(*id) ? *id : 0;
}

http_reply create_message(rest_call& c) {
  channel_at at;
  const std::uint64_t dm = dm_channel(c, c.params[0]);
  if (!dm && !find_channel(c.fc.data(), c.params[0], at)) return unknown_channel();
  if (!dm && at.channel->type == 2) return discord_error(400, 50008, "Cannot send messages in a non-text channel");
  static thread_local dom::parser parser;
  stored_message m;
  if (auto err = read_message_fields(c.req.body, m, true)) return *err;
  const std::int64_t now = wall_ms(c.fc);
  m.id = c.fc.new_snowflake(now);
  m.channel_id = dm ? dm : at.channel->id;
  m.guild_id = dm ? 0 : c.fc.data().guild_id(at.guild);
  m.timestamp_ms = now;
  if (!m.message_reference.empty()) {
    // The replied-to message must exist unless fail_if_not_exists is false (Discord's Message Reference).
    // Snowflakes may come as strings or numbers (discord.py sends numbers).
    dom::element ref;
    std::string_view ref_text;
    std::uint64_t ref_number = 0;
    std::optional<std::uint64_t> rid;
    bool fail = true;
    if (parser.parse(m.message_reference).get(ref) == simdjson::SUCCESS) {
      if (ref["message_id"].get_string().get(ref_text) == simdjson::SUCCESS) rid = discord::parse_snowflake(ref_text);
      else if (ref["message_id"].get_uint64().get(ref_number) == simdjson::SUCCESS) rid = ref_number;
      if (ref["fail_if_not_exists"].get_bool().get(fail) != simdjson::SUCCESS) fail = true;
    }
    if (fail && (!rid || !c.fc.messages().find(m.channel_id, *rid)))
      return form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message");
  }
  c.fc.messages().put(m);
  dispatch_message(c.fc, "MESSAGE_CREATE", m);
  return message_reply(c.fc, m);
}

stored_message* message_at(rest_call& c, http_reply& error) {
  channel_at at;
  std::uint64_t channel = dm_channel(c, c.params[0]);
  if (!channel && find_channel(c.fc.data(), c.params[0], at)) channel = at.channel->id;
  if (!channel) {
    error = unknown_channel();
    return nullptr;
  }
  auto id = discord::parse_snowflake(c.params[1]);
  stored_message* m = id ? c.fc.messages().find(channel, *id) : nullptr;
  if (!m) error = unknown_message();
  return m;
}

http_reply get_message(rest_call& c) {
  http_reply r;
  stored_message* m = message_at(c, r);
  return m ? message_reply(c.fc, *m) : r;
}

http_reply edit_message(rest_call& c) {
  http_reply r;
  stored_message* m = message_at(c, r);
  if (!m) return r;
  if (auto err = edit_stored_message(c.fc, *m, c.req.body)) return *err;
  return message_reply(c.fc, *m);
}

http_reply delete_message(rest_call& c) {
  http_reply r;
  stored_message* m = message_at(c, r);
  if (!m) return r;
  delete_stored_message(c.fc, *m);
  return no_content();
}

http_reply list_messages(rest_call& c) {
  channel_at at;
  if (!find_channel(c.fc.data(), c.params[0], at)) return unknown_channel();
  int limit = 50;
  std::string_view lt = query_value(c.query, "limit");
  if (!lt.empty()) {
    auto [p, ec] = std::from_chars(lt.data(), lt.data() + lt.size(), limit);
    if (ec != std::errc{} || limit < 1 || limit > 100)
      return form_error("limit", "NUMBER_TYPE_MAX", "int value should be less than or equal to 100.");
  }
  auto before = discord::parse_snowflake(query_value(c.query, "before")).value_or(0);
  auto after = discord::parse_snowflake(query_value(c.query, "after")).value_or(0);
  http_reply r;
  json::writer w(r.body);
  w.begin_array();
  for (const stored_message* m : c.fc.messages().list(at.channel->id, limit, before, after))
    write_stored_message(w, c.fc.data(), *m, false);
  w.end_array();
  return r;
}

http_reply typing(rest_call& c) {
  channel_at at;
  if (!find_channel(c.fc.data(), c.params[0], at)) return unknown_channel();
  const world& wd = c.fc.data();
  std::string d;
  json::writer w(d);
  w.begin_object().id_field("channel_id", at.channel->id).id_field("guild_id", wd.guild_id(at.guild))
      .id_field("user_id", wd.bot_id()).field("timestamp", wall_ms(c.fc) / 1000).key("member");
  wd.write_member(w, wd.bot_member(at.guild));
  w.end_object();
  c.fc.dispatch_guild_event(wd.guild_id(at.guild), "TYPING_START", d, discord::intent::guild_message_typing);
  return no_content();
}

// Reactions: the bot's own, on a message the simulator has (the emoji as in the path: "👍" URL-encoded, or
// name:id for a custom one).
http_reply react(rest_call& c, bool add) {
  http_reply r;
  stored_message* m = message_at(c, r);
  if (!m) return r;
  std::string emoji;  // %XX decoded
  for (std::size_t i = 0; i < c.params[2].size(); ++i) {
    char ch = c.params[2][i];
    if (ch == '%' && i + 2 < c.params[2].size()) {
      emoji += static_cast<char>(std::stoi(std::string(c.params[2].substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      emoji += ch;
    }
  }
  if (emoji.empty()) return discord_error(400, 10014, "Unknown Emoji");
  const world& wd = c.fc.data();
  std::string d;
  json::writer w(d);
  w.begin_object().id_field("user_id", wd.bot_id()).id_field("channel_id", m->channel_id).id_field("message_id", m->id);
  if (m->guild_id) {
    w.id_field("guild_id", m->guild_id);
    if (add)
      if (auto g = wd.guild_index(m->guild_id)) {
        w.key("member");
        wd.write_member(w, wd.bot_member(*g));
      }
  }
  w.key("emoji").begin_object();
  if (auto colon = emoji.find(':'); colon != std::string::npos)
    w.field("id", emoji.substr(colon + 1)).field("name", emoji.substr(0, colon));
  else
    w.null_field("id").field("name", emoji);
  w.end_object().field("burst", false).field("type", 0).end_object();
  c.fc.dispatch_guild_event(m->guild_id, add ? "MESSAGE_REACTION_ADD" : "MESSAGE_REACTION_REMOVE", d,
                            m->guild_id ? discord::intent::guild_message_reactions : discord::intent::direct_message_reactions);
  return no_content();
}

http_reply add_reaction(rest_call& c) { return react(c, true); }
http_reply remove_reaction(rest_call& c) { return react(c, false); }

// Bulk Delete Messages: 2 to 100 ids, none older than two weeks (50016, 50034); ids the simulator does not have
// count toward the limits, as on Discord.
http_reply bulk_delete(rest_call& c) {
  channel_at at;
  if (!find_channel(c.fc.data(), c.params[0], at)) return unknown_channel();
  static thread_local dom::parser parser;
  dom::array ids;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get_object()["messages"].get_array().get(ids) != simdjson::SUCCESS)
    return form_error("messages", "BASE_TYPE_REQUIRED", "This field is required");
  if (ids.size() < 2 || ids.size() > 100)
    return discord_error(400, 50016, "Provided too few or too many messages to delete. Must provide at least 2 and at most 100 messages to delete.");
  const std::int64_t two_weeks_ago = wall_ms(c.fc) - 14LL * 86400000;
  std::vector<std::uint64_t> found;
  for (auto e : ids) {
    std::string_view text;
    std::optional<std::uint64_t> id;
    if (e.get_string().get(text) == simdjson::SUCCESS) id = discord::parse_snowflake(text);
    if (!id) return form_error("messages", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
    if (static_cast<std::int64_t>(discord::snowflake_time_ms(*id)) < two_weeks_ago)
      return discord_error(400, 50034, "You can only bulk delete messages that are under 14 days old.");
    found.push_back(*id);
  }
  const std::uint64_t gid = c.fc.data().guild_id(at.guild);
  std::string d;
  json::writer w(d);
  w.begin_object().key("ids").begin_array();
  for (auto id : found) {
    w.id(id);
    c.fc.messages().erase(at.channel->id, id);
  }
  w.end_array().id_field("channel_id", at.channel->id).id_field("guild_id", gid).end_object();
  c.fc.dispatch_guild_event(gid, "MESSAGE_DELETE_BULK", d, discord::intent::guild_messages);
  return no_content();
}

// Create DM: the DM channel with a user of one of the bot's guilds (the same one each time).
http_reply create_dm(rest_call& c) {
  static thread_local dom::parser parser;
  dom::element body;
  std::string_view rid_text;
  std::uint64_t rid_number = 0;
  std::optional<std::uint64_t> rid;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get(body) == simdjson::SUCCESS) {
    if (body["recipient_id"].get_string().get(rid_text) == simdjson::SUCCESS) rid = discord::parse_snowflake(rid_text);
    else if (body["recipient_id"].get_uint64().get(rid_number) == simdjson::SUCCESS) rid = rid_number;
  }
  if (!rid) return form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required");
  const world& wd = c.fc.data();
  std::optional<member_state> user;
  for (int g = 0; g < wd.guild_count() && !user; ++g)
    if (wd.bot_in(g)) user = wd.find_member(g, *rid);
  if (!user || user->bot) return discord_error(404, 10013, "Unknown User");
  const std::uint64_t id = c.fc.open_dm(*rid, [&] { return c.fc.new_snowflake(wall_ms(c.fc)); });
  http_reply r;
  json::writer w(r.body);
  w.begin_object().id_field("id", id).field("type", 1).null_field("last_message_id").field("flags", 0).key("recipients")
      .begin_array();
  wd.write_user(w, *user);
  w.end_array().end_object();
  return r;
}

// --- channels and guilds -----------------------------------------------------------------------------------------

http_reply get_channel(rest_call& c) {
  channel_at at;
  if (!find_channel(c.fc.data(), c.params[0], at)) return unknown_channel();
  http_reply r;
  json::writer w(r.body);
  c.fc.data().write_channel(w, *at.channel, c.fc.data().guild_id(at.guild));
  return r;
}

http_reply get_guild(rest_call& c) {
  http_reply r;
  auto g = find_guild(c.fc.data(), c.params[0], r);
  if (!g) return r;
  const world& wd = c.fc.data();
  guild_state scratch;
  const guild_state& st = wd.view(*g, scratch, false);
  json::writer w(r.body);
  w.begin_object();
  wd.write_guild_fields(w, *g, st);
  if (query_value(c.query, "with_counts") == "true")
    w.field("approximate_member_count", wd.member_count(*g)).field("approximate_presence_count", wd.member_count(*g));
  w.end_object();
  return r;
}

http_reply get_guild_channels(rest_call& c) {
  http_reply r;
  auto g = find_guild(c.fc.data(), c.params[0], r);
  if (!g) return r;
  guild_state scratch;
  const world& wd = c.fc.data();
  json::writer w(r.body);
  w.begin_array();
  for (const auto& ch : wd.view(*g, scratch, false).channels) wd.write_channel(w, ch, wd.guild_id(*g));
  w.end_array();
  return r;
}

http_reply get_guild_roles(rest_call& c) {
  http_reply r;
  auto g = find_guild(c.fc.data(), c.params[0], r);
  if (!g) return r;
  guild_state scratch;
  json::writer w(r.body);
  w.begin_array();
  for (const auto& role : c.fc.data().view(*g, scratch, false).roles) c.fc.data().write_role(w, role);
  w.end_array();
  return r;
}

http_reply get_guild_member(rest_call& c) {
  http_reply r;
  auto g = find_guild(c.fc.data(), c.params[0], r);
  if (!g) return r;
  auto uid = discord::parse_snowflake(c.params[1]);
  auto m = uid ? c.fc.data().find_member(*g, *uid) : std::nullopt;
  if (!m) return discord_error(404, 10007, "Unknown Member");
  json::writer w(r.body);
  c.fc.data().write_member(w, *m);
  return r;
}

// --- what clients call at start ---------------------------------------------------------------------------------

http_reply gateway(rest_call& c) {
  http_reply r;
  json::writer w(r.body);
  w.begin_object().field("url", c.fc.gateway_url()).end_object();
  return r;
}

http_reply gateway_bot(rest_call& c) {
  http_reply r;
  json::writer w(r.body);
  auto& b = c.fc.budget();
  w.begin_object()
      .field("url", c.fc.gateway_url())
      .field("shards", c.fc.opts().recommended_shards())
      .key("session_start_limit")
      .begin_object()
      .field("total", b.total())
      .field("remaining", b.remaining(c.now))
      .field("reset_after", b.reset_after(c.now))
      .field("max_concurrency", c.fc.identify().max_concurrency())
      .end_object()
      .end_object();
  return r;
}

http_reply users_me(rest_call& c) {
  http_reply r;
  json::writer w(r.body);
  c.fc.data().write_bot_user(w);
  return r;
}

http_reply application_me(rest_call& c) {
  const world& wd = c.fc.data();
  http_reply r;
  json::writer w(r.body);
  w.begin_object()
      .id_field("id", wd.application_id())
      .field("name", wd.bot_name())
      .null_field("icon")
      .field("description", "")
      .field("summary", "")
      .field("bot_public", true)
      .field("bot_require_code_grant", false)
      .field("verify_key", "0f2c3e5d7a9b1c4e6f8a0b2d4c6e8f0a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e")
      .field("flags", 41975808)
      .null_field("team")
      .key("owner");
  wd.write_owner_user(w);
  w.key("bot");
  wd.write_bot_user(w);
  w.end_object();
  return r;
}

// Discord's limits per route are not documented and change; these are the simulator's, in Discord's shape. A
// library must read the headers, as it must against Discord.
constexpr route_limit reads{"reads", 50, 1000, true};
constexpr route_limit message_writes{"channels/messages:write", 5, 5000, true};

}  // namespace

std::vector<rest_route> message_routes() {
  return {
      {"GET", "/gateway", {"gateway", 50, 1000, false}, gateway},
      {"GET", "/gateway/bot", {"gateway/bot", 50, 1000, true}, gateway_bot},
      {"GET", "/users/@me", reads, users_me},
      {"GET", "/oauth2/applications/@me", reads, application_me},
      {"POST", "/channels/{channel.id}/messages", {"channels/messages:create", 5, 5000, true}, create_message},
      {"GET", "/channels/{channel.id}/messages", reads, list_messages},
      {"GET", "/channels/{channel.id}/messages/{message.id}", reads, get_message},
      {"PATCH", "/channels/{channel.id}/messages/{message.id}", message_writes, edit_message},
      {"DELETE", "/channels/{channel.id}/messages/{message.id}", message_writes, delete_message},
      {"POST", "/channels/{channel.id}/typing", {"channels/typing", 5, 5000, true}, typing},
      {"POST", "/channels/{channel.id}/messages/bulk-delete", {"channels/messages:bulk", 1, 1000, true}, bulk_delete},
      {"PUT", "/channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me", {"reactions", 1, 250, true}, add_reaction},
      {"DELETE", "/channels/{channel.id}/messages/{message.id}/reactions/{emoji}/@me", {"reactions", 1, 250, true}, remove_reaction},
      {"POST", "/users/@me/channels", reads, create_dm},
      {"GET", "/channels/{channel.id}", reads, get_channel},
      {"GET", "/guilds/{guild.id}", reads, get_guild},
      {"GET", "/guilds/{guild.id}/channels", reads, get_guild_channels},
      {"GET", "/guilds/{guild.id}/roles", reads, get_guild_roles},
      {"GET", "/guilds/{guild.id}/members/{user.id}", reads, get_guild_member},
  };
}

namespace {

bool authorized(const fakecord& fc, std::string_view auth) {
  if (auth.rfind("Bot ", 0) != 0) return false;
  auth.remove_prefix(4);
  return !auth.empty() && (fc.opts().token.empty() || auth == fc.opts().token);
}

const std::vector<rest_route>& routes() {
  static const std::vector<rest_route> table = [] {
    std::vector<rest_route> all = message_routes();
    for (auto& r : interaction_routes()) all.push_back(std::move(r));
    return all;
  }();
  return table;
}

// The route whose pattern matches `path` segment by segment ({…} matches one segment), its parameters filled.
const rest_route* match(std::string_view path, std::string_view method, std::vector<std::string_view>& params,
                        bool& other_method) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> parts;
    while (!s.empty()) {
      if (s.front() == '/') s.remove_prefix(1);
      auto slash = s.find('/');
      parts.push_back(s.substr(0, slash));
      if (slash == std::string_view::npos) break;
      s.remove_prefix(slash);
    }
    return parts;
  };
  const auto parts = split(path);
  other_method = false;
  for (const auto& route : routes()) {
    auto pattern = split(route.pattern);
    if (pattern.size() != parts.size()) continue;
    std::vector<std::string_view> found;
    bool ok = true;
    for (std::size_t i = 0; ok && i < parts.size(); ++i) {
      if (pattern[i].front() == '{') found.push_back(parts[i]);
      else ok = pattern[i] == parts[i];
    }
    if (!ok) continue;
    if (route.method != method) {
      other_method = true;
      continue;
    }
    params = std::move(found);
    return &route;
  }
  return nullptr;
}

}  // namespace

http_reply handle_http(fakecord& fc, const http_request_view& req, millis now) {
  std::string_view path = req.target.substr(0, req.target.find('?'));
  for (std::string_view prefix : {"/api/v10", "/api/v9", "/api"}) {
    if (path.rfind(prefix, 0) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/'))
      return handle_rest(fc, req, path.substr(prefix.size()), now);
  }
  if (path.rfind("/_fakecord/", 0) == 0) return handle_admin(fc, req, path.substr(11), now);
  return discord_error(404, 0, "404: Not Found");
}

http_reply handle_rest(fakecord& fc, const http_request_view& req, std::string_view path, millis now) {
  std::vector<std::string_view> params;
  bool other_method = false;
  const rest_route* route = match(path, req.method, params, other_method);
  auto answer = [&](http_reply r) {
    fc.record_rest_call({std::string(req.method), route ? std::string(route->pattern) : std::string(path), std::string(path),
                         std::string(req.body.substr(0, 4096)), r.status, now});
    return r;
  };
  if (!route) return answer(other_method ? discord_error(405, 0, "405: Method Not Allowed") : discord_error(404, 0, "404: Not Found"));
  if (auto& f = fc.pending_rest_fault(); f.count > 0) {
    --f.count;
    if (f.status == 429) {
      http_reply r;
      r.status = 429;
      json::writer w(r.body);
      w.begin_object().field("message", "You are being rate limited.").field("retry_after", f.retry_after)
          .field("global", false).end_object();
      r.headers = {{"Retry-After", std::to_string(static_cast<long long>(f.retry_after + 0.999))}, {"X-RateLimit-Scope", "user"}};
      return answer(r);
    }
    return answer(discord_error(f.status, 0, std::to_string(f.status) + ": injected failure"));
  }
  // Interaction callbacks and webhooks carry their own token in the path; Discord needs no bot token for them.
  const bool token_in_path = route->pattern.rfind("/interactions/", 0) == 0 || route->pattern.rfind("/webhooks/", 0) == 0;
  if (route->pattern != "/gateway" && !token_in_path && !authorized(fc, req.authorization))
    return answer(discord_error(401, 0, "401: Unauthorized"));
  // The top-level resource a bucket is counted per: the first id of a /channels, /guilds or /webhooks path.
  // (A webhook's is its id and token: an interaction's follow-ups are counted per interaction.)
  std::string resource = params.empty() || route->pattern.rfind("/users", 0) == 0 ? std::string() : std::string(params[0]);
  if (route->pattern.rfind("/webhooks/", 0) == 0 && params.size() > 1) resource += "/" + std::string(params[1]);
  rate_decision limit = fc.rest_limits().take(route->limit, resource, now, wall_ms(fc));
  if (!limit.allowed) {
    http_reply r;
    r.status = 429;
    json::writer w(r.body);
    w.begin_object().field("message", "You are being rate limited.").field("retry_after", limit.retry_after)
        .field("global", limit.global).end_object();
    r.headers = std::move(limit.headers);
    return answer(r);
  }
  rest_call call{fc, req, std::move(params), req.target.find('?') == std::string_view::npos ? std::string_view{}
                                                                                            : req.target.substr(req.target.find('?') + 1),
                 now};
  http_reply r = route->handler(call);
  r.headers.insert(r.headers.end(), limit.headers.begin(), limit.headers.end());
  return answer(std::move(r));
}

}  // namespace g::sim
