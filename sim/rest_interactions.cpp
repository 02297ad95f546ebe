// Application commands and interactions as g-fakecord serves them (Discord's interactions/application-commands and
// receiving-and-responding): commands stored per scope, an interaction's one callback within 3 s, its original
// response and follow-ups. POST /_fakecord/interaction makes the interactions (admin_api.cpp).
#include <simdjson.h>

#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/rest_route.hpp"

namespace g::sim {

namespace dom = simdjson::dom;

namespace {

// --- application commands -------------------------------------------------------------------------------------

http_reply unknown_command() { return discord_error(404, 10063, "Unknown application command"); }

// The scope of a commands route: "" global, else the guild id; nullopt (with the error) for another application.
std::optional<std::string> command_scope(rest_call& c, http_reply& error) {
  auto app = discord::parse_snowflake(c.params[0]);
  if (!app || *app != c.fc.data().application_id()) {
    error = discord_error(404, 10002, "Unknown Application");
    return std::nullopt;
  }
  if (c.params.size() < 2 || c.req.target.find("/guilds/") == std::string_view::npos) return std::string();
  if (!find_guild(c.fc.data(), c.params[1], error)) return std::nullopt;
  return std::string(c.params[1]);
}

// A command as Discord returns it: what was sent, with the fields Discord adds.
std::optional<application_command> read_command(std::string_view json, const std::string& scope, http_reply& error) {
  static thread_local dom::parser parser;
  dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o) != simdjson::SUCCESS) {
    error = discord_error(400, 50109, "The request body contains invalid JSON.");
    return std::nullopt;
  }
  std::string_view name;
  if (o["name"].get_string().get(name) != simdjson::SUCCESS || name.empty() || name.size() > 32) {
    error = form_error("name", "BASE_TYPE_REQUIRED", "This field is required");
    return std::nullopt;
  }
  std::int64_t type = 1;
  if (o["type"].get_int64().get(type) != simdjson::SUCCESS) type = 1;
  application_command cmd;
  cmd.name = std::string(name);
  cmd.type = static_cast<int>(type);
  cmd.guild_id = scope;
  std::string out;
  json::writer w(out);
  w.begin_object();
  for (auto f : o)
    if (f.key != "id" && f.key != "application_id" && f.key != "version" && f.key != "guild_id" && f.key != "type")
      w.raw_field(f.key, simdjson::minify(f.value));
  if (o["description"].get_string().get(name) != simdjson::SUCCESS) w.field("description", "");
  w.end_object();
  cmd.fields = out;  // without the fields Discord sets; write_command adds them
  return cmd;
}

http_reply write_commands(rest_call& c, const std::vector<const application_command*>& list, bool array, int status = 200) {
  http_reply r;
  r.status = status;
  json::writer w(r.body);
  if (array) w.begin_array();
  for (const auto* cmd : list) write_command(w, c.fc.data(), *cmd);
  if (array) w.end_array();
  return r;
}

http_reply list_commands(rest_call& c) {
  http_reply r;
  auto scope = command_scope(c, r);
  if (!scope) return r;
  return write_commands(c, c.fc.commands().in_scope(*scope), true);
}

http_reply create_command(rest_call& c) {
  http_reply r;
  auto scope = command_scope(c, r);
  if (!scope) return r;
  auto cmd = read_command(c.req.body, *scope, r);
  if (!cmd) return r;
  // Upsert by name and type: 201 when new, 200 when it replaced one (Discord's Create Application Command).
  auto [stored, created] = c.fc.commands().upsert(std::move(*cmd), [&] { return c.fc.new_snowflake(wall_ms(c.fc)); });
  return write_commands(c, {stored}, false, created ? 201 : 200);
}

http_reply overwrite_commands(rest_call& c) {
  http_reply r;
  auto scope = command_scope(c, r);
  if (!scope) return r;
  static thread_local dom::parser parser;
  dom::array items;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get_array().get(items) != simdjson::SUCCESS)
    return discord_error(400, 50109, "The request body contains invalid JSON.");
  std::vector<std::string> bodies;
  for (auto item : items) bodies.push_back(simdjson::minify(item));
  std::vector<application_command> next;
  for (const auto& b : bodies) {
    auto cmd = read_command(b, *scope, r);
    if (!cmd) return r;
    next.push_back(std::move(*cmd));
  }
  c.fc.commands().overwrite(*scope, std::move(next), [&] { return c.fc.new_snowflake(wall_ms(c.fc)); });
  return write_commands(c, c.fc.commands().in_scope(*scope), true);
}

