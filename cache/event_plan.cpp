#include "cache/event_plan.hpp"

#include <simdjson.h>

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"

namespace g::cache {

namespace dom = simdjson::dom;
using std::string_view;

namespace {

// The arrays of GUILD_CREATE kept apart (or not kept): the guild object stores none of them.
using keys_list = std::vector<string_view>;
const keys_list guild_arrays = {"channels", "threads", "roles", "members", "emojis", "stickers", "voice_states",
                                "presences", "stage_instances", "guild_scheduled_events", "soundboard_sounds"};

bool in(const keys_list& list, string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

string_view text(dom::element e, string_view key) {
  string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return v;
}

// An object written again with the keys in `skip` left out and the `extra` ones set (raw JSON values; an extra
// with an empty value is left out too).
std::string rewrite(dom::object o, const keys_list& skip,
                    std::initializer_list<std::pair<string_view, string_view>> extra = {}) {
  std::string out;
  json::writer w(out);
  w.begin_object();
  for (auto f : o) {
    if (in(skip, f.key)) continue;
    bool replaced = false;
    for (auto& [k, v] : extra) replaced |= (k == f.key);
    if (!replaced) w.raw_field(f.key, simdjson::minify(f.value));
  }
  for (auto& [k, v] : extra)
    if (!v.empty()) w.raw_field(k, v);
  w.end_object();
  return out;
}

// user.id of a member, presence or member event.
string_view user_id(dom::element e) {
  dom::element user;
  if (e["user"].get(user) != simdjson::SUCCESS) return {};
  return text(user, "id");
}

std::string json_string(string_view s) {
  std::string out;
  json::writer(out).value(s);
  return out;
}

}  // namespace

struct event_planner::impl {
  cache_keys keys;
  cache_options opts;
  dom::parser event_parser, stored_parser;
  stream_entry e;
  dom::element d;
  bool parsed = false;
  std::string gid;  // the event's guild, when it has one

  impl(const cache_keys& k, cache_options o) : keys(k), opts(o) {}

  // --- ops -------------------------------------------------------------------------------------------
  cache_plan out;
  void op(std::initializer_list<string_view> args) {
    for (auto a : args) out.ops.emplace_back(a);
  }
  void set(const std::string& key, std::string value) {
    out.ops.insert(out.ops.end(), {"S", key, std::move(value)});
  }
  void hset(const std::string& key, string_view field, std::string value) {
    out.ops.insert(out.ops.end(), {"H", key, std::string(field), std::move(value)});
  }
  void hdel(const std::string& key, string_view field) { out.ops.insert(out.ops.end(), {"X", key, std::string(field)}); }
  void del(const std::string& key) { out.ops.insert(out.ops.end(), {"D", key}); }
  std::string hash(string_view what) const { return keys.guild_hash(gid, what); }

  // The stored object with the update's top-level fields laid over it (those in `skip` are not taken from the
  // update); the update alone when nothing is stored.
  std::string merge(const read_result& stored, dom::object update, const keys_list& skip) {
    dom::object base;
    if (!stored.found || stored_parser.parse(stored.value).get_object().get(base) != simdjson::SUCCESS)
      return rewrite(update, skip);
    std::string out_text;
    json::writer w(out_text);
    w.begin_object();
    for (auto f : base) {
      dom::element nv;
      bool updated = !in(skip, f.key) && update[f.key].get(nv) == simdjson::SUCCESS;
      w.raw_field(f.key, simdjson::minify(updated ? nv : f.value));
    }
    for (auto f : update) {
      dom::element unused;
      if (!in(skip, f.key) && base[f.key].get(unused) != simdjson::SUCCESS) w.raw_field(f.key, simdjson::minify(f.value));
    }
    w.end_object();
    return out_text;
  }

  // The stored object with some fields set (raw JSON; an empty value leaves the field out); empty when nothing
  // usable is stored.
  std::string with_fields(const read_result& stored, std::initializer_list<std::pair<string_view, string_view>> fields) {
    dom::object base;
    if (!stored.found || stored_parser.parse(stored.value).get_object().get(base) != simdjson::SUCCESS) return {};
    return rewrite(base, {}, fields);
  }

