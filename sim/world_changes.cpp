#include "sim/world_changes.hpp"

#include <algorithm>

#include "net/discord/intents.hpp"
#include "net/discord/timestamp.hpp"
#include "net/json/json_writer.hpp"
#include "sim/fakecord.hpp"

namespace g::sim {

namespace {

namespace in = discord::intent;

// Permission bits used by generated overwrites and roles.
constexpr std::uint64_t view_channel = 1ULL << 10, send_messages = 1ULL << 11, manage_messages = 1ULL << 13,
                        attach_files = 1ULL << 15, connect = 1ULL << 20;

class change {
 public:
  change(fakecord& fc, int guild, std::uint64_t r, std::int64_t now_ms)
      : fc_(fc), w_(fc.mutable_data()), guild_(guild), gid_(w_.guild_id(guild)), r_(r), now_ms_(now_ms) {}

  std::string_view run(world_change kind) {
    switch (kind) {
      case world_change::member_add: return member_add();
      case world_change::member_remove: return member_remove();
      case world_change::member_update: return member_update();
      case world_change::channel_create: return channel_create();
      case world_change::channel_update: return channel_update();
      case world_change::channel_delete: return channel_delete();
      case world_change::thread_create: return thread_create();
      case world_change::thread_update: return thread_update();
      case world_change::thread_delete: return thread_delete();
      case world_change::role_create: return role_create();
      case world_change::role_update: return role_update();
      case world_change::role_delete: return role_delete();
      case world_change::guild_update: return guild_update();
      case world_change::voice_state: return voice_change();
      case world_change::bot_join: return bot_join();
      case world_change::bot_leave: return bot_leave();
    }
    return {};
  }

 private:
  std::uint64_t next() { return r_ = r_ * 6364136223846793005ULL + 1442695040888963407ULL, r_ >> 17; }
  guild_state& st() { return w_.edit(guild_); }

  std::string_view send(std::string_view t, std::uint64_t intents) {
    fc_.dispatch_guild_event(gid_, t, d_, intents);
    return t;
  }
  json::writer writer() {
    d_.clear();
    return json::writer(d_);
  }

  member_state* person() { return pick(st().members, next(), [](auto& m) { return !m.bot; }); }
  channel_state* text_channel() { return pick(st().channels, next(), [](auto& c) { return c.type == 0; }); }
  channel_state* thread() { return pick(st().threads, next(), [](auto&) { return true; }); }
  // A role other than @everyone and the bot's managed one.
  role_state* plain_role() { return pick(st().roles, next(), [&](auto& r) { return r.id != gid_ && !r.managed; }); }

  void write_member_event(const member_state& m) {
    // GUILD_MEMBER_ADD / UPDATE: the member object with guild_id.
    std::string member;
    json::writer mw(member);
    w_.write_member(mw, m);
    auto j = writer();
    j.begin_object().id_field("guild_id", gid_);
    d_ += ',';
    d_.append(member, 1, std::string::npos);
  }

  std::string_view member_add() {
    member_state m;
    m.user_id = w_.next_id();
    m.username = "newcomer_" + std::to_string(m.user_id % 1000000);
    m.joined_ms = now_ms_;
    st().add_member(m);
    write_member_event(m);
    return send("GUILD_MEMBER_ADD", in::guild_members);
  }

  std::string_view member_remove() {
    member_state* m = person();
    if (!m) return {};
    member_state gone = *m;
    leave_voice(gone.user_id);
    st().remove_member(gone.user_id);
    auto j = writer();
    j.begin_object().id_field("guild_id", gid_).key("user");
    w_.write_user(j, gone);
    j.end_object();
    return send("GUILD_MEMBER_REMOVE", in::guild_members);
  }

  std::string_view member_update() {
    member_state* m = person();
    if (!m) return {};
    if (next() % 2 == 0) {
      m->nick = m->nick.empty() ? "nick " + std::to_string(next() % 1000) : std::string{};
    } else if (role_state* role = plain_role()) {
      auto it = std::find(m->roles.begin(), m->roles.end(), role->id);
      if (it == m->roles.end()) m->roles.push_back(role->id);
      else m->roles.erase(it);
    }
    write_member_event(*m);
    return send("GUILD_MEMBER_UPDATE", in::guild_members);
  }

  void write_channel_event(const channel_state& c, std::string_view extra = {}) {
    auto j = writer();
    w_.write_channel(j, c, gid_);
    if (!extra.empty()) {
      d_.pop_back();
      d_ += extra;
      d_ += '}';
    }
  }

