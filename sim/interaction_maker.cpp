// POST /_fakecord/interaction: a complete INTERACTION_CREATE, as Discord sends it (interactions/receiving-and-
// responding § Interaction Structure), for a slash command, a button or a modal submit in a guild channel, from a
// member; dispatched to the guild's shard (no intent gates it) and remembered with its token for the callback.
#include <simdjson.h>

#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/interaction_maker.hpp"

namespace g::sim {

namespace dom = simdjson::dom;

namespace {


std::string_view text(dom::element e, std::string_view key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? v : std::string_view{};
}

}  // namespace

http_reply make_interaction(fakecord& fc, const dom::element& body, millis now) {
  const world& wd = fc.data();
  const std::string_view kind = text(body, "kind");
  const int type = kind == "command" ? 2 : kind == "button" ? 3 : kind == "modal" ? 5 : 0;
  if (!type) return admin_error(400, "interaction needs \"kind\": command, button or modal");
  auto gid = discord::parse_snowflake(text(body, "guild_id"));
  std::optional<int> g = gid ? wd.guild_index(*gid) : std::nullopt;
  if (!g || !wd.bot_in(*g)) return admin_error(404, "no such guild, or the bot is not in it (\"guild_id\")");
  guild_state scratch;
  const guild_state& st = wd.view(*g, scratch);
  // The channel: the one named, else the guild's first text channel.
  const channel_state* channel = nullptr;
  auto cid = discord::parse_snowflake(text(body, "channel_id"));
  for (const auto& c : st.channels)
    if ((cid && c.id == *cid) || (!cid && c.type == 0 && !channel)) channel = &c;
  if (!channel) return admin_error(404, "no such channel in that guild (\"channel_id\")");
  // The member: the one named, else a person of the guild.
  std::optional<member_state> member;
  if (auto uid = discord::parse_snowflake(text(body, "user_id"))) member = wd.find_member(*g, *uid);
  else member = wd.some_member(*g, 0);
  if (!member) return admin_error(404, "no such member in that guild (\"user_id\")");

  interaction_record rec;
  rec.id = fc.new_snowflake(fc.wall_clock_us ? fc.wall_clock_us() / 1000 : 0);
  rec.token = "fakecord." + fc.new_hex_id() + fc.new_hex_id() + fc.new_hex_id();
  rec.type = type;
  rec.guild_id = *gid;
  rec.channel_id = channel->id;
  rec.user_id = member->user_id;
  rec.created = now;

  std::string d;
  json::writer w(d);
  w.begin_object().id_field("id", rec.id).id_field("application_id", wd.application_id()).field("type", type).key("data")
      .begin_object();
  if (type == 2) {
    std::string_view name = text(body, "name");
    if (name.empty()) return admin_error(400, "a command interaction needs \"name\"");
    // The registered command of that name (guild first, then global), or a made-up id for one never registered.
    const application_command* cmd = fc.commands().by_name(std::to_string(*gid), std::string(name));
    if (!cmd) cmd = fc.commands().by_name("", std::string(name));
    w.id_field("id", cmd ? cmd->id : rec.id - 1).field("name", name).field("type", 1);
    if (cmd && !cmd->guild_id.empty()) w.field("guild_id", cmd->guild_id);
    dom::array options;
    if (body["options"].get_array().get(options) == simdjson::SUCCESS) w.raw_field("options", simdjson::minify(options));
  } else {
    std::string_view custom_id = text(body, "custom_id");
    if (custom_id.empty()) return admin_error(400, "a button or modal interaction needs \"custom_id\"");
    w.field("custom_id", custom_id);
    if (type == 3) {
      w.field("component_type", 2);
    } else {
      // The modal's text inputs, from "fields": {"custom_id": "value", …}, as action rows of text inputs.
      w.key("components").begin_array();
      dom::object fields;
      if (body["fields"].get_object().get(fields) == simdjson::SUCCESS)
        for (auto f : fields) {
          std::string_view value;
          if (f.value.get_string().get(value) != simdjson::SUCCESS) return admin_error(400, "\"fields\" values must be strings");
          w.begin_object().field("type", 1).key("components").begin_array().begin_object().field("type", 4)
              .field("custom_id", f.key).field("value", value).end_object().end_array().end_object();
        }
      w.end_array();
    }
  }
  w.end_object();
  const std::string perms = std::to_string(wd.permissions(st, *gid, *member, channel));
  const std::string app_perms = std::to_string(wd.permissions(st, *gid, wd.bot_member(*g), channel));
  w.key("guild").begin_object().id_field("id", *gid).field("locale", "en-US").key("features").begin_array().end_array()
      .end_object().id_field("guild_id", *gid).key("channel");
  wd.write_channel(w, *channel, *gid);
  w.id_field("channel_id", channel->id).key("member");
  {
    std::string m;
    json::writer mw(m);
    wd.write_member(mw, *member);
    m.pop_back();  // the member object, with the permissions Discord adds in interactions
    w.raw(m + ",\"permissions\":\"" + perms + "\"}");
  }
  if (type == 3) {
    // The message the button is on: the one named, if the simulator has it.
    auto mid = discord::parse_snowflake(text(body, "message_id"));
    if (mid)
      if (const stored_message* m = fc.messages().find(channel->id, *mid)) {
        rec.message_id = *mid;
        w.key("message");
        write_stored_message(w, wd, *m, false);
      }
  }
  w.field("token", rec.token).field("version", 1).field("app_permissions", app_perms).field("locale", "en-US")
      .field("guild_locale", "en-US").key("entitlements").begin_array().end_array()
      .key("authorizing_integration_owners").begin_object().id_field("0", *gid).end_object()
      .field("context", 0).field("attachment_size_limit", 10485760).end_object();
  fc.interactions().add(rec);
  int delivered = fc.dispatch_guild_event(*gid, "INTERACTION_CREATE", d, 0);
  http_reply r;
  json::writer out(r.body);
  out.begin_object().id_field("id", rec.id).field("token", rec.token).field("delivered", delivered).end_object();
  return r;
}

}  // namespace g::sim
