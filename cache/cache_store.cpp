#include "cache/cache_store.hpp"

#include <cstdlib>

namespace g::cache {

namespace {

// ARGV: prefix, events key, group, entry id, shard, seq, prev ('*': do not check), session ('' : keep the
// marker's), then the ops (event_plan.hpp). The entry is applied only when the shard's last applied entry is its
// `prev`, so each shard's entries apply once and in stream order whichever worker holds them; the writes, the
// marker and the acknowledgement move together.
const std::string apply_script = R"lua(
local p = ARGV[1]
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local shard, id = ARGV[5], ARGV[4]
local last = redis.call('HGET', p .. 'cache:applied_id', shard) or '0-0'
if not older(last, id) then
  redis.call('XACK', ARGV[2], ARGV[3], id)
  return 'DUP'
end
if ARGV[7] ~= '*' and ARGV[7] ~= last then return 'WAIT ' .. last end

local hashes = {':channels', ':threads', ':roles', ':members', ':emojis', ':stickers', ':voice_states', ':presences'}
local function clear_guild(g)
  local base = p .. 'cache:guild:' .. g
  for _, h in ipairs({':channels', ':threads'}) do
    for _, c in ipairs(redis.call('HKEYS', base .. h)) do redis.call('UNLINK', p .. 'cache:channel:' .. c) end
  end
  for _, h in ipairs(hashes) do redis.call('UNLINK', base .. h) end
end
local function set_shard(g, s)
  local old = redis.call('HGET', p .. 'cache:guilds', g)
  if old and old ~= s then redis.call('SREM', p .. 'cache:shard:' .. old .. ':guilds', g) end
  redis.call('HSET', p .. 'cache:guilds', g, s)
  redis.call('SADD', p .. 'cache:shard:' .. s .. ':guilds', g)
end
local function drop_guild(g)
  clear_guild(g)
  redis.call('UNLINK', p .. 'cache:guild:' .. g)
  local old = redis.call('HGET', p .. 'cache:guilds', g)
  if old then redis.call('SREM', p .. 'cache:shard:' .. old .. ':guilds', g) end
  redis.call('HDEL', p .. 'cache:guilds', g)
end

local i = 9
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'S' then redis.call('SET', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'D' then redis.call('UNLINK', ARGV[i + 1]); i = i + 2
  elseif op == 'H' then redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'X' then redis.call('HDEL', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'G' then drop_guild(ARGV[i + 1]); i = i + 2
  elseif op == 'C' then clear_guild(ARGV[i + 1]); i = i + 2
  elseif op == 'M' then set_shard(ARGV[i + 1], ARGV[i + 2]); i = i + 3
  else return redis.error_reply('unknown cache op ' .. tostring(op)) end
end

-- The marker: READY names its session; other entries continue the marker's session (or, for the first entry a
-- worker sees of a shard, the session G has stored for it).
local session = ARGV[8]
if session == '' then
  local marker = redis.call('HGET', p .. 'cache:applied', shard)
  if marker then session = string.match(marker, '^(.*):%d+$') or '' end
  if session == '' then
    local total = redis.call('GET', p .. 'shard_count')
    if total then session = redis.call('HGET', p .. 'session:' .. total .. ':' .. shard, 'session_id') or '' end
  end
end
redis.call('HSET', p .. 'cache:applied', shard, session .. ':' .. ARGV[6])
redis.call('HSET', p .. 'cache:applied_id', shard, id)
redis.call('XACK', ARGV[2], ARGV[3], id)
return 'OK'
)lua";

const std::string& apply_sha() {
  static const std::string sha = net::redis_connection::sha1_hex(apply_script);
  return sha;
}

}  // namespace

cache_store::cache_store(net::redis_connection& redis, const cache_keys& keys, std::string group, std::string consumer)
    : redis_(redis), keys_(keys), group_(std::move(group)), consumer_(std::move(consumer)) {}

net::store_result<> cache_store::prepare() {
  auto r = redis_.command({"XGROUP", "CREATE", keys_.events(), group_, "0", "MKSTREAM"});
  if (r.is_error() && r.text.rfind("BUSYGROUP", 0) != 0)
    return net::store_result<>::failed("cannot create consumer group " + group_ + " on " + keys_.events() + ": " + r.text);
  auto v = redis_.command({"SET", keys_.version(), std::string(cache_version)});
  if (!v.ok()) return net::store_result<>::failed("cannot write " + keys_.version() + ": " + v.text);
  return net::store_result<>::done();
}

cache_store::entries cache_store::entries_of(const net::redis_reply& r, bool nested_stream) {
  std::string error;
  auto parsed = net::parse_stream_entries(r, nested_stream, error);
  if (!parsed) return entries::failed(error.empty() ? "unreadable stream entries" : error);
  return entries::done(std::move(*parsed));
}

cache_store::entries cache_store::read_new(int count, int block_ms) {
  // XREADGROUP's BLOCK 0 waits for ever: no wait means no BLOCK.
  std::string count_text = std::to_string(count), block_text = std::to_string(block_ms);
  std::vector<std::string_view> argv = {"XREADGROUP", "GROUP", group_, consumer_, "COUNT", count_text};
  if (block_ms > 0) argv.insert(argv.end(), {"BLOCK", block_text});
  argv.insert(argv.end(), {"STREAMS", keys_.events(), ">"});
  auto r = redis_.command(argv);
  return entries_of(r, true);
}

cache_store::entries cache_store::read_own_pending(int count) {
  auto r = redis_.command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT", std::to_string(count), "STREAMS",
                           keys_.events(), "0"});
  return entries_of(r, true);
}

