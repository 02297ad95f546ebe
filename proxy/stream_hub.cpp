#include "proxy/stream_hub.hpp"
#include "net/log.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "proxy/bot_session.hpp"

namespace g::proxy {

namespace {

constexpr int round_size = 500;       // entries per catch-up XRANGE
constexpr int feed_batch = 1000;      // entries per XREAD
constexpr int feed_block_ms = 500;    // how long an XREAD waits (bounds how long stop() takes)
constexpr int mark_keep = 64;         // marks kept per session
constexpr std::int64_t shard_count_every_ms = 5000;

void log(const std::string& what) { LOG_INFO("proxy: %s", what.c_str()); }

// KEYS: the session's record and marks. ARGV: owner, ttl, mode, then the mode's arguments:
//   claim                      the caller owns the session from now on (a RESUME took it)
//   record  field value …      the record's fields
//   mark    only seq member keep   a mark (only = '1': the marks before it go)
//   keep                       the resume window starts again
//   end                        the session is gone
// Every mode but claim is refused (0) when another connection owns the session, so a connection a RESUME elsewhere
// has replaced can neither move the marks in its own numbering nor end the session under its new owner.
const std::string session_script = R"lua(
local owner, ttl, mode = ARGV[1], ARGV[2], ARGV[3]
if mode == 'claim' then
  redis.call('HSET', KEYS[1], 'owner', owner)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
local current = redis.call('HGET', KEYS[1], 'owner')
if current and current ~= owner then return 0 end
if mode == 'end' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
if mode == 'record' then
  redis.call('HSET', KEYS[1], 'owner', owner, unpack(ARGV, 4))
elseif mode == 'mark' then
  if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[7]) - 1)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
)lua";

const std::string& session_sha() {
  static const std::string sha = net::redis_connection::sha1_hex(session_script);
  return sha;
}

std::string random_instance() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

}  // namespace

stream_hub::stream_hub(net::redis_endpoint redis, const std::string& group, std::int64_t resume_window_ms,
                       post_fn post, clock_fn now)
    : endpoint_(std::move(redis)),
      prefix_("g:" + group + ":"),
      keys_(group),
      events_key_(prefix_ + "events"),
      instance_(random_instance()),
      resume_window_ms_(resume_window_ms),
      post_(std::move(post)),
      now_(std::move(now)) {}

stream_hub::~stream_hub() { stop(); }

void stream_hub::start() {
  {
    // Known before the first bot arrives (a RESUME is checked against it); later changes are read every 5 s.
    net::redis_connection redis(endpoint_);
    net::redis_reply r = redis.command({"GET", prefix_ + "shard_count"});
    if (r.type == net::redis_reply::string) shard_count_ = std::atoi(r.text.c_str());
  }
  reads_ = std::make_unique<net::redis_worker>(endpoint_);
  writes_ = std::make_unique<net::redis_worker>(endpoint_);
  feed_ = std::thread([this] { read_feed(); });
}

void stream_hub::stop() {
  stopping_ = true;
  if (feed_.joinable()) feed_.join();
  reads_.reset();
  writes_.reset();
}

// ---- the feed ------------------------------------------------------------------------------------------------

void stream_hub::read_feed() {
  net::redis_connection redis(endpoint_);
  std::string last;  // "" until the stream's end is known
  bool failing = false;
  auto trouble = [&](const std::string& what) {
    if (!failing) log("reading " + events_key_ + " at " + endpoint_.host + ":" + std::to_string(endpoint_.port) +
                      " failed: " + what + " (retrying)");
    failing = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  };
  while (!stopping_) {
    if (last.empty()) {
      // Start at the stream's end: what came before reaches a bot through its snapshot or its RESUME.
      net::redis_reply r = redis.command({"XREVRANGE", events_key_, "+", "-", "COUNT", "1"});
      if (r.is_error()) {
        trouble(r.text);
        continue;
      }
      last = r.elements.empty() || r.elements[0].elements.empty() ? "0-0" : r.elements[0].elements[0].text;
      post_([this, last] {
        position_ = last;
        for (auto& [conn, f] : followers_)
          if (!f.in_flight) next_round(conn);
      });
    }
    std::string count = std::to_string(feed_batch), block = std::to_string(feed_block_ms);
    net::redis_reply r = redis.command({"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", events_key_, last});
    std::string error;
    auto entries = net::parse_stream_entries(r, true, error);
    if (!entries) {
      trouble(error);
      continue;
    }
    if (failing) log("reading " + events_key_ + " again");
    failing = false;
    if (entries->empty()) continue;
    last = entries->back().id;
    auto b = std::make_shared<const std::vector<net::stream_entry>>(std::move(*entries));
    post_([this, b] { on_feed(b); });
  }
}