  // --- reads -----------------------------------------------------------------------------------------
  bool flag(string_view key) {
    bool v = false;
    return d[key].get_bool().get(v) == simdjson::SUCCESS && v;
  }
  bool marks_unavailable() { return flag("unavailable"); }
  bool archived() {
    bool v = false;
    return d["thread_metadata"]["archived"].get_bool().get(v) == simdjson::SUCCESS && v;
  }

  std::vector<read_request> reads() {
    const string_view t = e.t;
    auto get = [](std::string key) { return read_request{read_request::get, std::move(key), {}}; };
    auto hget = [](std::string key, string_view f) { return read_request{read_request::hget, std::move(key), std::string(f)}; };
    auto hgetall = [](std::string key) { return read_request{read_request::hgetall, std::move(key), {}}; };
    if (t == "READY") return {read_request{read_request::smembers, keys.shard_guilds(e.shard), {}}};
    if (t == "G_RESHARD") return {hgetall(keys.guilds())};
    if (gid.empty()) return {};
    // The stored guild: merged by GUILD_UPDATE and by an outage's unavailable stub (a whole GUILD_CREATE and a
    // removal need nothing stored).
    if (t == "GUILD_UPDATE" || ((t == "GUILD_CREATE" || t == "GUILD_DELETE") && marks_unavailable()))
      return {get(keys.guild(gid))};
    if (t == "GUILD_MEMBER_ADD" || t == "GUILD_MEMBER_REMOVE")
      return {get(keys.guild(gid)), hget(hash("members"), user_id(d))};
    if (t == "GUILD_MEMBER_UPDATE") return {hget(hash("members"), user_id(d))};
    if (t == "GUILD_ROLE_DELETE" && opts.members) return {hgetall(hash("members"))};
    if (t == "CHANNEL_DELETE" || t == "THREAD_LIST_SYNC") return {hgetall(hash("threads"))};
    if (t == "CHANNEL_PINS_UPDATE")
      return {hget(hash("channels"), text(d, "channel_id")), hget(hash("threads"), text(d, "channel_id"))};
    if (t == "THREAD_MEMBERS_UPDATE") return {hget(hash("threads"), text(d, "id")), get(keys.me())};
    if ((t == "THREAD_UPDATE" && !archived()) || t == "THREAD_MEMBER_UPDATE") return {hget(hash("threads"), text(d, "id"))};
    return {};
  }

  // --- the events ------------------------------------------------------------------------------------
  void plan_events(const std::vector<read_result>& r) {
    const string_view t = e.t;
    dom::object o;
    if (d.get_object().get(o) != simdjson::SUCCESS) return;
    if (t == "READY") return ready(o, r[0]);
    if (t == "G_RESHARD") return reshard(o, r[0]);
    if (t == "USER_UPDATE") return set(keys.me(), simdjson::minify(d));
    if (gid.empty()) return;  // a DM or an event without a guild: nothing of the cache's
    if (t == "GUILD_CREATE") return guild_create(o, r[0]);
    if (t == "GUILD_UPDATE") return guild_update(o, r[0]);
    if (t == "GUILD_DELETE") {
      if (marks_unavailable()) return set(keys.guild(gid), merge(r[0], o, {}));  // an outage: cached, marked
      return op({"G", gid});
    }
    if (t == "GUILD_ROLE_CREATE" || t == "GUILD_ROLE_UPDATE") {
      dom::element role;
      if (d["role"].get(role) == simdjson::SUCCESS) hset(hash("roles"), text(role, "id"), simdjson::minify(role));
      return;
    }
    if (t == "GUILD_ROLE_DELETE") return role_delete(r);
    if (t == "CHANNEL_CREATE" || t == "CHANNEL_UPDATE") {
      hset(hash("channels"), text(d, "id"), simdjson::minify(d));
      return set(keys.channel(text(d, "id")), std::string(gid));
    }
    if (t == "CHANNEL_DELETE") return channel_delete(r[0]);
    if (t == "CHANNEL_PINS_UPDATE") return pins_update(o, r);
    if (t == "THREAD_CREATE" || t == "THREAD_UPDATE") return thread_upsert(o, t == "THREAD_UPDATE" ? &r[0] : nullptr);
    if (t == "THREAD_DELETE") {
      hdel(hash("threads"), text(d, "id"));
      return del(keys.channel(text(d, "id")));
    }
    if (t == "THREAD_LIST_SYNC") return thread_list_sync(r[0]);
    if (t == "THREAD_MEMBER_UPDATE") {
      std::string member = rewrite(o, {"guild_id"});
      if (r[0].found) hset(hash("threads"), text(d, "id"), with_fields(r[0], {{"member", member}}));
      return;
    }
    if (t == "THREAD_MEMBERS_UPDATE") return thread_members_update(o, r);
    if (t == "GUILD_MEMBER_ADD") return member_add(o, r);
    if (t == "GUILD_MEMBER_UPDATE") {
      if (opts.members) hset(hash("members"), user_id(d), merge(r[0], o, {"guild_id"}));
      return;
    }
    if (t == "GUILD_MEMBER_REMOVE") return member_remove(r);
    if (t == "GUILD_MEMBERS_CHUNK") return members_chunk();
    if (t == "GUILD_EMOJIS_UPDATE" || t == "GUILD_STICKERS_UPDATE") {
      if (!opts.emojis) return;
      string_view what = t == "GUILD_EMOJIS_UPDATE" ? "emojis" : "stickers";
      del(hash(what));
      dom::array items;
      if (d[what].get_array().get(items) == simdjson::SUCCESS)
        for (auto item : items) hset(hash(what), text(item, "id"), simdjson::minify(item));
      return;
    }
    if (t == "VOICE_STATE_UPDATE") return voice_state(o);
    if (t == "PRESENCE_UPDATE") {
      if (!opts.presences) return;
      string_view uid = user_id(d);
      if (text(d, "status") == "offline") return hdel(hash("presences"), uid);
      return hset(hash("presences"), uid, rewrite(o, {"guild_id"}));
    }
  }

