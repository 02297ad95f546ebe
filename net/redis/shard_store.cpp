#include "net/redis/shard_store.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include "net/redis/lua_script.hpp"
#include "net/redis/resp.hpp"

namespace g::net {

namespace {

// KEYS: owner, session, events, shard_count, reshard, reshard:held, reshard:seen, reshard:present. ARGV: node,
// session_id, resume_url, now_ms, maxlen, shard, lease_ms, total, in force ('1': the node's set in force), then
// (seq, t, d, ts, guild)…
//
// Which stream: the shard set in force (`shard_count`; while unset, the set of the first commit) writes to `events`; the set a
// reshard is preparing (`reshard`.to) writes to `reshard:held`; any other set was superseded and is refused
// (SUPERSEDED), so the two sets never both write the stream. While a preparation runs, the set in force notes
// what it writes in `reshard:seen` (SHA-1 of t and d → its guild and the times it was received): Discord sends
// both sessions the same payload, and the switch (reshard_store) recognises the held events the stream already has
// by it. The new set notes in `reshard:present` when each guild's GUILD_CREATE opened it in the new session (t
// "*"). After the switch what is left of `reshard:seen` lives on briefly: the new set's commits skip the events it
// still notes.
//
// A lease that expired without anyone taking it (Redis stalled, say) is taken back, unless this node gave it up
// itself (`released_by`, written by release_lease): a commit still in flight when a node hands a shard over must
// not take the lease back in the moment before the new owner acquires it. A lease held by another node fences
// this one. A commit clears `released_by`: whoever commits holds the shard. Each entry names the shard's previous
// entry in `prev` (kept in the session hash as `last_id`, across sessions), so a reader can tell that it holds the
// next entry of a shard without reading the stream in between (g-cache applies each shard's entries in that order).
const lua_script commit_script{R"lua(
local stream = KEYS[3]
local in_force = redis.call('GET', KEYS[4])
local count_seen, skip_seen = false, false
if not in_force then
  -- Unset (a Redis restart without persistence, say): the set a node runs as in force sets it; a prepared set waits
  -- (its preparation is gone with the rest, and the master gives it up).
  if ARGV[9] ~= '1' then return redis.error_reply('NO_COUNT') end
  redis.call('SET', KEYS[4], ARGV[8])
  in_force = ARGV[8]
end
if in_force ~= ARGV[8] then
  if redis.call('HGET', KEYS[5], 'to') ~= ARGV[8] then return redis.error_reply('SUPERSEDED ' .. in_force) end
  stream = KEYS[6]
elseif redis.call('EXISTS', KEYS[5]) == 1 then
  count_seen = true
elseif redis.call('EXISTS', KEYS[7]) == 1 then
  skip_seen = true
end
local owner = redis.call('GET', KEYS[1])
if owner == false then
  -- Taken back only by the node that committed last (or by anyone when the record is gone: a Redis restart without
  -- persistence): a former owner's commit arriving late, after another node committed and let the lease go in a
  -- migration, is fenced.
  local session = redis.call('HMGET', KEYS[2], 'released_by', 'node')
  if session[1] == ARGV[1] or (session[2] and session[2] ~= ARGV[1]) then return redis.error_reply('FENCED') end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[7])
elseif owner ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
local stored = redis.call('HMGET', KEYS[2], 'session_id', 'seq', 'last_id')
local committed = 0
if stored[1] == ARGV[2] and stored[2] then committed = tonumber(stored[2]) end
local last = stored[3] or '0-0'
local appended = 0
for i = 10, #ARGV, 5 do
  local seq = tonumber(ARGV[i])
  if seq > committed + 1 then return redis.error_reply('GAP ' .. committed) end
  if seq == committed + 1 then
    -- An event filtered out by the node's [events] settings comes with an empty t: it moves the seq, writes nothing.
    -- So does one that opens a prepared session ("*"), noting when its guild ("0": DMs, on shard 0) came.
    local t = ARGV[i + 1]
    -- A prepared set's GUILD_CREATE for a guild its session does not have yet opens it too: after a takeover the
    -- new owner's RESUME replays initial GUILD_CREATEs that its node cannot tell apart (a guild the bot joins
    -- during the preparation: the set in force writes it).
    if t == 'GUILD_CREATE' and stream == KEYS[6] and redis.call('HEXISTS', KEYS[8], ARGV[i + 4]) == 0 then t = '*' end
    local write = t ~= '' and t ~= '*'
    if t == '*' and stream == KEYS[6] and (ARGV[i + 4] ~= '0' or ARGV[6] == '0') then
      redis.call('HSETNX', KEYS[8], ARGV[i + 4], ARGV[i + 3])
    end
    if write and (count_seen or skip_seen) then
      local h = redis.sha1hex(ARGV[i + 1] .. '\n' .. ARGV[i + 2])
      local noted = redis.call('HGET', KEYS[7], h)
      if count_seen then
        redis.call('HSET', KEYS[7], h, (noted or ARGV[i + 4]) .. ' ' .. ARGV[i + 3])
      elseif noted then
        write = false  -- the old set wrote it before the switch
        local guild, rest = string.match(noted, '^(%S+) %S+ (.+)$')
        if rest then redis.call('HSET', KEYS[7], h, guild .. ' ' .. rest) else redis.call('HDEL', KEYS[7], h) end
      end
    end
    if write then
      local maxlen = ARGV[5]
      if stream ~= KEYS[3] then maxlen = '0' end  -- held events are never trimmed
      if maxlen == '0' then
        last = redis.call('XADD', stream, '*', 'shard', ARGV[6], 'seq', ARGV[i], 't', ARGV[i + 1], 'd', ARGV[i + 2],
                          'node', ARGV[1], 'ts', ARGV[i + 3], 'prev', last)
      else
        last = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'shard', ARGV[6], 'seq', ARGV[i], 't', ARGV[i + 1],
                          'd', ARGV[i + 2], 'node', ARGV[1], 'ts', ARGV[i + 3], 'prev', last)
      end
      appended = appended + 1
    end
    committed = seq
  end