http_reply get_command(rest_call& c) {
  http_reply r;
  auto scope = command_scope(c, r);
  if (!scope) return r;
  const application_command* cmd = c.fc.commands().find(*scope, discord::parse_snowflake(c.params.back()).value_or(0));
  if (!cmd) return unknown_command();
  return write_commands(c, {cmd}, false);
}

http_reply delete_command(rest_call& c) {
  http_reply r;
  auto scope = command_scope(c, r);
  if (!scope) return r;
  if (!c.fc.commands().erase(*scope, discord::parse_snowflake(c.params.back()).value_or(0))) return unknown_command();
  return no_content();
}

// --- interactions ------------------------------------------------------------------------------------------------

constexpr millis respond_within_ms = 3000;         // the first response (Discord: 3 seconds)
constexpr millis token_lifetime_ms = 15 * 60000;   // follow-ups and the original response (15 minutes)

http_reply unknown_interaction() { return discord_error(404, 10062, "Unknown interaction"); }

// The interaction a callback or webhook route names, if its token is right and still valid for that use.
interaction_record* interaction_for(rest_call& c, std::string_view id_text, std::string_view token, http_reply& error) {
  auto id = discord::parse_snowflake(id_text);
  interaction_record* it = id ? c.fc.interactions().find(*id) : nullptr;
  if (!it || it->token != token) {
    error = unknown_interaction();
    return nullptr;
  }
  return it;
}

interaction_record* interaction_by_token(rest_call& c, std::string_view app, std::string_view token, http_reply& error) {
  interaction_record* it = c.fc.interactions().by_token(token);
  if (!it || discord::parse_snowflake(app) != c.fc.data().application_id()) {
    error = discord_error(404, 10015, "Unknown Webhook");
    return nullptr;
  }
  if (c.now - it->created > token_lifetime_ms) {
    error = discord_error(401, 50027, "Invalid Webhook Token");
    return nullptr;
  }
  return it;
}

// A message an interaction produces: the bot's, type 20 for the response, with the interaction's metadata.
stored_message interaction_message(rest_call& c, const interaction_record& it, int type) {
  stored_message m;
  m.id = c.fc.new_snowflake(wall_ms(c.fc));
  m.channel_id = it.channel_id;
  m.guild_id = it.guild_id;
  m.timestamp_ms = wall_ms(c.fc);
  m.type = type;
  m.webhook_id = c.fc.data().application_id();
  std::string meta;
  json::writer w(meta);
  w.begin_object().id_field("id", it.id).field("type", it.type).key("user").begin_object().id_field("id", it.user_id)
      .end_object().key("authorizing_integration_owners").begin_object().id_field("0", it.guild_id).end_object()
      .end_object();
  m.interaction_metadata = meta;
  return m;
}

http_reply callback(rest_call& c) {
  http_reply r;
  interaction_record* it = interaction_for(c, c.params[0], c.params[1], r);
  if (!it) return r;
  if (c.now - it->created > respond_within_ms) return unknown_interaction();  // the token was invalidated
  if (it->responded) return discord_error(400, 40060, "Interaction has already been acknowledged.");
  static thread_local dom::parser parser;
  dom::element body;
  std::int64_t type = 0;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get(body) != simdjson::SUCCESS ||
      body["type"].get_int64().get(type) != simdjson::SUCCESS)
    return form_error("type", "BASE_TYPE_REQUIRED", "This field is required");
  dom::element data;
  std::string data_json = body["data"].get(data) == simdjson::SUCCESS ? simdjson::minify(data) : std::string("{}");
  const bool component = it->type == 3;
  switch (type) {
    case 4: {  // CHANNEL_MESSAGE_WITH_SOURCE
      stored_message m = interaction_message(c, *it, it->type == 2 ? 20 : 0);
      if (auto err = read_message_fields(data_json, m, true)) return *err;
      it->original_id = m.id;
      c.fc.messages().put(m);
      dispatch_message(c.fc, "MESSAGE_CREATE", m);
      break;
    }
    case 5:  // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the original response comes with the first edit
      it->deferred = true;
      break;
    case 6:  // DEFERRED_UPDATE_MESSAGE (components)
    case 7:  // UPDATE_MESSAGE (components): the component's message changes
      if (!component) return form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type");
      if (type == 7)
        if (stored_message* m = c.fc.messages().find(it->channel_id, it->message_id))
          if (auto err = edit_stored_message(c.fc, *m, data_json)) return *err;
      break;
    case 9:  // MODAL: not for a modal submit
      if (it->type == 5) return form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type");
      break;
    default:
      return form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type");
  }
  it->responded = true;
  it->response_type = static_cast<int>(type);
  return no_content();
}

