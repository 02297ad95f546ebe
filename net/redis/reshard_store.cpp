#include "net/redis/reshard_store.hpp"

#include "net/redis/lua_script.hpp"

namespace g::net {

namespace {

// KEYS: reshard, shard_count, reshard:held, reshard:seen, reshard:present, master, epoch. ARGV: from, to, started,
// epoch, key prefix, node. Only the master of the current epoch begins one: a deposed master's late begin would leave
// a preparation its successor never read.
const lua_script begin_script{R"lua(
if redis.call('GET', KEYS[6]) ~= ARGV[6] or redis.call('GET', KEYS[7]) ~= ARGV[4] then return redis.error_reply('NOT_MASTER') end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('BUSY ' .. (redis.call('HGET', KEYS[1], 'to') or '?')) end
local in_force = redis.call('GET', KEYS[2])
if in_force and in_force ~= ARGV[1] then return redis.error_reply('STALE ' .. in_force) end
if not in_force then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], ARGV[5] .. 'reshard:live')
for i = 0, tonumber(ARGV[2]) - 1 do
  redis.call('DEL', ARGV[5] .. 'session:' .. ARGV[2] .. ':' .. i, ARGV[5] .. 'owner:' .. ARGV[2] .. ':' .. i)
end
redis.call('HSET', KEYS[1], 'from', ARGV[1], 'to', ARGV[2], 'started', ARGV[3], 'epoch', ARGV[4])
return redis.status_reply('OK')
)lua"};