end
redis.call('HSET', KEYS[2], 'session_id', ARGV[2], 'seq', committed, 'resume_url', ARGV[3], 'node', ARGV[1],
           'updated', ARGV[4], 'last_id', last, 'released_by', '')
return {committed, appended}
)lua"};

// KEYS: owner. ARGV: node, lease_ms. {1} held; {0, pttl} held by another.
const lua_script acquire_script{R"lua(
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, redis.call('PTTL', KEYS[1])}
)lua"};

const lua_script renew_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua"};

// KEYS: leases. ARGV: node, lease_ms. For each lease: 1 renewed, 0 not this node's.
const lua_script renew_many_script{R"lua(
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then out[i] = redis.call('PEXPIRE', key, ARGV[2]) else out[i] = 0 end
end
return out
)lua"};

// Keys per call of the calls that take many: a call blocks Redis for everyone while it runs (about 1 µs a key).
constexpr std::size_t keys_per_call = 1000;

// KEYS: lease. ARGV: node, lease_ms, the holder known to be gone, the most ms its lease may have left. Takes the
// lease only from that holder, and only once it has gone unrenewed for a while (a live holder renews it often).
const lua_script steal_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[3] and redis.call('PTTL', KEYS[1]) <= tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua"};

// KEYS: epoch. ARGV: the highest epoch the caller has seen. The next epoch, above that one too.
const lua_script epoch_script{R"lua(
local e = redis.call('INCR', KEYS[1])
local known = tonumber(ARGV[1])
if e <= known then
  e = known + 1
  redis.call('SET', KEYS[1], e)
end
return e
)lua"};

const lua_script release_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua"};

// KEYS: owner, session. ARGV: node. A shard's lease given up: free for the next owner, and marked in the session
// hash so that this node's own commits still in flight cannot take it back (commit_script).
const lua_script release_shard_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'released_by', ARGV[1]) end
  return 1
end
return 0
)lua"};