stored_message* original_of(rest_call& c, const interaction_record& it) {
  return it.original_id ? c.fc.messages().find(it.channel_id, it.original_id) : nullptr;
}

http_reply unknown_message() { return discord_error(404, 10008, "Unknown Message"); }

http_reply get_original(rest_call& c) {
  http_reply r;
  interaction_record* it = interaction_by_token(c, c.params[0], c.params[1], r);
  if (!it) return r;
  stored_message* m = original_of(c, *it);
  return m ? message_reply(c.fc, *m) : unknown_message();
}

http_reply edit_original(rest_call& c) {
  http_reply r;
  interaction_record* it = interaction_by_token(c, c.params[0], c.params[1], r);
  if (!it) return r;
  stored_message* m = original_of(c, *it);
  if (!m && it->deferred) {  // the deferred response is created by its first edit
    stored_message created = interaction_message(c, *it, 20);
    if (auto err = read_message_fields(c.req.body, created, true)) return *err;
    it->original_id = created.id;
    c.fc.messages().put(created);
    dispatch_message(c.fc, "MESSAGE_CREATE", created);
    return message_reply(c.fc, created);
  }
  if (!m) return unknown_message();
  if (auto err = edit_stored_message(c.fc, *m, c.req.body)) return *err;
  return message_reply(c.fc, *m);
}

http_reply delete_original(rest_call& c) {
  http_reply r;
  interaction_record* it = interaction_by_token(c, c.params[0], c.params[1], r);
  if (!it) return r;
  stored_message* m = original_of(c, *it);
  if (!m) return unknown_message();
  delete_stored_message(c.fc, *m);
  it->original_id = 0;
  return no_content();
}

// Execute Webhook for a channel webhook: a message authored by the webhook; with ?wait=true the message, else 204.
http_reply execute_channel_webhook(rest_call& c, webhook_record& hook) {
  if (c.params[1] != hook.token) return discord_error(401, 50027, "Invalid Webhook Token");
  stored_message m;
  if (auto err = read_message_fields(c.req.body, m, true)) return *err;
  static thread_local dom::parser parser;
  dom::element body;
  std::string_view username = hook.name;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get(body) == simdjson::SUCCESS)
    if (body["username"].get_string().get(username) != simdjson::SUCCESS) username = hook.name;
  m.id = c.fc.new_snowflake(wall_ms(c.fc));
  m.channel_id = hook.channel_id;
  m.guild_id = hook.guild_id;
  m.timestamp_ms = wall_ms(c.fc);
  m.webhook_id = hook.id;
  std::string author;
  json::writer a(author);
  a.begin_object().id_field("id", hook.id).field("username", username).null_field("avatar").field("discriminator", "0000")
      .field("bot", true).end_object();
  m.author = author;
  c.fc.messages().put(m);
  dispatch_message(c.fc, "MESSAGE_CREATE", m);
  return query_value(c.query, "wait") == "true" ? message_reply(c.fc, m) : no_content();
}