  std::string_view channel_create() {
    channel_state c;
    c.id = w_.next_id();
    c.type = 0;
    c.name = "channel-" + std::to_string(c.id % 100000);
    c.position = static_cast<int>(st().channels.size());
    // A private channel: hidden from @everyone, open to one role; often with a member overwrite too.
    c.overwrites.push_back({gid_, 0, 0, view_channel});
    if (role_state* role = plain_role()) c.overwrites.push_back({role->id, 0, view_channel | send_messages, 0});
    if (next() % 2 == 0)
      if (member_state* m = person()) c.overwrites.push_back({m->user_id, 1, view_channel, attach_files});
    st().channels.push_back(c);
    write_channel_event(c);
    return send("CHANNEL_CREATE", in::guilds);
  }

  std::string_view channel_update() {
    channel_state* c = text_channel();
    if (!c) return {};
    switch (next() % 3) {
      case 0: c->topic = c->topic.empty() ? "topic " + std::to_string(next() % 1000) : std::string{}; break;
      case 1: c->name = "renamed-" + std::to_string(next() % 1000); break;
      default:
        if (c->overwrites.empty()) c->overwrites.push_back({gid_, 0, 0, send_messages});
        else c->overwrites.pop_back();
    }
    write_channel_event(*c);
    return send("CHANNEL_UPDATE", in::guilds);
  }

  std::string_view channel_delete() {
    auto& cs = st().channels;
    std::size_t texts = static_cast<std::size_t>(std::count_if(cs.begin(), cs.end(), [](auto& c) { return c.type == 0; }));
    channel_state* c = text_channel();
    if (!c || texts < 2) return {};  // every guild keeps a text channel for generated messages
    channel_state gone = *c;
    erase_at(cs, c);
    // Its threads go with it; Discord sends no THREAD_DELETE for them.
    auto& ts = st().threads;
    ts.erase(std::remove_if(ts.begin(), ts.end(), [&](auto& t) { return t.parent_id == gone.id; }), ts.end());
    write_channel_event(gone);
    send("CHANNEL_DELETE", in::guilds);
    if (st().system_channel_id == gone.id) {
      // The guild's system channel is gone: the guild changes too.
      st().system_channel_id = 0;
      guild_update_event();
    }
    return "CHANNEL_DELETE";
  }

  std::string_view thread_create() {
    channel_state* parent = text_channel();
    member_state* owner = person();
    if (!parent || !owner) return {};
    channel_state t;
    t.id = w_.next_id();
    t.type = 11;
    t.name = "thread-" + std::to_string(t.id % 100000);
    t.parent_id = parent->id;
    t.owner_id = owner->user_id;
    t.member_count = 1;
    t.create_ms = now_ms_;
    st().threads.push_back(t);
    write_channel_event(t, ",\"newly_created\":true");
    return send("THREAD_CREATE", in::guilds);
  }

  std::string_view thread_update() {
    channel_state* t = thread();
    if (!t) return {};
    if (next() % 3 == 0) {
      // Archived: it leaves the active threads, which is all GUILD_CREATE lists.
      channel_state archived = *t;
      archived.archived = true;
      erase_at(st().threads, t);
      write_channel_event(archived);
    } else {
      t->name = "thread-renamed-" + std::to_string(next() % 1000);
      ++t->message_count;
      write_channel_event(*t);
    }
    return send("THREAD_UPDATE", in::guilds);
  }

  std::string_view thread_delete() {
    channel_state* t = thread();
    if (!t) return {};
    channel_state gone = *t;
    erase_at(st().threads, t);
    auto j = writer();
    j.begin_object().id_field("id", gone.id).id_field("guild_id", gid_).id_field("parent_id", gone.parent_id)
        .field("type", gone.type).end_object();
    return send("THREAD_DELETE", in::guilds);
  }

  void write_role_event(const role_state& r) {
    auto j = writer();
    j.begin_object().id_field("guild_id", gid_).key("role");
    w_.write_role(j, r);
    j.end_object();
  }

  std::string_view role_create() {
    role_state r;
    r.id = w_.next_id();
    r.name = "role-" + std::to_string(r.id % 100000);
    r.permissions = next() % 2 ? view_channel | send_messages : view_channel | manage_messages;
    r.position = static_cast<int>(st().roles.size());
    st().roles.push_back(r);
    write_role_event(r);
    return send("GUILD_ROLE_CREATE", in::guilds);
  }