  void ready(dom::object o, const read_result& shard_set) {
    dom::element user;
    if (o["user"].get(user) == simdjson::SUCCESS) set(keys.me(), simdjson::minify(user));
    dom::element application;
    if (o["application"].get(application) == simdjson::SUCCESS) set(keys.application(), simdjson::minify(application));
    out.session_id = std::string(text(d, "session_id"));
    // READY of a new session replaces the shard's guild set: guilds it no longer lists are gone (the bot left
    // while the shard was away). Guilds it lists keep what is cached until their GUILD_CREATE replaces it; one
    // not cached yet is stored as Discord lists it, unavailable until then.
    std::unordered_set<std::string> listed;
    dom::array guilds;
    if (o["guilds"].get_array().get(guilds) == simdjson::SUCCESS) {
      for (auto g : guilds) {
        std::string id(text(g, "id"));
        if (id.empty()) continue;
        if (std::find(shard_set.members.begin(), shard_set.members.end(), id) == shard_set.members.end()) {
          set(keys.guild(id), simdjson::minify(g));
          op({"M", id, std::to_string(e.shard)});
        }
        listed.insert(std::move(id));
      }
    }
    for (auto& id : shard_set.members)
      if (!listed.count(id)) op({"G", id});
  }

  // G's marker of a reshard (docs/resharding.md): every cached guild moves to its shard of the new total, and each
  // new shard's entries continue from the marker, in the session it names. Shards the new set lacks are forgotten.
  void reshard(dom::object o, const read_result& guilds) {
    std::int64_t from = 0, to = 0;
    if (o["from"].get_int64().get(from) != simdjson::SUCCESS || o["to"].get_int64().get(to) != simdjson::SUCCESS || to <= 0) {
      out.problem = "a reshard marker without from and to";
      return;
    }
    for (auto& [guild, shard] : guilds.pairs) {
      auto id = discord::parse_snowflake(guild);
      if (!id) continue;
      std::string now = std::to_string(discord::shard_for_guild(*id, static_cast<int>(to)));
      if (now != shard) op({"M", guild, now});
    }
    dom::array sessions;
    if (o["sessions"].get_array().get(sessions) == simdjson::SUCCESS)
      for (auto s : sessions) {
        std::int64_t shard = -1, seq = 0;
        if (s["shard"].get_int64().get(shard) != simdjson::SUCCESS || s["seq"].get_int64().get(seq) != simdjson::SUCCESS) continue;
        const std::string field = std::to_string(shard);
        op({"H", keys.applied(), field, std::string(text(s, "session_id")) + ":" + std::to_string(seq)});
        op({"H", keys.applied_id(), field, e.id});
      }
    for (std::int64_t j = to; j < from; ++j) {
      op({"X", keys.applied(), std::to_string(j)});
      op({"X", keys.applied_id(), std::to_string(j)});
    }
  }

