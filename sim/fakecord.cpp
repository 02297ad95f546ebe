#include "sim/fakecord.hpp"

#include <algorithm>

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"
#include "sim/gateway_connection.hpp"
#include "sim/load_generator.hpp"

namespace g::sim {

fakecord::fakecord(options opts, millis now)
    : opts_(opts),
      world_(world_shape{opts.seed, opts.guilds, opts.members}),
      port_(opts.listen_port),
      identify_(opts.max_concurrency),
      budget_(opts.session_limit, opts.session_window_ms, now),
      load_(std::make_unique<load_generator>(*this, opts.seed)) {
  if (opts_.rate > 0) load_->set_rate(opts_.rate, now);
}

fakecord::~fakecord() = default;

std::string fakecord::gateway_url() const {
  const std::string& host = opts_.advertise_host.empty() ? opts_.listen_host : opts_.advertise_host;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(opts_.tls() ? "wss://" : "ws://") + h + ":" + std::to_string(port_) + "/";
}

std::string fakecord::resume_url() const {
  std::string base = gateway_url();
  base.pop_back();
  return base + std::string(resume_path);
}

void fakecord::remove_connection(gateway_connection* c) {
  connections_.erase(std::remove(connections_.begin(), connections_.end(), c), connections_.end());
  starts_.erase(std::remove(starts_.begin(), starts_.end(), c), starts_.end());
}

void fakecord::queue_session_start(gateway_connection& c) {
  if (!schedule_session_starts) return c.start_session();
  starts_.push_back(&c);
  if (starts_.size() == 1) schedule_session_starts();
}

bool fakecord::start_next_session() {
  if (starts_.empty()) return false;
  gateway_connection* c = starts_.front();
  starts_.pop_front();
  c->start_session();
  return !starts_.empty();
}

std::size_t fakecord::backlog_bytes() const {
  std::size_t n = 0;
  for (auto* c : connections_) n += c->backlog_bytes();
  return n;
}

std::string fakecord::new_hex_id() {
  static const char* hex = "0123456789abcdef";
  std::string s(32, '0');
  std::uint64_t a = world_.mix(0xC0FFEE, ++id_counter_), b = world_.mix(0xBEEF, id_counter_);
  for (int i = 0; i < 16; ++i) {
    s[static_cast<std::size_t>(i)] = hex[(a >> (i * 4)) & 0xF];
    s[static_cast<std::size_t>(16 + i)] = hex[(b >> (i * 4)) & 0xF];
  }
  return s;
}

std::uint64_t fakecord::new_snowflake(std::int64_t unix_ms) {
  return discord::make_snowflake(static_cast<std::uint64_t>(unix_ms), (1u << 21) | (++snowflake_counter_ % 4096));
}

session& fakecord::start_session(int shard_id, int shard_count, std::uint64_t intents, int large_threshold) {
  auto s = std::make_unique<session>();
  s->id = new_hex_id();
  s->shard_id = shard_id;
  s->shard_count = shard_count;
  s->intents = intents;
  s->large_threshold = large_threshold;
  auto& shards = routes_[shard_count];
  if (shards.empty()) shards.resize(static_cast<std::size_t>(shard_count));
  shards[static_cast<std::size_t>(shard_id)].push_back(s.get());
  if (!(intents & discord::intent::message_content)) ++content_blind_sessions_;
  session& ref = *s;
  sessions_.emplace(ref.id, std::move(s));
  return ref;
}

session* fakecord::find_session(std::string_view id) {
  auto it = sessions_.find(std::string(id));
  return it == sessions_.end() ? nullptr : it->second.get();
}

void fakecord::unlink_session(session& s) {
  auto it = routes_.find(s.shard_count);
  if (it != routes_.end()) {
    auto& v = it->second[static_cast<std::size_t>(s.shard_id)];
    v.erase(std::remove(v.begin(), v.end(), &s), v.end());
  }
  if (!(s.intents & discord::intent::message_content)) --content_blind_sessions_;
}

void fakecord::end_session(session& s) {
  if (s.conn) s.conn->forget_session();
  unlink_session(s);
  sessions_.erase(s.id);  // destroys s
}

void fakecord::park_session(session& s, millis now) {
  s.conn = nullptr;
  s.parked_at = now;
}

const std::vector<const session*> fakecord::sessions() const {
  std::vector<const session*> out;
  out.reserve(sessions_.size());
  for (auto& [id, s] : sessions_) out.push_back(s.get());
  std::sort(out.begin(), out.end(), [](const session* a, const session* b) {
    return a->shard_count != b->shard_count ? a->shard_count < b->shard_count
           : a->shard_id != b->shard_id     ? a->shard_id < b->shard_id
                                            : a->id < b->id;
  });
  return out;
}

void fakecord::dispatch(session& s, std::string_view t, std::string_view d) {
  std::string payload;
  payload.reserve(t.size() + d.size() + 48);
  payload += R"({"t":")";
  payload += t;
  payload += R"(","s":)";
  payload += std::to_string(++s.seq);
  payload += R"(,"op":0,"d":)";
  payload += d;
  payload += '}';
  if (s.conn) s.conn->deliver(payload);
  s.replay.push_back(std::move(payload));
  if (s.replay.size() > opts_.replay_limit) s.replay.pop_front();
}