  std::string_view role_update() {
    role_state* r = plain_role();
    if (!r) return {};
    switch (next() % 3) {
      case 0: r->color = static_cast<int>(next() % 0xFFFFFF); break;
      case 1: r->name = "role-renamed-" + std::to_string(next() % 1000); break;
      default: r->permissions ^= connect | attach_files;
    }
    write_role_event(*r);
    return send("GUILD_ROLE_UPDATE", in::guilds);
  }

  std::string_view role_delete() {
    role_state* r = plain_role();
    if (!r) return {};
    std::uint64_t id = r->id;
    erase_at(st().roles, r);
    // Members lose the role without a GUILD_MEMBER_UPDATE each (Discord documents none); channel overwrites may
    // still name it, as Discord's CHANNEL_UPDATE documentation warns.
    for (auto& m : st().members) m.roles.erase(std::remove(m.roles.begin(), m.roles.end(), id), m.roles.end());
    auto j = writer();
    j.begin_object().id_field("guild_id", gid_).id_field("role_id", id).end_object();
    return send("GUILD_ROLE_DELETE", in::guilds);
  }

  std::string_view guild_update() {
    switch (next() % 3) {
      case 0: st().name = w_.guild_name(guild_) + " (" + std::to_string(next() % 1000) + ")"; break;
      case 1: st().description = st().description.empty() ? "about guild " + std::to_string(guild_) : std::string{}; break;
      default: st().afk_timeout = st().afk_timeout == 300 ? 900 : 300;
    }
    return guild_update_event();
  }

  std::string_view guild_update_event() {
    auto j = writer();
    j.begin_object();
    w_.write_guild_fields(j, guild_, st());
    j.end_object();
    return send("GUILD_UPDATE", in::guilds);
  }

  void write_voice_event(const voice_state& v) {
    auto j = writer();
    w_.write_voice_state(j, gid_, v, true);
  }

  // The user leaves voice first when they leave the guild.
  void leave_voice(std::uint64_t user_id) {
    auto& vs = st().voice;
    auto it = std::find_if(vs.begin(), vs.end(), [&](auto& v) { return v.user_id == user_id; });
    if (it == vs.end()) return;
    voice_state left = *it;
    left.channel_id = 0;
    vs.erase(it);
    write_voice_event(left);
    send("VOICE_STATE_UPDATE", in::guild_voice_states);
  }

  std::string_view voice_change() {
    member_state* m = person();
    if (!m) return {};
    auto& vs = st().voice;
    auto it = std::find_if(vs.begin(), vs.end(), [&](auto& v) { return v.user_id == m->user_id; });
    if (it != vs.end()) {
      leave_voice(m->user_id);
      return "VOICE_STATE_UPDATE";
    }
    std::uint64_t channel = 0;
    for (auto& c : st().channels)
      if (c.type == 2) channel = c.id;
    if (!channel) return {};
    voice_state v;
    v.user_id = m->user_id;
    v.channel_id = channel;
    v.session_id = fc_.new_hex_id();
    v.self_mute = next() % 2;
    vs.push_back(v);
    write_voice_event(v);
    return send("VOICE_STATE_UPDATE", in::guild_voice_states);
  }

  std::string_view bot_leave() {
    if (!w_.bot_in(guild_)) return {};
    w_.set_bot_in(guild_, false);
    auto j = writer();
    j.begin_object().id_field("id", gid_).end_object();  // no "unavailable": removed, not an outage
    return send("GUILD_DELETE", in::guilds);
  }

  std::string_view bot_join() {
    if (w_.bot_in(guild_)) return {};
    w_.set_bot_in(guild_, true);
    fc_.dispatch_guild_create(guild_);
    return "GUILD_CREATE";
  }

  fakecord& fc_;
  world& w_;
  int guild_;
  std::uint64_t gid_;
  std::uint64_t r_;
  std::int64_t now_ms_;
  std::string d_;
};

}  // namespace

std::string_view make_world_change(fakecord& fc, world_change kind, int guild, std::uint64_t r, std::int64_t now_ms) {
  const world& w = fc.data();
  if (w.guild_count() == 0) return {};
  if (kind == world_change::bot_join) {
    // Any guild the bot is not in, searched from `guild`.
    for (int i = 0; i < w.guild_count(); ++i) {
      int g = (guild + i) % w.guild_count();
      if (!w.bot_in(g)) return change(fc, g, r, now_ms).run(kind);
    }
    return {};
  }
  if (!w.bot_in(guild)) return {};
  return change(fc, guild, r, now_ms).run(kind);
}

}  // namespace g::sim