  void guild_create(dom::object o, const read_result& stored) {
    if (marks_unavailable()) {
      // An outage: what is cached stays, marked unavailable.
      set(keys.guild(gid), merge(stored, o, {}));
      return op({"M", gid, std::to_string(e.shard)});
    }
    // The guild as it is now replaces everything cached of it.
    op({"C", gid});
    set(keys.guild(gid), rewrite(o, guild_arrays));
    op({"M", gid, std::to_string(e.shard)});
    const std::string gid_json = json_string(gid);
    auto each = [&](string_view array, auto&& fn) {
      dom::array items;
      if (d[array].get_array().get(items) == simdjson::SUCCESS)
        for (auto item : items) {
          dom::object io;
          if (item.get_object().get(io) == simdjson::SUCCESS) fn(item, io);
        }
    };
    // Channels and threads carry guild_id in the cache whichever event brought them (GUILD_CREATE leaves it out).
    each("channels", [&](dom::element c, dom::object co) {
      hset(hash("channels"), text(c, "id"), rewrite(co, {}, {{"guild_id", gid_json}}));
      set(keys.channel(text(c, "id")), gid);
    });
    each("threads", [&](dom::element c, dom::object co) {
      hset(hash("threads"), text(c, "id"), rewrite(co, {}, {{"guild_id", gid_json}}));
      set(keys.channel(text(c, "id")), gid);
    });
    each("roles", [&](dom::element r, dom::object) { hset(hash("roles"), text(r, "id"), simdjson::minify(r)); });
    if (opts.members)
      each("members", [&](dom::element m, dom::object) {
        hset(hash("members"), user_id(m), simdjson::minify(m));
      });
    if (opts.emojis) {
      each("emojis", [&](dom::element x, dom::object) { hset(hash("emojis"), text(x, "id"), simdjson::minify(x)); });
      each("stickers", [&](dom::element x, dom::object) { hset(hash("stickers"), text(x, "id"), simdjson::minify(x)); });
    }
    if (opts.voice_states)
      each("voice_states", [&](dom::element v, dom::object vo) {
        hset(hash("voice_states"), text(v, "user_id"), rewrite(vo, {"member"}, {{"guild_id", gid_json}}));
      });
    if (opts.presences)
      each("presences", [&](dom::element p, dom::object po) {
        hset(hash("presences"), user_id(p), rewrite(po, {"guild_id"}));
      });
  }

  void guild_update(dom::object o, const read_result& stored) {
    // The guild's own fields merge over the cached guild (member_count, joined_at and the other GUILD_CREATE
    // fields stay); roles, emojis and stickers, when the update carries them, replace their hashes.
    set(keys.guild(gid), merge(stored, o, guild_arrays));
    auto replace = [&](string_view what) {
      dom::array items;
      if (d[what].get_array().get(items) != simdjson::SUCCESS) return;
      del(hash(what));
      for (auto item : items) hset(hash(what), text(item, "id"), simdjson::minify(item));
    };
    replace("roles");
    if (opts.emojis) {
      replace("emojis");
      replace("stickers");
    }
  }

  void role_delete(const std::vector<read_result>& r) {
    string_view role = text(d, "role_id");
    hdel(hash("roles"), role);
    if (!opts.members) return;
    // Discord sends no GUILD_MEMBER_UPDATE for the members who had it: their role lists lose it here.
    for (auto& [uid, member_json] : r[0].pairs) {
      dom::object m;
      if (stored_parser.parse(member_json).get_object().get(m) != simdjson::SUCCESS) continue;
      dom::array roles;
      if (m["roles"].get_array().get(roles) != simdjson::SUCCESS) continue;
      bool has = false;
      std::string kept;
      json::writer w(kept);
      w.begin_array();
      for (auto id : roles) {
        string_view s;
        if (id.get_string().get(s) == simdjson::SUCCESS && s == role) has = true;
        else w.raw(simdjson::minify(id));
      }
      w.end_array();
      if (has) hset(hash("members"), uid, rewrite(m, {}, {{"roles", kept}}));
    }
  }