void stream_hub::on_feed(const batch& entries) {
  for (const auto& e : *entries) {
    auto it = live_.find(e.shard);
    if (it == live_.end()) continue;
    for (std::uint64_t conn : it->second)
      if (bot_session* s = find(conn)) s->offer(e);
  }
  position_ = entries->back().id;
}

// ---- sessions ------------------------------------------------------------------------------------------------

std::uint64_t stream_hub::attach(bot_session* s) {
  std::uint64_t conn = next_conn_++;
  sessions_[conn] = s;
  return conn;
}

void stream_hub::detach(std::uint64_t conn) {
  sessions_.erase(conn);
  followers_.erase(conn);
  leave_live(conn);
}

bot_session* stream_hub::find(std::uint64_t conn) const {
  auto it = sessions_.find(conn);
  return it == sessions_.end() ? nullptr : it->second;
}

void stream_hub::leave_live(std::uint64_t conn) {
  for (auto& [shard, conns] : live_) {
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      if (*it == conn) {
        conns.erase(it);
        return;
      }
    }
  }
}

void stream_hub::join_live(std::uint64_t conn, int shard) { live_[shard].push_back(conn); }

void stream_hub::tick(std::int64_t now_ms) {
  for (auto& [conn, s] : sessions_) s->tick(now_ms);
  for (auto& [conn, f] : followers_) {
    bot_session* s = find(conn);
    if (!f.in_flight && s && s->wants_more() && !position_.empty()) next_round(conn);
  }
  // Unknown yet (G is starting): asked often, since a bot's IDENTIFY is refused until it is known.
  const std::int64_t every = shard_count_ == 0 ? 250 : shard_count_every_ms;
  if (now_ms - shard_count_read_at_ >= every && writes_) {
    shard_count_read_at_ = now_ms;
    writes_->post([this, key = prefix_ + "shard_count"](net::redis_connection& redis) {
      net::redis_reply r = redis.command({"GET", key});
      if (r.is_error()) return post_([this, e = r.text] { redis_trouble("GET shard_count: " + e); });
      int n = r.type == net::redis_reply::string ? std::atoi(r.text.c_str()) : 0;
      post_([this, n] {
        if (n != shard_count_ && n > 0) log("G runs " + std::to_string(n) + " shards");
        shard_count_ = n;
        redis_down_ = false;
      });
    });
  }
}

void stream_hub::redis_trouble(const std::string& what) {
  if (!redis_down_) log("Redis at " + endpoint_.host + ":" + std::to_string(endpoint_.port) + " refused: " + what);
  redis_down_ = true;
}

// ---- snapshots, resumes, catching up -------------------------------------------------------------------------

void stream_hub::request_snapshot(std::uint64_t conn, int shard, bool presences) {
  reads_->post([this, conn, shard, presences](net::redis_connection& redis) {
    auto r = std::make_shared<snapshot_result>(read_snapshot(redis, prefix_, shard, presences));
    post_([this, conn, r] {
      if (bot_session* s = find(conn)) s->on_snapshot(std::move(*r), now_());
    });
  });
}