// Create Webhook: a channel webhook of the bot's application, with its token.
http_reply create_webhook(rest_call& c) {
  channel_at at;
  if (!find_channel(c.fc.data(), c.params[0], at)) return discord_error(404, 10003, "Unknown Channel");
  static thread_local dom::parser parser;
  dom::element body;
  std::string_view name;
  if (parser.parse(c.req.body.data(), c.req.body.size()).get(body) != simdjson::SUCCESS ||
      body["name"].get_string().get(name) != simdjson::SUCCESS || name.empty() || name.size() > 80)
    return form_error("name", "BASE_TYPE_REQUIRED", "This field is required");
  webhook_record hook;
  hook.id = c.fc.new_snowflake(wall_ms(c.fc));
  hook.channel_id = at.channel->id;
  hook.guild_id = c.fc.data().guild_id(at.guild);
  hook.token = c.fc.new_hex_id() + c.fc.new_hex_id();
  hook.name = std::string(name);
  c.fc.webhooks()[hook.id] = hook;
  http_reply r;
  json::writer w(r.body);
  w.begin_object().id_field("id", hook.id).field("type", 1).id_field("guild_id", hook.guild_id)
      .id_field("channel_id", hook.channel_id).field("name", hook.name).null_field("avatar").field("token", hook.token)
      .id_field("application_id", c.fc.data().application_id()).key("user");
  c.fc.data().write_bot_user(w);
  w.end_object();
  return r;
}

// A follow-up (Execute Webhook with an interaction's token: a new message, returned as with ?wait=true), or
// Execute Webhook for a channel webhook.
http_reply followup(rest_call& c) {
  http_reply r;
  if (auto id = discord::parse_snowflake(c.params[0]); id && *id != c.fc.data().application_id()) {
    auto hook = c.fc.webhooks().find(*id);
    if (hook == c.fc.webhooks().end()) return discord_error(404, 10015, "Unknown Webhook");
    return execute_channel_webhook(c, hook->second);
  }
  interaction_record* it = interaction_by_token(c, c.params[0], c.params[1], r);
  if (!it) return r;
  if (!it->responded) return unknown_interaction();
  stored_message m = interaction_message(c, *it, 0);
  if (auto err = read_message_fields(c.req.body, m, true)) return *err;
  c.fc.messages().put(m);
  dispatch_message(c.fc, "MESSAGE_CREATE", m);
  return message_reply(c.fc, m);
}

// Interaction endpoints are not bound by the global limit (Discord's rate limits topic); webhooks' limits apply.
constexpr route_limit interaction_limit{"interactions", 50, 1000, false};
constexpr route_limit webhook_limit{"webhooks", 5, 2000, false};
constexpr route_limit commands_limit{"applications/commands", 50, 1000, true};

}  // namespace

std::vector<rest_route> interaction_routes() {
  return {
      {"GET", "/applications/{application.id}/commands", commands_limit, list_commands},
      {"POST", "/applications/{application.id}/commands", commands_limit, create_command},
      {"PUT", "/applications/{application.id}/commands", commands_limit, overwrite_commands},
      {"GET", "/applications/{application.id}/commands/{command.id}", commands_limit, get_command},
      {"DELETE", "/applications/{application.id}/commands/{command.id}", commands_limit, delete_command},
      {"GET", "/applications/{application.id}/guilds/{guild.id}/commands", commands_limit, list_commands},
      {"POST", "/applications/{application.id}/guilds/{guild.id}/commands", commands_limit, create_command},
      {"PUT", "/applications/{application.id}/guilds/{guild.id}/commands", commands_limit, overwrite_commands},
      {"GET", "/applications/{application.id}/guilds/{guild.id}/commands/{command.id}", commands_limit, get_command},
      {"DELETE", "/applications/{application.id}/guilds/{guild.id}/commands/{command.id}", commands_limit, delete_command},
      {"POST", "/interactions/{interaction.id}/{interaction.token}/callback", interaction_limit, callback},
      {"GET", "/webhooks/{application.id}/{interaction.token}/messages/@original", webhook_limit, get_original},
      {"PATCH", "/webhooks/{application.id}/{interaction.token}/messages/@original", webhook_limit, edit_original},
      {"DELETE", "/webhooks/{application.id}/{interaction.token}/messages/@original", webhook_limit, delete_original},
      {"POST", "/webhooks/{webhook.id}/{webhook.token}", webhook_limit, followup},
      {"POST", "/channels/{channel.id}/webhooks", {"channels/webhooks", 15, 60000, true}, create_webhook},
  };
}

}  // namespace g::sim
