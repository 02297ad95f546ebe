#include "proxy/snapshot.hpp"

#include <string_view>

#include "net/json/json_writer.hpp"
#include "net/redis/redis_connection.hpp"
#include "proxy/json_peek.hpp"

namespace g::proxy {

namespace {

// ARGV: prefix, shard, presences ('1' or '0'). Returns {applied_id, me, application, {{guild id, guild, channels,
// threads, roles, members, emojis, stickers, voice_states, presences}, …}}; an unavailable guild carries no arrays.
// One script, so no cache write lands between the reads (g-cache applies each entry in one script too).
const std::string snapshot_script = R"lua(
local p, shard = ARGV[1], ARGV[2]
local applied = redis.call('HGET', p .. 'cache:applied_id', shard)
local me = redis.call('GET', p .. 'cache:me')
if not applied or not me then return {false, false, false, {}} end
local app = redis.call('GET', p .. 'cache:application')
local hashes = {':channels', ':threads', ':roles', ':members', ':emojis', ':stickers', ':voice_states'}
if ARGV[3] == '1' then hashes[#hashes + 1] = ':presences' end
local out = {}
for _, g in ipairs(redis.call('SMEMBERS', p .. 'cache:shard:' .. shard .. ':guilds')) do
  local base = p .. 'cache:guild:' .. g
  local guild = redis.call('GET', base)
  local item = {g, guild or false}
  if guild and not string.find(guild, '"unavailable":true', 1, true) then
    for _, h in ipairs(hashes) do item[#item + 1] = redis.call('HVALS', base .. h) end
  end
  out[#out + 1] = item
end
return {applied, me, app or false, out}
)lua";

const std::string& snapshot_sha() {
  static const std::string sha = net::redis_connection::sha1_hex(snapshot_script);
  return sha;
}

constexpr std::string_view array_names[] = {"channels", "threads",  "roles",        "members",
                                            "emojis",   "stickers", "voice_states", "presences"};

void append_array(std::string& out, std::string_view name, const net::redis_reply* values) {
  out += ",\"";
  out += name;
  out += "\":[";
  if (values) {
    bool first = true;
    for (const auto& v : values->elements) {
      if (!first) out += ',';
      first = false;
      out += v.text;
    }
  }
  out += ']';
}

// The cached guild object plus its arrays: GUILD_CREATE's d. Arrays the cache does not keep (stage instances,
// scheduled events, soundboard sounds) are sent empty unless the cached object has them, so libraries that read
// them unconditionally find an array (gateway-proxy#27 crashed discord.js with a missing one).
std::string guild_create(const net::redis_reply& item) {
  std::string_view guild = item.elements[1].text;
  while (!guild.empty() && guild.back() != '}') guild.remove_suffix(1);
  if (guild.size() < 2) return {};
  std::string out(guild.substr(0, guild.size() - 1));
  bool empty_object = out.find_first_not_of(" \t\r\n{") == std::string::npos;
  if (empty_object) out = "{\"_\":0";  // never the case for a cached guild; keeps the commas valid
  for (std::size_t i = 0; i < std::size(array_names); ++i) {
    const net::redis_reply* values = i + 2 < item.elements.size() ? &item.elements[i + 2] : nullptr;
    if (values || array_names[i] != "presences") append_array(out, array_names[i], values);
  }
  for (std::string_view extra : {"stage_instances", "guild_scheduled_events", "soundboard_sounds"}) {
    std::string key = "\"" + std::string(extra) + "\":";
    if (out.find(key) == std::string::npos) append_array(out, extra, nullptr);
  }
  out += '}';
  return out;
}

}  // namespace

snapshot_result read_snapshot(net::redis_connection& redis, const std::string& prefix, int shard, bool presences) {
  net::redis_reply r = redis.eval(snapshot_script, snapshot_sha(), {},
                                  {prefix, std::to_string(shard), presences ? "1" : "0"});
  if (r.is_error()) return snapshot_result::failed("cannot read the cache: " + r.text);
  if (r.type != net::redis_reply::array || r.elements.size() != 4)
    return snapshot_result::failed("cannot read the cache: unexpected reply to the snapshot script");
  if (r.elements[0].type == net::redis_reply::nil || r.elements[1].type == net::redis_reply::nil)
    return snapshot_result::refused("the cache holds nothing for shard " + std::to_string(shard) +
                                    " yet (is g-cache running, and has the shard sent READY?)");
  shard_snapshot s;
  s.applied_id = r.elements[0].text;
  s.me = r.elements[1].text;
  s.application = r.elements[2].text;
  for (const auto& item : r.elements[3].elements) {
    if (item.elements.size() < 2) continue;
    s.guild_ids.push_back(item.elements[0].text);
    if (item.elements[1].type == net::redis_reply::nil || item.elements.size() < 3) continue;  // unavailable
    std::string d = guild_create(item);
    if (!d.empty()) s.guild_creates.push_back(std::move(d));
  }
  return snapshot_result::done(std::move(s));
}

std::string ready_d(const shard_snapshot& s, const ready_fields& f) {
  std::string out;
  json::writer w(out);
  w.begin_object().field("v", 10).key("user_settings").begin_object().end_object();
  w.raw_field("user", s.me);
  w.field("session_type", "normal")
      .field("session_id", f.session_id)
      .field("resume_gateway_url", f.resume_gateway_url)
      .key("relationships").begin_array().end_array()
      .key("private_channels").begin_array().end_array()
      .key("presences").begin_array().end_array()
      .key("guilds").begin_array();
  for (const auto& id : s.guild_ids) w.begin_object().field("unavailable", true).field("id", id).end_object();
  w.end_array().key("guild_join_requests").begin_array().end_array();
  w.key("geo_ordered_rtc_regions").begin_array().end_array();
  if (!s.application.empty()) {
    w.raw_field("application", s.application);
  } else {
    // A bot's application id is its user id; flags are unknown until a READY of G's was cached.
    w.key("application").begin_object().field("id", json_string_at(s.me, "/id")).field("flags", 0).end_object();
  }
  if (f.shard_sent) w.key("shard").begin_array().value(f.shard_id).value(f.shard_count).end_array();
  w.key("_trace").begin_array().value("[\"g-proxy\",{\"micros\":0}]").end_array();
  w.end_object();
  return out;
}

void dispatch_frame(std::string& out, std::string_view t, std::int64_t seq, std::string_view d) {
  out.clear();
  out.reserve(d.size() + t.size() + 40);
  out += "{\"t\":\"";
  out += t;
  out += "\",\"s\":";
  out += std::to_string(seq);
  out += ",\"op\":0,\"d\":";
  out += d;
  out += '}';
}

}  // namespace g::proxy