void stream_hub::request_resume(std::uint64_t conn, std::string session_id, std::int64_t seq) {
  reads_->post([this, conn, sid = std::move(session_id), seq](net::redis_connection& redis) {
    std::string score = std::to_string(seq);
    auto replies = redis.pipeline({{"HGETALL", keys_.session(sid)},
                                   {"ZREVRANGEBYSCORE", keys_.marks(sid), score, "-inf", "LIMIT", "0", "1"}});
    std::optional<resume_point> p;
    if (replies.size() != 2 || replies[0].is_error() || replies[1].is_error()) {
      p = resume_point{};
      p->error = replies.size() != 2 ? "no reply" : replies[0].is_error() ? replies[0].text : replies[1].text;
      post_([this, e = p->error] { redis_trouble("reading a proxy session: " + e); });
    } else if (!replies[0].elements.empty()) {
      resume_point rp;
      rp.record.session_id = sid;
      const auto& f = replies[0].elements;
      for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
        const std::string &k = f[i].text, &v = f[i + 1].text;
        if (k == "shard") rp.record.shard = std::atoi(v.c_str());
        else if (k == "total") rp.record.total = std::atoi(v.c_str());
        else if (k == "intents") rp.record.intents = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "stream_intents") rp.record.stream_intents = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "nonces") {
          for (std::size_t at = 0; at < v.size();) {
            std::size_t sp = v.find(' ', at);
            if (sp == std::string::npos) sp = v.size();
            if (sp > at) rp.record.nonces.push_back(v.substr(at, sp - at));
            at = sp + 1;
          }
        }
      }
      if (!replies[1].elements.empty()) {
        const std::string& m = replies[1].elements[0].text;  // "seq:entry-id"
        auto colon = m.find(':');
        if (colon != std::string::npos) {
          rp.found_mark = true;
          rp.seq = std::atoll(m.c_str());
          rp.entry_id = m.substr(colon + 1);
        }
      }
      p = std::move(rp);
    }
    post_([this, conn, p = std::move(p)]() mutable {
      if (bot_session* s = find(conn)) s->on_resume_point(std::move(p), now_());
    });
  });
}

void stream_hub::follow(std::uint64_t conn, int shard, std::string after_id) {
  leave_live(conn);
  follower& f = followers_[conn];
  f = follower{};
  f.shard = shard;
  f.seen_through = std::move(after_id);
  if (!position_.empty()) next_round(conn);  // else: when the feed knows where the stream ends
}

void stream_hub::next_round(std::uint64_t conn) {
  auto it = followers_.find(conn);
  if (it == followers_.end() || it->second.in_flight) return;
  follower& f = it->second;
  f.in_flight = true;
  reads_->post([this, conn, after = f.seen_through](net::redis_connection& redis) {
    // Every round also reads the stream's oldest entry: trimming may pass a session that waits for its bot between
    // rounds, and the entries it removed must be noticed, not skipped over.
    std::string from = "(" + after, count = std::to_string(round_size);
    auto replies = redis.pipeline({{"XRANGE", events_key_, "-", "+", "COUNT", "1"},
                                   {"XRANGE", events_key_, from, "+", "COUNT", count}});
    std::string error, oldest;
    std::optional<std::vector<net::stream_entry>> entries;
    if (replies.size() == 2) {
      if (!replies[0].is_error() && !replies[0].elements.empty() && !replies[0].elements[0].elements.empty())
        oldest = replies[0].elements[0].elements[0].text;
      entries = net::parse_stream_entries(replies[1], false, error);
    } else {
      error = "no reply";
    }
    auto e = std::make_shared<std::optional<std::vector<net::stream_entry>>>(std::move(entries));
    post_([this, conn, e, oldest = std::move(oldest), error = std::move(error)] {
      on_round(conn, std::move(*e), oldest, error);
    });
  });
}