// KEYS: reshard, reshard:held, reshard:seen, events, shard_count, epoch, master, reshard:present. ARGV: to, epoch,
// node, now_ms, maxlen, key prefix.
//
// The marker comes first, so that a reader meets it before any entry of the new set; each new shard's entries
// name the marker (then each other) in `prev`, and the marker names the last entry of every old shard in
// `previous`. A held event is left out when the set in force wrote the same payload during the preparation, at a
// time the new session had its guild already (one noted copy each, the earliest such first): both sessions
// received it and the stream has it already. A copy received before the new session had the guild cannot be in
// the new set: it is never matched, so a later event with a byte-identical payload (a channel or a presence
// flapping back to what it was) is not taken for it. What is left after the held events is what the new set
// received and has not committed yet: its commits skip those for 10 s (only copies of the last 10 s are kept: the
// new set commits within milliseconds of receiving). Clocks: `present` and a copy's time come from different
// nodes; a second of skew is allowed for.
const lua_script switch_script{R"lua(
if redis.call('HGET', KEYS[1], 'to') ~= ARGV[1] then return redis.error_reply('GONE') end
if redis.call('GET', KEYS[7]) ~= ARGV[3] or redis.call('GET', KEYS[6]) ~= ARGV[2] then
  return redis.error_reply('NOT_MASTER')
end
local from = redis.call('HGET', KEYS[1], 'from')
local to = tonumber(ARGV[1])
local p = ARGV[6]
local sessions = {}
for i = 0, to - 1 do
  local rec = redis.call('HMGET', p .. 'session:' .. ARGV[1] .. ':' .. i, 'session_id', 'seq')
  if not rec[1] or rec[1] == '' or redis.call('EXISTS', p .. 'owner:' .. ARGV[1] .. ':' .. i) == 0 or
     redis.call('HGET', p .. 'reshard:live', tostring(i)) ~= rec[1] then
    return redis.error_reply('NOT_READY ' .. i)
  end
  sessions[#sessions + 1] = {shard = i, session_id = rec[1], seq = tonumber(rec[2])}
end
local previous = {}
for j = 0, tonumber(from) - 1 do
  local id = redis.call('HGET', p .. 'session:' .. from .. ':' .. j, 'last_id')
  if id and id ~= '' and id ~= '0-0' then previous[tostring(j)] = id end
end
local function xadd(...)
  if ARGV[5] == '0' then return redis.call('XADD', KEYS[4], '*', ...) end
  return redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', ...)
end
local marker_d = cjson.encode({from = tonumber(from), to = to, sessions = sessions, previous = previous})
local marker = xadd('shard', '-1', 'seq', '0', 't', 'G_RESHARD', 'd', marker_d, 'node', ARGV[3], 'ts', ARGV[4], 'prev', '')
-- A noted payload: its guild and copy times; copies from before the new session had the guild are not in it.
local skew = 1000
local present = {}
local function since(guild)
  if present[guild] == nil then
    local at = redis.call('HGET', KEYS[8], guild)
    present[guild] = at and (tonumber(at) - skew) or false  -- a guild joined during the preparation: any copy
  end
  return present[guild] or -1
end
local function copies(noted)
  local guild, list = string.match(noted, '^(%S+) (.+)$')
  local times = {}
  for ts in string.gmatch(list, '%S+') do times[#times + 1] = tonumber(ts) end
  return guild, times
end
local function store(h, guild, times)
  if #times == 0 then redis.call('HDEL', KEYS[3], h) else redis.call('HSET', KEYS[3], h, guild .. ' ' .. table.concat(times, ' ')) end
end
local last = {}
local appended, skipped = 0, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local f = {}
  for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end
  local h = redis.sha1hex(f.t .. '\n' .. f.d)
  local noted = redis.call('HGET', KEYS[3], h)
  local matched = false
  if noted then
    local guild, times = copies(noted)
    local from = since(guild)
    for k = 1, #times do
      if times[k] >= from then
        table.remove(times, k)
        matched = true
        break
      end
    end
    store(h, guild, times)
  end
  if matched then
    skipped = skipped + 1
  else
    last[f.shard] = xadd('shard', f.shard, 'seq', f.seq, 't', f.t, 'd', f.d, 'node', f.node, 'ts', f.ts,
                         'prev', last[f.shard] or marker)
    appended = appended + 1
  end
end
for i = 0, to - 1 do
  redis.call('HSET', p .. 'session:' .. ARGV[1] .. ':' .. i, 'last_id', last[tostring(i)] or marker)
end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], p .. 'status')  -- the old set's states: the new set publishes its own
-- Copies are removed as they are matched; of the rest, those the new set may still commit stay for 10 s.
local unmatched = 0
local recent = tonumber(ARGV[4]) - 10000
local seen = redis.call('HGETALL', KEYS[3])
for k = 1, #seen, 2 do
  local guild, times = copies(seen[k + 1])
  local from = math.max(since(guild), recent)
  local kept = {}
  for _, ts in ipairs(times) do
    if ts >= from then kept[#kept + 1] = ts end
  end
  store(seen[k], guild, kept)
  unmatched = unmatched + #kept
end
redis.call('DEL', KEYS[8], p .. 'reshard:live')
if unmatched > 0 then redis.call('PEXPIRE', KEYS[3], 10000) else redis.call('DEL', KEYS[3]) end
return {marker, appended, skipped, unmatched}
)lua"};

// KEYS: reshard, reshard:held, reshard:seen, reshard:present, reshard:live. ARGV: to.
const lua_script abandon_script{R"lua(
if redis.call('HGET', KEYS[1], 'to') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
)lua"};

// A script's error without the "ERR " Redis may put in front.
std::string error_text(const redis_reply& r) {
  std::string e = r.text;
  if (e.rfind("ERR ", 0) == 0) e.erase(0, 4);
  return e;
}

reshard_result refused(std::string reason) { return reshard_result::refused(std::move(reason)); }

reshard_result unavailable(const redis_reply& r) {
  return reshard_result::failed(r.text.empty() ? "unexpected reply from Redis" : r.text);
}

}  // namespace

reshard_store::reshard_store(redis_connection& redis, const std::string& group, std::string node_id)
    : redis_(redis), keys_(group), node_(std::move(node_id)) {}

reshard_result reshard_store::begin(int from, int to, std::uint64_t epoch, std::int64_t now_ms) {
  auto r = redis_.eval(begin_script.text, begin_script.sha,
                       {keys_.reshard(), keys_.shard_count(), keys_.reshard_held(), keys_.reshard_seen(), keys_.reshard_present(),
                        keys_.master(), keys_.epoch()},
                       {std::to_string(from), std::to_string(to), std::to_string(now_ms), std::to_string(epoch), keys_.prefix, node_});
  if (r.ok()) return reshard_result::done();
  if (redis_connection::transport_failure(r) || !r.is_error()) return unavailable(r);
  std::string e = error_text(r);
  if (e.rfind("BUSY ", 0) == 0) return refused("a reshard to " + e.substr(5) + " shards is in progress");
  if (e.rfind("STALE ", 0) == 0) return refused("the cluster runs " + e.substr(6) + " shards, not " + std::to_string(from));
  if (e == "NOT_MASTER") return refused("this node is no longer the master of epoch " + std::to_string(epoch));
  return reshard_result::failed(e);
}