cache_store::entries cache_store::claim_idle(std::int64_t idle_ms, int count) {
  auto r = redis_.command({"XAUTOCLAIM", keys_.events(), group_, consumer_, std::to_string(idle_ms), "0-0", "COUNT",
                           std::to_string(count)});
  if (r.is_error()) return entries::failed(r.text);
  if (r.elements.size() < 2) return entries::done();
  return entries_of(r.elements[1], false);
}

net::store_result<std::map<int, std::string>> cache_store::applied_ids(const std::vector<int>& shards) {
  using result = net::store_result<std::map<int, std::string>>;
  std::map<int, std::string> out;
  if (shards.empty()) return result::done();
  std::vector<std::string> args = {"HMGET", keys_.applied_id()};
  for (int s : shards) args.push_back(std::to_string(s));
  std::vector<std::string_view> argv(args.begin(), args.end());
  auto r = redis_.command(argv);
  if (r.is_error() || r.elements.size() != shards.size())
    return result::failed(r.is_error() ? r.text : "HMGET answered the wrong number of fields");
  for (std::size_t i = 0; i < shards.size(); ++i)
    out[shards[i]] = r.elements[i].type == net::redis_reply::string ? r.elements[i].text : "0-0";
  return result::done(std::move(out));
}

net::store_result<std::vector<read_result>> cache_store::read(const std::vector<read_request>& reqs) {
  using result = net::store_result<std::vector<read_result>>;
  std::vector<std::vector<std::string_view>> cmds;
  for (const auto& q : reqs) {
    switch (q.what) {
      case read_request::get: cmds.push_back({"GET", q.key}); break;
      case read_request::hget: cmds.push_back({"HGET", q.key, q.field}); break;
      case read_request::hgetall: cmds.push_back({"HGETALL", q.key}); break;
      case read_request::smembers: cmds.push_back({"SMEMBERS", q.key}); break;
    }
  }
  auto replies = redis_.pipeline(cmds);
  std::vector<read_result> out(reqs.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& r = replies[i];
    if (r.is_error()) return result::failed(r.text);
    read_result& x = out[i];
    if (reqs[i].what == read_request::hgetall) {
      x.found = !r.elements.empty();
      for (std::size_t k = 0; k + 1 < r.elements.size(); k += 2) x.pairs.emplace_back(r.elements[k].text, r.elements[k + 1].text);
    } else if (reqs[i].what == read_request::smembers) {
      x.found = !r.elements.empty();
      for (auto& m : r.elements) x.members.push_back(m.text);
    } else {
      x.found = r.type == net::redis_reply::string;
      x.value = r.text;
    }
  }
  return result::done(std::move(out));
}

net::store_result<std::vector<apply_outcome>> cache_store::apply(const std::vector<pending_apply>& batch) {
  net::store_result<std::vector<apply_outcome>> out{net::store_outcome::ok, std::vector<apply_outcome>(batch.size(), apply_outcome::failed), {}};
  if (batch.empty()) return out;
  std::vector<std::string> fixed;  // per entry: shard, seq (strings that must outlive the views)
  fixed.reserve(batch.size() * 2);
  const std::string events = keys_.events();
  std::vector<std::vector<std::string_view>> cmds;
  cmds.reserve(batch.size());
  for (const auto& b : batch) {
    fixed.push_back(std::to_string(b.entry->shard));
    fixed.push_back(std::to_string(b.entry->seq));
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& b = batch[i];
    std::vector<std::string_view> argv = {"EVALSHA", apply_sha(), "0", keys_.prefix, events, group_, b.entry->id,
                                          fixed[2 * i], fixed[2 * i + 1],
                                          b.check_prev ? std::string_view(b.entry->prev) : std::string_view("*"),
                                          b.plan.session_id};
    for (const auto& o : b.plan.ops) argv.push_back(o);
    cmds.push_back(std::move(argv));
  }
  auto replies = redis_.pipeline(cmds);
  if (!replies.empty() && replies[0].is_error() && replies[0].text.rfind("NOSCRIPT", 0) == 0) {
    redis_.command({"SCRIPT", "LOAD", apply_script});
    replies = redis_.pipeline(cmds);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& outcome = out.value[i];
    const net::redis_reply* r = i < replies.size() ? &replies[i] : nullptr;
    if (r && r->text == "OK" && !r->is_error()) outcome = apply_outcome::applied;
    else if (r && r->text == "DUP" && !r->is_error()) outcome = apply_outcome::duplicate;
    else if (r && !r->is_error() && r->text.rfind("WAIT", 0) == 0) outcome = apply_outcome::not_next;
    else if (out.ok()) {  // the first failure's reason stands for the batch
      out.outcome = net::store_outcome::unavailable;
      out.reason = !r ? "no reply" : r->is_error() ? r->text : "unexpected reply '" + r->text + "'";
    }
  }
  return out;
}

net::store_result<bool> cache_store::in_stream(const std::string& id) {
  auto r = redis_.command({"XRANGE", keys_.events(), id, id});
  if (r.is_error()) return net::store_result<bool>::failed(r.text);
  return net::store_result<bool>::done(!r.elements.empty());
}

net::store_result<bool> cache_store::pending(const std::string& id) {
  auto r = redis_.command({"XPENDING", keys_.events(), group_, id, id, "1"});
  if (r.is_error()) return net::store_result<bool>::failed(r.text);
  return net::store_result<bool>::done(!r.elements.empty());
}

net::store_result<std::optional<stream_entry>> cache_store::fetch(const std::string& id) {
  using result = net::store_result<std::optional<stream_entry>>;
  auto r = redis_.command({"XRANGE", keys_.events(), id, id});
  auto found = entries_of(r, false);
  if (!found.ok()) return result::failed(found.reason);
  if (found.value.empty()) return result::done();
  return result::done(std::move(found.value.front()));
}

}  // namespace g::cache