  void channel_delete(const read_result& threads) {
    string_view cid = text(d, "id");
    hdel(hash("channels"), cid);
    del(keys.channel(cid));
    // Its threads go with it, and Discord sends no THREAD_DELETE for them.
    for (auto& [tid, thread_json] : threads.pairs) {
      dom::element th;
      if (stored_parser.parse(thread_json).get(th) == simdjson::SUCCESS && text(th, "parent_id") == cid) {
        hdel(hash("threads"), tid);
        del(keys.channel(tid));
      }
    }
  }

  void pins_update(dom::object o, const std::vector<read_result>& r) {
    dom::element ts;
    if (o["last_pin_timestamp"].get(ts) != simdjson::SUCCESS) return;
    std::string value = simdjson::minify(ts);
    string_view cid = text(d, "channel_id");
    if (r[0].found) hset(hash("channels"), cid, with_fields(r[0], {{"last_pin_timestamp", value}}));
    else if (r[1].found) hset(hash("threads"), cid, with_fields(r[1], {{"last_pin_timestamp", value}}));
  }

  void thread_upsert(dom::object o, const read_result* stored) {
    string_view tid = text(d, "id");
    if (archived()) {
      // The cache keeps the active threads, which is all a GUILD_CREATE lists.
      hdel(hash("threads"), tid);
      return del(keys.channel(tid));
    }
    // THREAD_UPDATE keeps the bot's thread member, which it does not carry.
    std::string value = stored ? merge(*stored, o, {"newly_created"}) : rewrite(o, {"newly_created"});
    hset(hash("threads"), tid, std::move(value));
    set(keys.channel(tid), gid);
  }

  void thread_list_sync(const read_result& threads) {
    // The active threads of the listed channels (of the whole guild without channel_ids) are replaced.
    std::unordered_set<std::string> channels;
    dom::array ids;
    bool whole_guild = d["channel_ids"].get_array().get(ids) != simdjson::SUCCESS;
    if (!whole_guild)
      for (auto id : ids) {
        string_view s;
        if (id.get_string().get(s) == simdjson::SUCCESS) channels.emplace(s);
      }
    for (auto& [tid, thread_json] : threads.pairs) {
      dom::element th;
      if (stored_parser.parse(thread_json).get(th) != simdjson::SUCCESS) continue;
      if (whole_guild || channels.count(std::string(text(th, "parent_id")))) {
        hdel(hash("threads"), tid);
        del(keys.channel(tid));
      }
    }
    dom::array list, members;
    bool has_members = d["members"].get_array().get(members) == simdjson::SUCCESS;
    if (d["threads"].get_array().get(list) != simdjson::SUCCESS) return;
    const std::string gid_json = json_string(gid);
    for (auto th : list) {
      dom::object to;
      if (th.get_object().get(to) != simdjson::SUCCESS) continue;
      string_view tid = text(th, "id");
      std::string member;
      if (has_members)
        for (auto m : members)
          if (text(m, "id") == tid) member = simdjson::minify(m);
      hset(hash("threads"), tid, rewrite(to, {}, {{"guild_id", gid_json}, {"member", member}}));
      set(keys.channel(tid), gid);
    }
  }

  void thread_members_update(dom::object, const std::vector<read_result>& r) {
    if (!r[0].found) return;
    dom::element count;
    std::string count_json = d["member_count"].get(count) == simdjson::SUCCESS ? simdjson::minify(count) : std::string{};
    // The bot's own thread member comes and goes with it.
    std::string bot_id;
    if (r[1].found) {
      dom::element me;
      if (stored_parser.parse(r[1].value).get(me) == simdjson::SUCCESS) bot_id = std::string(text(me, "id"));
    }
    std::string member;
    bool removed = false;
    dom::array added, gone;
    if (!bot_id.empty() && d["added_members"].get_array().get(added) == simdjson::SUCCESS)
      for (auto m : added)
        if (text(m, "user_id") == bot_id) {
          dom::object mo;
          if (m.get_object().get(mo) == simdjson::SUCCESS) member = rewrite(mo, {"member", "presence"});
        }
    if (!bot_id.empty() && d["removed_member_ids"].get_array().get(gone) == simdjson::SUCCESS)
      for (auto id : gone) {
        string_view s;
        if (id.get_string().get(s) == simdjson::SUCCESS && s == bot_id) removed = true;
      }
    dom::object thread;
    if (stored_parser.parse(r[0].value).get_object().get(thread) != simdjson::SUCCESS) return;
    // An empty extra leaves a key out: member_count only when the event carries it, the member only when the bot
    // was added (kept as it is otherwise, dropped when the bot was removed).
    std::string kept_member;
    if (member.empty() && !removed) {
      dom::element m;
      if (thread["member"].get(m) == simdjson::SUCCESS) kept_member = simdjson::minify(m);
    }
    std::string count_value = count_json;
    if (count_value.empty()) {
      dom::element c;
      if (thread["member_count"].get(c) == simdjson::SUCCESS) count_value = simdjson::minify(c);
    }
    std::string value = rewrite(thread, {}, {{"member_count", count_value}, {"member", member.empty() ? kept_member : member}});
    hset(hash("threads"), text(d, "id"), std::move(value));
  }

