#include "net/redis/stream_trim.hpp"

#include "net/redis/lua_script.hpp"

namespace g::net {

namespace {

// KEYS: events. ARGV: maxlen, hard, protect ('*': every group; otherwise the names that follow).
// Returns {length, trimmed, held_by, over_hard, {name, lag, pending, protected, unread_trimmed, pending_trimmed}…}.
//
// A protected group needs every entry after its last-delivered-id and every entry still in its pending list; the
// oldest such entry over all protected groups is the floor. XTRIM MINID ~ floor LIMIT (length - maxlen) removes old
// entries up to maxlen's worth and never one at or above the floor. Past `hard`, the oldest entries go whatever the
// groups need, and the script counts per group what it cut that the group had not read (-1: Redis cannot tell the
// group's lag) or acknowledged.
const lua_script trim_script{R"lua(
local function id_of(text)
  local ms, seq = string.match(text, '^(%d+)-(%d+)$')
  return {tonumber(ms), tonumber(seq)}
end
local function text_of(id) return id[1] .. '-' .. id[2] end
local function before(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function first_entry() return redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1] end
local maxlen, hard = tonumber(ARGV[1]), tonumber(ARGV[2])
local wanted = {}
for i = 4, #ARGV do wanted[ARGV[i]] = true end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, '', 0} end
local length = redis.call('XLEN', KEYS[1])
local first = length > 0 and first_entry() or '0-0'
local groups, floor, floor_group = {}, nil, ''
for _, raw in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  local g = {name = f['name'], lag = f['lag'] or -1, pending = f['pending'],
             protected = ARGV[3] == '*' or wanted[f['name']] == true, last = id_of(f['last-delivered-id'])}
  if g.protected then
    local need = {g.last[1], g.last[2] + 1}
    if g.pending > 0 then
      -- The oldest pending entry still in the stream (ids pending from an earlier hard cut keep nothing).
      local oldest = redis.call('XPENDING', KEYS[1], g.name, first, '+', 1)[1]
      if oldest and before(id_of(oldest[1]), need) then need = id_of(oldest[1]) end
    end
    if not floor or before(need, floor) then floor, floor_group = need, g.name end
  end
  table.insert(groups, g)
end
local trimmed, held_by, over_hard = 0, '', 0
if length > maxlen then
  if floor then
    trimmed = redis.call('XTRIM', KEYS[1], 'MINID', '~', text_of(floor), 'LIMIT', length - maxlen)
  else
    trimmed = redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', maxlen, 'LIMIT', 0)  -- 0: no cap on one call's work
  end
  length = length - trimmed
  -- Approximate trimming leaves up to a macro node (100 entries) more: only a real hold-up counts.
  if floor and length > maxlen + 200 then held_by = floor_group end
end
for _, g in ipairs(groups) do g.unread, g.unacked = 0, 0 end
if length > hard then
  -- Cut to the hard cap exactly. What each protected group lost: by its lag (entries not delivered to it yet),
  -- lag - length of them are gone now and lag - length_before were gone already; and its pending ids between the
  -- old first entry and the new one (those of earlier cuts are not counted again).
  local before_cut, first_before = length, first
  trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MAXLEN', hard)
  length = redis.call('XLEN', KEYS[1])
  local first_now = first_entry()
  for _, g in ipairs(groups) do
    if g.protected then
      if g.lag >= 0 then g.unread = math.max(0, g.lag - length) - math.max(0, g.lag - before_cut) else g.unread = -1 end
      if g.pending > 0 then
        g.unacked = #redis.call('XPENDING', KEYS[1], g.name, first_before, '(' .. first_now, g.pending)
      end
      if g.unread ~= 0 or g.unacked > 0 then over_hard = 1 end
    end
  end
end
local out = {length, trimmed, held_by, over_hard}
for _, g in ipairs(groups) do
  table.insert(out, {g.name, g.lag, g.pending, g.protected and 1 or 0, g.unread, g.unacked})
end
return out
)lua"};

}  // namespace

store_result<trim_report> trim_stream(redis_connection& redis, const std::string& events_key, const trim_policy& policy) {
  trim_report out;
  std::vector<std::string> args = {std::to_string(policy.maxlen), std::to_string(policy.hard), policy.every_group ? "*" : "-"};
  if (!policy.every_group) args.insert(args.end(), policy.groups.begin(), policy.groups.end());
  std::vector<std::string_view> argv(args.begin(), args.end());
  auto r = redis.eval(trim_script.text, trim_script.sha, {events_key}, argv);
  if (r.type != redis_reply::array || r.elements.size() < 4)
    return store_result<trim_report>::failed(r.is_error() ? r.text : "unexpected reply to the trim script");
  out.length = r.elements[0].number;
  out.trimmed = r.elements[1].number;
  out.held_by = r.elements[2].text;
  out.over_hard = r.elements[3].number != 0;
  for (std::size_t i = 4; i < r.elements.size(); ++i) {
    const auto& g = r.elements[i].elements;
    if (g.size() < 6) continue;
    out.groups.push_back({g[0].text, g[1].number, g[2].number, g[3].number != 0, g[4].number, g[5].number});
  }
  return store_result<trim_report>::done(std::move(out));
}

}  // namespace g::net