void stream_hub::on_round(std::uint64_t conn, std::optional<std::vector<net::stream_entry>> entries,
                          std::string oldest, std::string error) {
  auto it = followers_.find(conn);
  bot_session* s = find(conn);
  if (it == followers_.end() || !s) return;
  follower& f = it->second;
  f.in_flight = false;
  if (!entries) {
    redis_trouble("XRANGE " + events_key_ + ": " + error);
    return;  // tick() tries again
  }
  // The stream's oldest entry is newer than the cursor: entries the session had not seen were trimmed.
  if (!oldest.empty() && f.seen_through != "0-0" && net::compare_stream_ids(oldest, f.seen_through) > 0 &&
      !entries->empty() && entries->front().id == oldest) {
    s->on_gap();
    if (!s->replaying()) {
      followers_.erase(it);
      return;
    }
  }
  for (const auto& e : *entries) s->offer(e);
  if (!entries->empty()) f.seen_through = entries->back().id;
  if (!s->replaying()) {
    followers_.erase(conn);
    return;
  }
  const bool reached_end = entries->size() < static_cast<std::size_t>(round_size);
  if (reached_end && !position_.empty() && net::compare_stream_ids(f.seen_through, position_) >= 0) {
    int shard = f.shard;
    followers_.erase(conn);
    join_live(conn, shard);
    s->on_caught_up();
    return;
  }
  if (s->wants_more()) next_round(conn);  // else tick() continues when the bot has drained its queue
}

// ---- writes --------------------------------------------------------------------------------------------------

void stream_hub::owned_write(std::uint64_t conn, const std::string& session_id, std::vector<std::string> args) {
  writes_->post([this, conn, session = keys_.session(session_id), marks = keys_.marks(session_id),
                 owner = instance_ + ":" + std::to_string(conn), args = std::move(args)](net::redis_connection& redis) {
    std::vector<std::string_view> argv = {owner};
    std::string ttl = std::to_string(resume_window_ms_);
    argv.push_back(ttl);
    for (const auto& a : args) argv.push_back(a);
    net::redis_reply r = redis.eval(session_script, session_sha(), {session, marks}, argv);
    if (r.is_error()) return post_([this, e = r.text] { redis_trouble("writing a proxy session: " + e); });
    if (r.type == net::redis_reply::integer && r.number == 0)
      post_([this, conn] {
        if (bot_session* s = find(conn)) s->close_taken_over();
      });
  });
}

void stream_hub::save_session(std::uint64_t conn, const session_record& r) {
  std::string nonces;
  for (const auto& n : r.nonces) nonces += (nonces.empty() ? "" : " ") + n;
  owned_write(conn, r.session_id,
              {"record", "shard", std::to_string(r.shard), "total", std::to_string(r.total), "intents",
               std::to_string(r.intents), "stream_intents", std::to_string(r.stream_intents), "nonces", nonces});
}

void stream_hub::save_mark(std::uint64_t conn, const std::string& session_id, std::int64_t seq,
                           const std::string& entry_id, bool only) {
  owned_write(conn, session_id,
              {"mark", only ? "1" : "0", std::to_string(seq), std::to_string(seq) + ":" + entry_id,
               std::to_string(mark_keep)});
}

void stream_hub::keep_session(std::uint64_t conn, const std::string& session_id) {
  owned_write(conn, session_id, {"keep"});
}

void stream_hub::end_session(std::uint64_t conn, const std::string& session_id) {
  owned_write(conn, session_id, {"end"});
}

void stream_hub::send_command(int shard, int op, std::string d) {
  writes_->post([this, key = prefix_ + "commands:" + std::to_string(shard), op = std::to_string(op),
                 d = std::move(d)](net::redis_connection& redis) {
    net::redis_reply r = redis.command({"XADD", key, "MAXLEN", "~", "10000", "*", "op", op, "d", d});
    if (r.is_error()) post_([this, e = r.text] { redis_trouble("XADD of a bot's command: " + e); });
  });
}

void stream_hub::claim_session(std::uint64_t conn, const std::string& session_id) {
  owned_write(conn, session_id, {"claim"});  // a connection elsewhere finds out at its next write
  for (auto& [other, s] : sessions_)
    if (other != conn && !s->closed() && s->session_id() == session_id) s->close_taken_over();
}

}  // namespace g::proxy