  // member_count moves with joins and leaves (only GUILD_CREATE carries it); a join Discord repeats for a member
  // already cached does not count twice.
  void adjust_member_count(const read_result& guild, int delta) {
    dom::object g;
    if (!guild.found || stored_parser.parse(guild.value).get_object().get(g) != simdjson::SUCCESS) return;
    std::int64_t count = 0;
    if (g["member_count"].get_int64().get(count) != simdjson::SUCCESS) return;
    std::string n = std::to_string(std::max<std::int64_t>(0, count + delta));
    set(keys.guild(gid), rewrite(g, {}, {{"member_count", n}}));
  }

  void member_add(dom::object o, const std::vector<read_result>& r) {
    bool known = opts.members && r[1].found;
    if (opts.members) hset(hash("members"), user_id(d), rewrite(o, {"guild_id"}));
    if (!known) adjust_member_count(r[0], +1);
  }

  void member_remove(const std::vector<read_result>& r) {
    string_view uid = user_id(d);
    if (opts.members) hdel(hash("members"), uid);
    if (opts.presences) hdel(hash("presences"), uid);
    if (!opts.members || r[1].found) adjust_member_count(r[0], -1);
  }

  void members_chunk() {
    dom::array list;
    if (opts.members && d["members"].get_array().get(list) == simdjson::SUCCESS)
      for (auto m : list) hset(hash("members"), user_id(m), simdjson::minify(m));
    if (opts.presences && d["presences"].get_array().get(list) == simdjson::SUCCESS)
      for (auto p : list) {
        dom::object po;
        if (p.get_object().get(po) == simdjson::SUCCESS)
          hset(hash("presences"), user_id(p), rewrite(po, {"guild_id"}));
      }
  }

  void voice_state(dom::object o) {
    string_view uid = text(d, "user_id");
    dom::element member;
    dom::object mo;
    if (opts.members && d["member"].get(member) == simdjson::SUCCESS && member.get_object().get(mo) == simdjson::SUCCESS)
      hset(hash("members"), uid, rewrite(mo, {"guild_id"}));
    if (!opts.voice_states) return;
    dom::element channel;
    if (d["channel_id"].get(channel) != simdjson::SUCCESS || channel.is_null()) return hdel(hash("voice_states"), uid);
    hset(hash("voice_states"), uid, rewrite(o, {"member"}));
  }
};

event_planner::event_planner(const cache_keys& keys, cache_options options)
    : impl_(std::make_unique<impl>(keys, options)) {}
event_planner::~event_planner() = default;

std::vector<read_request> event_planner::prepare(const stream_entry& e) {
  impl& s = *impl_;
  s.e = e;
  s.gid.clear();
  s.parsed = s.event_parser.parse(s.e.d).get(s.d) == simdjson::SUCCESS && s.d.is_object();
  if (!s.parsed) return {};
  // The guild: guild_id, or id for the guild events themselves.
  bool guild_event = e.t == "GUILD_CREATE" || e.t == "GUILD_UPDATE" || e.t == "GUILD_DELETE";
  s.gid = std::string(text(s.d, guild_event ? "id" : "guild_id"));
  return s.reads();
}

cache_plan event_planner::plan(std::vector<read_result> reads) {
  impl& s = *impl_;
  reads.resize(std::max<std::size_t>(reads.size(), 2));  // an event reads at most two values; missing ones: not found
  s.out = cache_plan{};
  if (!s.parsed) {
    s.out.problem = "d is not a JSON object";
    return std::move(s.out);
  }
  s.plan_events(reads);
  return std::move(s.out);
}

}  // namespace g::cache