int fakecord::dispatch_guild_event(std::uint64_t guild_id, std::string_view t, std::string_view d,
                                   std::uint64_t intents, std::string_view d_plain) {
  int delivered = 0;
  for (auto& [count, shards] : routes_) {
    int shard = guild_id == 0 ? 0 : discord::shard_for_guild(guild_id, count);
    for (session* s : shards[static_cast<std::size_t>(shard)]) {
      if (intents != 0 && (s->intents & intents) == 0) continue;
      bool plain = !d_plain.empty() && !(s->intents & discord::intent::message_content);
      dispatch(*s, t, plain ? d_plain : d);
      ++delivered;
    }
  }
  note_generated(t);
  if (delivered == 0) {
    auto it = undelivered_.find(t);
    if (it == undelivered_.end()) it = undelivered_.emplace(std::string(t), 0).first;
    ++it->second;
    undelivered_recent_.push_back({std::string(t), guild_id, wall_clock_us ? wall_clock_us() : 0, why_undelivered(guild_id, intents)});
    if (undelivered_recent_.size() > 16) undelivered_recent_.pop_front();
  }
  return delivered;
}

void fakecord::count_violation(std::string_view kind, std::string detail) {
  ++violations_[std::string(kind)];
  violations_recent_.push_back({std::string(kind), wall_clock_us ? wall_clock_us() : 0, std::move(detail)});
  if (violations_recent_.size() > 64) violations_recent_.pop_front();
}

void fakecord::dispatch_guild_create(int guild) {
  std::uint64_t gid = world_.guild_id(guild);
  for (auto& [count, shards] : routes_) {
    for (session* s : shards[static_cast<std::size_t>(discord::shard_for_guild(gid, count))]) {
      if (!(s->intents & discord::intent::guilds)) continue;
      scratch_.clear();
      json::writer w(scratch_);
      world_.write_guild_create(w, guild, s->intents, s->large_threshold);
      dispatch(*s, "GUILD_CREATE", scratch_);
    }
  }
  note_generated("GUILD_CREATE");
}

std::string fakecord::why_undelivered(std::uint64_t guild_id, std::uint64_t intents) const {
  if (routes_.empty()) return "no session is connected";
  std::string why;
  for (const auto& [count, shards] : routes_) {
    const int shard = guild_id == 0 ? 0 : discord::shard_for_guild(guild_id, count);
    const std::string where = "shard " + std::to_string(shard) + " of " + std::to_string(count);
    if (!why.empty()) why += "; ";
    if (shards[static_cast<std::size_t>(shard)].empty()) why += "no session holds " + where;
    else why += "the sessions of " + where + " lack the intent it needs (bits " + std::to_string(intents) + ")";
  }
  if (guild_id == 0) why += " (a DM goes to shard 0 only)";
  return why;
}

std::uint64_t fakecord::open_dm(std::uint64_t recipient, const std::function<std::uint64_t()>& new_id) {
  auto [it, fresh] = dm_by_recipient_.try_emplace(recipient, 0);
  if (fresh) {
    it->second = new_id();
    dm_recipient_of_[it->second] = recipient;
  }
  return it->second;
}

std::uint64_t fakecord::dm_recipient(std::uint64_t channel_id) const {
  auto it = dm_recipient_of_.find(channel_id);
  return it == dm_recipient_of_.end() ? 0 : it->second;
}

void fakecord::record_rest_call(rest_call_record r) {
  ++rest_calls;
  if (r.status == 429) ++rest_429s;
  rest_log_.push_back(std::move(r));
  if (rest_log_.size() > rest_log_limit) rest_log_.pop_front();
}

void fakecord::note_generated(std::string_view t) {
  auto it = generated_.find(t);
  if (it == generated_.end()) it = generated_.emplace(std::string(t), 0).first;
  ++it->second;
}

millis fakecord::take_member_list_slot(std::uint64_t guild_id, millis now) {
  auto [it, fresh] = member_list_slots_.try_emplace(guild_id, now);
  if (fresh) return 0;
  millis wait = it->second + whole_member_list_interval_ms - now;
  if (wait > 0) return wait;
  it->second = now;
  return 0;
}

void fakecord::record_command(const session& s, int op, std::string d, millis now) {
  received_.push_back(received_command{s.shard_id, s.shard_count, op, s.id, std::move(d), now});
  if (received_.size() > received_limit) received_.pop_front();
}

bool fakecord::valid_fault(std::string_view kind) {
  if (kind.rfind("close:", 0) == 0) {
    std::string code(kind.substr(6));
    if (code.empty() || code.size() > 4 || code.find_first_not_of("0123456789") != std::string::npos) return false;
    int c = std::stoi(code);
    return c >= 1000 && c <= 4999;
  }
  return kind == "reconnect" || kind == "invalidate" || kind == "invalidate_resumable" || kind == "drop" ||
         kind == "zombie" || kind == "stall" || kind == "heartbeat_request";
}

int fakecord::apply_fault(int shard_id, std::string_view kind, millis now, int shard_count) {
  // Copy: a fault may close connections, which unregister themselves.
  std::vector<gateway_connection*> targets;
  for (auto* c : connections_)
    if (c->open() && c->current_session() && c->current_session()->shard_id == shard_id &&
        (shard_count == 0 || c->current_session()->shard_count == shard_count))
      targets.push_back(c);
  int n = 0;
  for (auto* c : targets) n += c->apply_fault(kind, now) ? 1 : 0;
  return n;
}

void fakecord::note_heartbeat(millis since_previous) {
  const millis over = since_previous - opts_.heartbeat_ms;
  auto& t = heartbeat_timing;
  if (over <= heartbeat_lateness::on_time_slack_ms) ++t.on_time;
  else if (over <= 1000) ++t.late_under_1s;
  else ++t.late_over_1s;
  t.worst_ms = std::max(t.worst_ms, over);
}

void fakecord::tick(millis now) {
  std::vector<gateway_connection*> conns = connections_;
  for (auto* c : conns) c->tick(now);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    session& s = *it->second;
    if (!s.conn && now - s.parked_at > opts_.session_ttl_ms) {
      unlink_session(s);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace g::sim