// KEYS: owner, session. ARGV: node, session id.
const lua_script forget_script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], 'session_id') == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
)lua"};

}  // namespace

shard_store::shard_store(redis_connection& redis, const std::string& group, std::string node_id)
    : redis_(redis), keys_(group), node_(std::move(node_id)) {}

namespace {

// Why a reply is not the expected one: Redis's error, or what came instead.
std::string unexpected(const redis_reply& r) {
  if (r.is_error()) return r.text;
  static const char* const kinds[] = {"nil", "integer", "string", "status", "error", "array"};
  return std::string("unexpected reply: ") + kinds[r.type] + (r.text.empty() ? "" : " '" + r.text.substr(0, 80) + "'");
}

// A script or command that answers 1 when it did what was asked, 0 when it belonged to another node.
store_result<> done_or_refused(const redis_reply& r, const char* refused) {
  if (r.type == redis_reply::integer && r.number == 1) return store_result<>::done();
  if (r.type == redis_reply::integer && r.number == 0) return store_result<>::refused(refused);
  return store_result<>::failed(unexpected(r));
}

// A write whose reply is a count (HSET, HDEL) or OK.
store_result<> done_if_written(const redis_reply& r) {
  if (r.type == redis_reply::integer || r.ok()) return store_result<>::done();
  return store_result<>::failed(unexpected(r));
}

bool to_int(const std::string& text, std::int64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "1,2,3" (or "") → guild ids.
bool read_guild_list(const std::string& text, std::vector<std::uint64_t>& out) {
  const char* at = text.data();
  const char* end = at + text.size();
  while (at < end) {
    std::uint64_t id = 0;
    auto [next, ec] = std::from_chars(at, end, id);
    if (ec != std::errc() || (next != end && *next != ',')) return false;
    out.push_back(id);
    at = next == end ? end : next + 1;
  }
  return true;
}

}  // namespace

// The lease logic serves both the shards' leases and the master's.
store_result<std::int64_t> shard_store::acquire(const std::string& key, std::int64_t lease_ms) {
  std::string ms = std::to_string(lease_ms);
  auto r = redis_.eval(acquire_script.text, acquire_script.sha, {key}, {node_, ms});
  if (r.type != redis_reply::array || r.elements.empty() || r.elements[0].type != redis_reply::integer)
    return store_result<std::int64_t>::failed(unexpected(r));
  if (r.elements[0].number == 1) return store_result<std::int64_t>::done(0);
  const std::int64_t left = r.elements.size() > 1 && r.elements[1].number > 0 ? r.elements[1].number : 1;
  return store_result<std::int64_t>::refused("held by another node", left);
}

store_result<> shard_store::renew(const std::string& key, std::int64_t lease_ms) {
  std::string ms = std::to_string(lease_ms);
  return done_or_refused(redis_.eval(renew_script.text, renew_script.sha, {key}, {node_, ms}),
                         "not held by this node any more");
}

store_result<> shard_store::release(const std::string& key) {
  return done_or_refused(redis_.eval(release_script.text, release_script.sha, {key}, {node_}), "not held by this node");
}

std::vector<store_result<>> shard_store::renew_leases(int total, const std::vector<int>& ids, std::int64_t lease_ms) {
  std::vector<store_result<>> out;
  out.reserve(ids.size());
  const std::string ms = std::to_string(lease_ms);
  for (std::size_t from = 0; from < ids.size(); from += keys_per_call) {
    const std::size_t n = std::min(keys_per_call, ids.size() - from);
    std::vector<std::string> keys;
    keys.reserve(n);
    for (std::size_t i = 0; i < n; ++i) keys.push_back(keys_.owner(total, ids[from + i]));
    auto r = redis_.eval(renew_many_script.text, renew_many_script.sha, std::vector<std::string_view>(keys.begin(), keys.end()), {node_, ms});
    const bool answered = r.type == redis_reply::array && r.elements.size() == n;
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(answered ? done_or_refused(r.elements[i], "not held by this node any more")
                             : store_result<>::failed(unexpected(r)));
  }
  return out;
}

store_result<std::int64_t> shard_store::acquire_lease(int total, int id, std::int64_t lease_ms) {
  return acquire(keys_.owner(total, id), lease_ms);
}

store_result<> shard_store::renew_lease(int total, int id, std::int64_t lease_ms) { return renew(keys_.owner(total, id), lease_ms); }

store_result<> shard_store::take_over_lease(int total, int id, std::int64_t lease_ms) {
  auto r = redis_.command({"SET", keys_.owner(total, id), node_, "PX", std::to_string(lease_ms)});
  return r.ok() ? store_result<>::done() : store_result<>::failed(unexpected(r));
}

store_result<> shard_store::release_lease(int total, int id) {
  return done_or_refused(redis_.eval(release_shard_script.text, release_shard_script.sha,
                                     {keys_.owner(total, id), keys_.session(total, id)}, {node_}),
                         "not held by this node");
}

store_result<> shard_store::forget_session(int total, int id, const std::string& session_id) {
  return done_or_refused(redis_.eval(forget_script.text, forget_script.sha, {keys_.owner(total, id), keys_.session(total, id)},
                                     {node_, session_id}),
                         "refused");
}

store_result<std::uint64_t> shard_store::claim_master(std::int64_t lease_ms, const std::vector<std::string>& departed,
                                                      std::uint64_t known_epoch, const std::vector<std::string>& gone) {
  using result = store_result<std::uint64_t>;
  auto lease = acquire(keys_.master(), lease_ms);
  if (lease.unavailable()) return result::failed(lease.reason);
  if (lease.lost()) {
    auto holder = redis_.command({"GET", keys_.master()});
    if (holder.is_error()) return result::failed(unexpected(holder));
    auto in = [&](const std::vector<std::string>& ids) {
      return holder.type == redis_reply::string && std::find(ids.begin(), ids.end(), holder.text) != ids.end();
    };
    if (!in(departed) && !in(gone)) return result::refused("node " + holder.text + " is master");
    // The master renews every 250 ms: a lease unrenewed for three renewals belongs to a master that is gone or
    // frozen. One whose process is gone (Redis closed its connection) need not be waited for at all.
    std::string most_left = std::to_string(in(gone) ? lease_ms : std::max<std::int64_t>(0, lease_ms - 750));
    auto r = redis_.eval(steal_script.text, steal_script.sha, {keys_.master()}, {node_, std::to_string(lease_ms), holder.text, most_left});
    auto stolen = done_or_refused(r, "the departed master still renews its lease");
    if (!stolen.ok()) return {stolen.outcome, 0, stolen.reason};
  }
  auto epoch = redis_.eval(epoch_script.text, epoch_script.sha, {keys_.epoch()}, {std::to_string(known_epoch)});
  if (epoch.type != redis_reply::integer) return result::failed(unexpected(epoch));
  return result::done(static_cast<std::uint64_t>(epoch.number));
}

store_result<> shard_store::keep_master(std::int64_t lease_ms) {
  auto r = acquire(keys_.master(), lease_ms);
  return {r.outcome, {}, r.reason};
}

store_result<> shard_store::resign_master() { return release(keys_.master()); }

store_result<> shard_store::register_node(const std::string& entry, int shard_total) {
  // NX: the total in force changes only by a reshard's switch; a node never sets it back.
  auto r = redis_.pipeline({{"SET", keys_.shard_count(), std::to_string(shard_total), "NX"}, {"HSET", keys_.nodes(), node_, entry}});
  if (r.size() != 2) return store_result<>::failed("no reply");
  if (!r[0].ok() && r[0].type != redis_reply::nil) return store_result<>::failed(unexpected(r[0]));  // nil: set already
  return done_if_written(r[1]);
}

store_result<> shard_store::unregister_node(const std::string& id) { return done_if_written(redis_.command({"HDEL", keys_.nodes(), id})); }

store_result<std::vector<std::string>> shard_store::connected_nodes(long max_idle_s) {
  using result = store_result<std::vector<std::string>>;
  auto r = redis_.command({"CLIENT", "LIST", "TYPE", "normal"});
  if (r.type != redis_reply::string) return result::failed(unexpected(r));
  // One line per connection: "id=7 addr=… name=g-node:<group>:<node id> age=… idle=<s> …". A node's connection is
  // busy (leases, commits, the view every second); one idle for longer is a dead host's that Redis has not noticed
  // yet (no FIN came: it learns by TCP keepalive, minutes later), or a frozen process's.
  const std::string mark = " name=" + keys_.client_name("");
  std::vector<std::string> out;
  std::size_t line = 0;
  while (line < r.text.size()) {
    std::size_t end = r.text.find('\n', line);
    if (end == std::string::npos) end = r.text.size();
    const std::string_view l(r.text.data() + line, end - line);
    line = end + 1;
    const std::size_t at = l.find(mark), idle = l.find(" idle=");
    if (at == std::string_view::npos || idle == std::string_view::npos) continue;
    if (std::strtol(l.data() + idle + 6, nullptr, 10) > max_idle_s) continue;
    const std::size_t from = at + mark.size();
    out.emplace_back(l.substr(from, l.find(' ', from) - from));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return result::done(std::move(out));
}

store_result<std::vector<std::string>> shard_store::lease_holders(int total) {
  using result = store_result<std::vector<std::string>>;
  std::vector<std::string> out(static_cast<std::size_t>(std::max(total, 0)));
  if (total <= 0) return result::done(std::move(out));
  std::vector<std::string> keys;
  for (int i = 0; i < total; ++i) keys.push_back(keys_.owner(total, i));
  std::vector<std::string_view> argv = {"MGET"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  auto r = redis_.command(argv);
  if (r.type != redis_reply::array || r.elements.size() != out.size()) return result::failed(unexpected(r));
  for (std::size_t i = 0; i < r.elements.size(); ++i)
    if (r.elements[i].type == redis_reply::string) out[i] = r.elements[i].text;
  return result::done(std::move(out));
}

store_result<std::string> shard_store::lease_holder(int total, int id) {
  auto r = redis_.command({"GET", keys_.owner(total, id)});
  if (r.type == redis_reply::nil) return store_result<std::string>::done("");
  if (r.type != redis_reply::string) return store_result<std::string>::failed(unexpected(r));
  return store_result<std::string>::done(r.text);
}

store_result<std::optional<session_record>> shard_store::load_session(int total, int id) {
  using result = store_result<std::optional<session_record>>;
  auto r = redis_.command({"HGETALL", keys_.session(total, id)});
  if (r.type != redis_reply::array || r.elements.size() % 2 != 0) return result::failed(unexpected(r));
  session_record s;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const std::string& k = r.elements[i].text;
    const std::string& v = r.elements[i + 1].text;
    bool readable = true;
    if (k == "session_id") s.session_id = v;
    else if (k == "seq") readable = to_int(v, s.seq);
    else if (k == "resume_url") s.resume_url = v;
    else if (k == "node") s.node = v;
    else if (k == "updated") readable = to_int(v, s.updated_ms);
    else if (k == "chunk_pending") readable = read_guild_list(v, s.chunk_pending);
    if (!readable) return result::failed("session record " + keys_.session(total, id) + ": " + k + " = '" + v + "' is not a number");
  }
  if (s.session_id.empty()) return result::done(std::nullopt);
  if (!s.chunk_pending.empty()) {  // taken: another load (the next owner after this one) does not repeat them
    auto taken = redis_.command({"HDEL", keys_.session(total, id), "chunk_pending"});
    if (taken.type != redis_reply::integer) return result::failed(unexpected(taken));
  }
  return result::done(std::move(s));
}

store_result<> shard_store::save_chunk_pending(int total, int id, const std::vector<std::uint64_t>& guilds) {
  std::string list;
  for (auto g : guilds) list += (list.empty() ? "" : ",") + std::to_string(g);
  return done_if_written(redis_.command({"HSET", keys_.session(total, id), "chunk_pending", list}));
}

namespace {

// The EVALSHA of one commit up to its events (keys, then ARGV 1-9: commit_script), owned.
std::vector<std::string> commit_arguments(const redis_keys& keys, const std::string& node, const shard_store::commit_request& r) {
  return {"EVALSHA", commit_script.sha, "8", keys.owner(r.total, r.id), keys.session(r.total, r.id), keys.events(),
          keys.shard_count(), keys.reshard(), keys.reshard_held(), keys.reshard_seen(), keys.reshard_present(), node,
          *r.session_id, *r.resume_url, std::to_string(r.now_ms), std::to_string(r.stream_maxlen), std::to_string(r.id),
          std::to_string(r.lease_ms), std::to_string(r.total), r.in_force ? "1" : "0"};
}

// The EVALSHA of one commit: its argument texts (owned), the events' numbers in one buffer (a guild id is too long
// for a string's inline storage: one allocation per call, not one per event), and the views hiredis is given.
struct commit_call {
  std::vector<std::string> texts;
  std::string digits;
  std::vector<std::string_view> argv;
};

commit_call make_commit_call(const redis_keys& keys, const std::string& node, const shard_store::commit_request& r) {
  commit_call c;
  const auto& events = *r.events;
  c.texts = commit_arguments(keys, node, r);  // views into `texts` and `digits` are taken below: no reallocation
  c.digits.reserve(events.size() * 3 * 20);   // three numbers of at most 20 digits per event
  c.argv.assign(c.texts.begin(), c.texts.end());
  c.argv.reserve(c.argv.size() + events.size() * 5);
  auto number = [&](auto n) -> std::string_view {
    char buf[20];
    auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
    const std::size_t at = c.digits.size();
    c.digits.append(buf, end);
    return std::string_view(c.digits).substr(at);
  };
  for (const auto& e : events) {
    std::string_view seq = number(e.seq), ts = number(e.ts_ms), guild = number(e.guild_id);
    c.argv.insert(c.argv.end(), {seq, e.t, e.d, ts, guild});
  }
  return c;
}

}  // namespace

namespace {
constexpr std::size_t commit_fixed_arguments = 20;  // EVALSHA sha 8, 8 keys, 9 ARGV (commit_script)
constexpr std::size_t commit_session_argument = 12;  // ARGV[2], then resume_url and now_ms
}  // namespace

commit_head::commit_head(const redis_keys& keys, const std::string& node, int total, int id, std::int64_t lease_ms) {
  const std::string none;
  shard_store::commit_request r;
  r.total = total;
  r.id = id;
  r.session_id = r.resume_url = &none;
  r.lease_ms = lease_ms;
  auto args = commit_arguments(keys, node, r);
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {  // the last one, "in force", is the commit's own
    if (i < commit_session_argument) resp::append_bulk(before_session_, args[i]);
    if (i >= commit_session_argument + 3) resp::append_bulk(after_now_, args[i]);
  }
}

std::string commit_head::encode(const std::string& session_id, const std::string& resume_url, std::int64_t now_ms,
                                bool in_force, std::size_t events) const {
  std::string out;
  out.reserve(before_session_.size() + after_now_.size() + session_id.size() + resume_url.size() + 64);
  resp::append_array_header(out, commit_fixed_arguments + events * 5);
  out += before_session_;
  resp::append_bulk(out, session_id);
  resp::append_bulk(out, resume_url);
  resp::append_bulk_number(out, now_ms);
  out += after_now_;
  resp::append_bulk(out, in_force ? "1" : "0");
  return out;
}

const std::string& commit_script_text() { return commit_script.text; }

commit_result read_commit_reply(const redis_reply& r, int id) {
  // Redis may prefix a script's error with "ERR ".
  std::string_view error = r.text;
  if (r.is_error() && error.rfind("ERR ", 0) == 0) error.remove_prefix(4);
  commit_outcome o;
  if (r.type == redis_reply::array && r.elements.size() == 2 && r.elements[0].type == redis_reply::integer &&
      r.elements[1].type == redis_reply::integer) {
    o.committed_seq = r.elements[0].number;
    o.appended = r.elements[1].number;
    return commit_result::done(o);
  }
  if (r.is_error() && error.rfind("FENCED", 0) == 0) {
    o.refused = commit_outcome::fenced;
    return commit_result::refused("lease lost: another node owns shard " + std::to_string(id), o);
  }
  if (r.is_error() && error.rfind("SUPERSEDED ", 0) == 0) {
    o.refused = commit_outcome::superseded;
    return commit_result::refused("a reshard switched the stream to " + std::string(error.substr(11)) + " shards", o);
  }
  std::int64_t committed = 0;
  if (r.is_error() && error.rfind("GAP ", 0) == 0 && to_int(std::string(error.substr(4)), committed)) {
    o.refused = commit_outcome::gap;
    o.committed_seq = committed;
    return commit_result::refused("events after seq " + std::to_string(committed) + " are missing", o);
  }
  return commit_result::failed(unexpected(r));
}


std::vector<commit_result> shard_store::commit_many(const std::vector<commit_request>& requests) {
  std::vector<commit_call> calls;
  calls.reserve(requests.size());
  std::vector<std::vector<std::string_view>> argvs;
  for (const auto& r : requests) {
    calls.push_back(make_commit_call(keys_, node_, r));
    argvs.push_back(std::move(calls.back().argv));  // `calls` keeps the texts the views point into
  }
  auto replies = redis_.pipeline(argvs);
  std::vector<commit_result> out;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (replies[i].is_error() && replies[i].text.rfind("NOSCRIPT", 0) == 0) {
      // Redis restarted (or flushed its scripts): this one again with the script itself; the next will find it.
      auto argv = argvs[i];
      argv[0] = "EVAL";
      argv[1] = commit_script.text;
      replies[i] = redis_.command(argv);
    }
    out.push_back(read_commit_reply(replies[i], requests[i].id));
  }
  return out;
}

commit_result shard_store::commit(int total, int id, const std::string& session_id, const std::string& resume_url,
                                  const std::vector<stream_event>& events, std::uint64_t stream_maxlen,
                                  std::int64_t now_ms, std::int64_t lease_ms) {
  return commit_many({{total, id, &session_id, &resume_url, &events, stream_maxlen, now_ms, lease_ms}}).front();
}

store_result<std::int64_t> shard_store::take_identify_slot(int bucket, std::int64_t slot_ms) {
  using result = store_result<std::int64_t>;
  std::string key = keys_.identify(bucket), ms = std::to_string(slot_ms);
  auto r = redis_.command({"SET", key, node_, "NX", "PX", ms});
  if (r.ok()) return result::done(0);
  if (r.type != redis_reply::nil) return result::failed(unexpected(r));
  auto ttl = redis_.command({"PTTL", key});
  if (ttl.type != redis_reply::integer) return result::failed(unexpected(ttl));
  return result::refused("taken", ttl.number > 0 ? ttl.number : 1);
}

store_result<> shard_store::extend_identify_slot(int bucket, std::int64_t slot_ms) {
  // The renew script: PEXPIRE only while the slot is this node's.
  return renew(keys_.identify(bucket), slot_ms);
}

store_result<> shard_store::set_status(int id, const std::string& json) { return set_statuses({{id, json}}); }

store_result<> shard_store::set_statuses(const std::vector<std::pair<int, std::string>>& lines) {
  const std::string key = keys_.status();
  for (std::size_t from = 0; from < lines.size(); from += keys_per_call) {
    const std::size_t n = std::min(keys_per_call, lines.size() - from);
    std::vector<std::string> ids;
    ids.reserve(n);
    std::vector<std::string_view> argv = {"HSET", key};
    for (std::size_t i = 0; i < n; ++i) ids.push_back(std::to_string(lines[from + i].first));
    for (std::size_t i = 0; i < n; ++i) {
      argv.push_back(ids[i]);
      argv.push_back(lines[from + i].second);
    }
    auto r = done_if_written(redis_.command(argv));
    if (!r.ok()) return r;
  }
  return store_result<>::done();
}

}  // namespace g::net