store_result<std::optional<reshard_record>> reshard_store::current() {
  using result = store_result<std::optional<reshard_record>>;
  auto r = redis_.command({"HGETALL", keys_.reshard()});
  if (r.type != redis_reply::array || r.elements.size() % 2 != 0)
    return result::failed(r.text.empty() ? "unexpected reply from Redis" : r.text);
  if (r.elements.empty()) return result::done(std::nullopt);
  reshard_record rec;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& k = r.elements[i].text;
    const char* v = r.elements[i + 1].text.c_str();
    if (k == "from") rec.from = static_cast<int>(std::strtol(v, nullptr, 10));
    else if (k == "to") rec.to = static_cast<int>(std::strtol(v, nullptr, 10));
    else if (k == "started") rec.started_ms = std::strtoll(v, nullptr, 10);
    else if (k == "epoch") rec.epoch = std::strtoull(v, nullptr, 10);
  }
  if (rec.to <= 0) return result::done(std::nullopt);
  return result::done(rec);
}

reshard_result reshard_store::switch_over(int to, std::uint64_t epoch, std::int64_t now_ms, std::uint64_t stream_maxlen) {
  auto r = redis_.eval(switch_script.text, switch_script.sha,
                       {keys_.reshard(), keys_.reshard_held(), keys_.reshard_seen(), keys_.events(), keys_.shard_count(),
                        keys_.epoch(), keys_.master(), keys_.reshard_present()},
                       {std::to_string(to), std::to_string(epoch), node_, std::to_string(now_ms),
                        std::to_string(stream_maxlen), keys_.prefix});
  if (r.type == redis_reply::array && r.elements.size() == 4) {
    reshard_result out = reshard_result::done();
    out.value.marker_id = r.elements[0].text;
    out.value.appended = r.elements[1].number;
    out.value.skipped = r.elements[2].number;
    out.value.left_out = r.elements[3].number;
    // With replicas (Sentinel), the switch is on one of them before the nodes act on it: a failover right after
    // must not bring back the old count while the old sessions close. Without a replica WAIT would only wait.
    auto role = redis_.command({"ROLE"});
    if (role.type == redis_reply::array && role.elements.size() >= 3 && !role.elements[2].elements.empty())
      redis_.command({"WAIT", "1", "2000"});
    return out;
  }
  if (redis_connection::transport_failure(r) || !r.is_error()) return unavailable(r);
  std::string e = error_text(r);
  if (e.rfind("NOT_READY ", 0) == 0) {
    reshard_result out = refused("shard " + e.substr(10) + " of the new set has no session yet");
    out.value.not_ready = static_cast<int>(std::strtol(e.c_str() + 10, nullptr, 10));
    return out;
  }
  if (e == "GONE") return refused("no reshard to " + std::to_string(to) + " shards is in progress");
  if (e == "NOT_MASTER") return refused("this node is no longer the master of epoch " + std::to_string(epoch));
  return reshard_result::failed(e);
}

reshard_result reshard_store::abandon(int to) {
  auto r = redis_.eval(abandon_script.text, abandon_script.sha,
                       {keys_.reshard(), keys_.reshard_held(), keys_.reshard_seen(), keys_.reshard_present(),
                        keys_.reshard_live()},
                       {std::to_string(to)});
  if (r.type != redis_reply::integer) return unavailable(r);
  if (r.number == 1) return reshard_result::done();
  return refused("no reshard to " + std::to_string(to) + " shards is in progress");
}

store_result<> reshard_store::set_live(int id, const std::string& session_id) {
  auto r = session_id.empty() ? redis_.command({"HDEL", keys_.reshard_live(), std::to_string(id)})
                              : redis_.command({"HSET", keys_.reshard_live(), std::to_string(id), session_id});
  if (r.type == redis_reply::integer) return store_result<>::done();
  return store_result<>::failed(r.text.empty() ? "unexpected reply from Redis" : r.text);
}

}  // namespace g::net
