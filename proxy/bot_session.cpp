#include "proxy/bot_session.hpp"
#include "net/log.hpp"

#include <cstdio>
#include <random>

#include "net/discord/intents.hpp"
#include "net/gateway/client_payload.hpp"
#include "net/json/json_writer.hpp"

namespace g::proxy {

namespace intent = discord::intent;

namespace {

std::string new_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < 2; ++i) {
    std::uint64_t v = rng();
    for (int b = 0; b < 16; ++b, v >>= 4) out += "0123456789abcdef"[v & 15];
  }
  return out;
}

// Close codes after which Discord's session is gone (reference §8–§9): the proxy session ends with them too.
bool ends_session(int code) { return code == 4003 || code == 4004 || code == 4007 || code == 4009 || code >= 4010; }

}  // namespace

bot_session::bot_session(net::socket_sink& sink, net::socket_params params, proxy_hub& hub,
                         const proxy_settings& settings, std::int64_t now_ms)
    : conn_(hub.attach(this)),
      sink_(sink),
      params_(std::move(params)),
      hub_(hub),
      settings_(settings),
      decoder_(std::make_unique<net::client_decoder>(
          net::client_rules{settings.token, settings.stream_intents & intent::privileged})),
      last_heartbeat_(now_ms),
      kept_at_(now_ms),
      now_(now_ms) {
  if (params_.version != "10" && params_.version != "9") {
    close(4012, "Invalid API version", true);
    return;
  }
  if (!params_.encoding.empty() && params_.encoding != "json") {
    log("refused encoding=" + params_.encoding + ": the proxy speaks JSON only (ETF is not supported)");
    close(4002, "Unsupported encoding: the proxy speaks JSON only", true);
    return;
  }
  std::string hello;
  json::writer w(hello);
  w.begin_object().null_field("t").null_field("s").field("op", 10).key("d").begin_object();
  w.field("heartbeat_interval", settings_.heartbeat_ms).key("_trace").begin_array().value("[\"g-proxy\",{\"micros\":0}]").end_array();
  w.end_object().end_object();
  send(hello);
}

bot_session::~bot_session() { hub_.detach(conn_); }

void bot_session::log(const std::string& what) const {
  if (record_.session_id.empty())
    LOG_INFO("proxy: connection %llu: %s", static_cast<unsigned long long>(conn_), what.c_str());
  else
    LOG_SHARD_INFO((g::log::shard{record_.shard}), "proxy: connection %llu session %s: %s",
                   static_cast<unsigned long long>(conn_), record_.session_id.c_str(), what.c_str());
}

void bot_session::send(std::string_view payload) {
  if (closed_) return;
  sink_.send(payload);
}

void bot_session::close(int code, std::string_view reason, bool ends) {
  if (closed_) return;
  closed_ = true;
  if (!record_.session_id.empty() && authenticated_) {
    if (ends) hub_.end_session(conn_, record_.session_id);
    else hub_.keep_session(conn_, record_.session_id);
  }
  sink_.close(code, reason);
}

void bot_session::invalid_session() {
  send(R"({"t":null,"s":null,"op":9,"d":false})");
  // The bot may IDENTIFY on this socket: nothing of the failed session may leak into the new one.
  authenticated_ = false;
  resuming_ = false;
  phase_ = phase::greeting;
  record_ = session_record{};
  gate_ = event_gate(0, 0);
  seq_ = replay_target_ = 0;
  cursor_ = "0-0";
  pending_commands_.clear();
  retry_snapshot_at_ = 0;
}

void bot_session::on_message(std::string_view payload, std::int64_t now_ms) {
  if (closed_) return;
  now_ = now_ms;
  net::client_payload p = decoder_->decode(payload, now_ms, authenticated_);
  switch (p.what) {
    case net::client_payload::refused: {
      int code = net::client_refusal_code(p.refusal);
      log("closed with " + std::to_string(code) + ": " + std::string(net::client_refusal_reason(p.refusal)));
      close(code, net::client_refusal_reason(p.refusal), ends_session(code));
      return;
    }
    case net::client_payload::heartbeat:
      last_heartbeat_ = now_ms;
      send(R"({"t":null,"s":null,"op":11,"d":null})");
      return;
    case net::client_payload::identify:
      identify(p.ident, now_ms);
      return;
    case net::client_payload::resume:
      resume(p.res, now_ms);
      return;
    case net::client_payload::command: {
      std::string_view nonce;  // read from the payload already parsed, not from a second parse of `d`
      if (p.op != 8 || p.d["nonce"].get_string().get(nonce) != simdjson::SUCCESS) nonce = {};
      command(p.op, simdjson::minify(p.d), std::string(nonce));
      return;
    }
  }
}

void bot_session::identify(const net::client_identify& id, std::int64_t now_ms) {
  const int total = hub_.shard_count();
  if (total == 0) {
    log("IDENTIFY before G published its shard count; asking the bot to come back");
    close(4000, "G is starting: no shard count yet", false);
    return;
  }
  if (!id.shard_sent && total > 1) {
    log("IDENTIFY without a shard while G runs " + std::to_string(total) + " shards");
    close(4011, "Sharding required.", true);
    return;
  }
  if (id.shard_count != total) {
    log("IDENTIFY with " + std::to_string(id.shard_count) + " shards while G runs " + std::to_string(total));
    close(4010, "Invalid shard.", true);
    return;
  }
  if (std::uint64_t missing = id.intents & ~settings_.stream_intents; missing != 0)
    log("the bot asks for intents " + std::to_string(missing) +
        " that G's [discord] intents lack: it will not receive those events");
  authenticated_ = true;
  shard_sent_ = id.shard_sent;
  record_.session_id = new_session_id();
  record_.shard = static_cast<int>(id.shard_id);
  record_.total = total;
  record_.intents = id.intents;
  record_.stream_intents = settings_.stream_intents;
  gate_ = event_gate(id.intents, settings_.stream_intents);
  hub_.save_session(conn_, record_);
  if (id.has_presence) hub_.send_command(record_.shard, 3, simdjson::minify(id.presence));
  phase_ = phase::snapshot;
  identified_at_ = now_ms;
  hub_.request_snapshot(conn_, record_.shard, (id.intents & intent::guild_presences) != 0);
}

void bot_session::on_snapshot(snapshot_result r, std::int64_t now_ms) {
  if (closed_ || phase_ != phase::snapshot) return;
  now_ = now_ms;
  if (!r.ok()) {
    // While G's shard or g-cache is still starting, the bot waits a little (libraries wait 15 s for READY), then is
    // told to come back: a clean close it recovers from by identifying again.
    if (now_ms - identified_at_ < snapshot_patience_ms) {
      if (!snapshot_waiting_) log("waiting for the cache: " + r.reason);
      snapshot_waiting_ = true;
      retry_snapshot_at_ = now_ms + 500;
      return;
    }
    log("no READY: " + r.reason);
    close(4000, "The cache is not ready for this shard yet", true);
    return;
  }
  const shard_snapshot& s = r.value;
  ready_fields f{record_.session_id, settings_.gateway_url, shard_sent_, record_.shard, record_.total};
  dispatch_frame(frame_, "READY", ++seq_, ready_d(s, f));
  send(frame_);
  if (gate_.intents() & intent::guilds) {
    for (const auto& d : s.guild_creates) {
      dispatch_frame(frame_, "GUILD_CREATE", ++seq_, d);
      send(frame_);
    }
  }
  cursor_ = s.applied_id;
  log("READY with " + std::to_string(s.guild_ids.size()) + " guilds (" + std::to_string(s.guild_creates.size()) +
      " available) from the cache at entry " + s.applied_id);
  save_mark(true);
  phase_ = phase::replaying;
  hub_.follow(conn_, record_.shard, cursor_);
}

void bot_session::resume(const net::client_resume& r, std::int64_t now_ms) {
  authenticated_ = true;  // a second RESUME or IDENTIFY meanwhile is refused with 4005
  phase_ = phase::snapshot;
  identified_at_ = now_ms;
  hub_.request_resume(conn_, std::string(r.session_id), r.seq);
  replay_target_ = r.seq;
  resuming_ = true;
}

void bot_session::on_resume_point(std::optional<resume_point> p, std::int64_t now_ms) {
  if (closed_) return;
  now_ = now_ms;
  if (p && !p->error.empty()) {
    // Redis could not say: the session may well be resumable, so the bot is asked to try again, not to identify.
    log("RESUME lookup failed: " + p->error + "; the bot may try again");
    close(4000, "Could not look the session up; resume again", false);
    return;
  }
  if (hub_.shard_count() == 0) {
    log("RESUME before G published its shard count; asking the bot to come back");
    resuming_ = false;
    authenticated_ = false;
    close(4000, "G is starting: no shard count yet", false);
    return;
  }
  if (!p || p->record.total != hub_.shard_count() || !p->found_mark) {
    log(!p ? "RESUME of an unknown or expired session: invalid session"
           : !p->found_mark ? "RESUME from a seq older than the session's marks: invalid session"
                            : "RESUME across a change of G's shard count: invalid session");
    resuming_ = false;
    invalid_session();
    return;
  }
  record_ = std::move(p->record);
  // The record's stream intents, not this node's: a replay must count as the first connection counted.
  gate_ = event_gate(record_.intents, record_.stream_intents);
  for (auto& n : record_.nonces) gate_.add_nonce(n);
  seq_ = p->seq;
  cursor_ = p->entry_id;
  hub_.claim_session(conn_, record_.session_id);
  phase_ = phase::replaying;
  for (auto& c : pending_commands_) command(c.op, c.d, c.nonce);  // sent while the record was looked up
  pending_commands_.clear();
  hub_.follow(conn_, record_.shard, cursor_);
}

void bot_session::offer(const net::stream_entry& e) {
  if (closed_ || net::compare_stream_ids(e.id, cursor_) <= 0) return;
  cursor_ = e.id;
  if (e.shard != record_.shard || !gate_.passes(e.t, e.d)) return;
  if (++seq_ <= replay_target_) return;  // the bot has it already
  dispatch_frame(frame_, e.t, seq_, e.d);
  send(frame_);
  if (phase_ == phase::live && sink_.backlog_bytes() > settings_.client_buffer) {
    log("closed: " + std::to_string(sink_.backlog_bytes()) + " bytes queued, more than [proxy] client_buffer; "
        "the bot may RESUME");
    save_mark(false);
    close(4000, "Slow client: resume to continue", false);
    drop_at_ = now_ + 10000;
  }
}

bool bot_session::wants_more() const { return !closed_ && sink_.backlog_bytes() < settings_.client_buffer / 2; }

void bot_session::on_caught_up() {
  if (closed_ || phase_ != phase::replaying) return;
  if (seq_ < replay_target_) {
    log("RESUME with seq " + std::to_string(replay_target_) + " beyond the " + std::to_string(seq_) +
        " events of the session");
    close(4007, "Invalid seq.", true);
    return;
  }
  if (resuming_) {
    dispatch_frame(frame_, "RESUMED", ++seq_, R"({"_trace":["[\"g-proxy\",{\"micros\":0}]"]})");
    send(frame_);
    save_mark(true);  // RESUMED took a seq: older marks would count without it
    resuming_ = false;
    replay_target_ = 0;
  }
  phase_ = phase::live;
}

void bot_session::on_gap() {
  if (closed_) return;
  if (resuming_) {
    log("RESUME impossible: the stream no longer holds the events after the session's mark");
    hub_.end_session(conn_, record_.session_id);
    resuming_ = false;
    invalid_session();
    return;
  }
  log("the cache lags behind the stream's trimming: events between the snapshot and the stream's oldest entry are "
      "lost to this bot");
}

void bot_session::command(std::int64_t op, const std::string& d, const std::string& nonce) {
  if (record_.session_id.empty()) {  // a RESUME is being looked up: its shard is not known yet
    pending_commands_.push_back({op, d, nonce});
    return;
  }
  if (!nonce.empty()) {
    gate_.add_nonce(nonce);
    record_.nonces = gate_.nonces();
    hub_.save_session(conn_, record_);  // before the command: the chunks must find the nonce on a replay too
  }
  hub_.send_command(record_.shard, static_cast<int>(op), d);
}

void bot_session::save_mark(bool only) {
  hub_.save_mark(conn_, record_.session_id, seq_, cursor_, only);
  marked_seq_ = seq_;
  marked_at_ = now_;
  kept_at_ = now_;
}

void bot_session::tick(std::int64_t now_ms) {
  if (closed_) {
    // A bot closed for not reading may not read its close frame either: it is cut off after a while.
    if (drop_at_ != 0 && now_ms >= drop_at_) {
      drop_at_ = 0;
      sink_.drop();
    }
    return;
  }
  now_ = now_ms;
  if (phase_ == phase::snapshot && now_ms - identified_at_ > snapshot_patience_ms + 20000) {
    log("no answer from Redis for the session's start; closing resumably");
    close(4000, "The proxy could not reach Redis", false);
    return;
  }
  const std::int64_t interval = settings_.heartbeat_ms;
  if (now_ms - last_heartbeat_ > interval + interval / 2 + 1000) {
    // As g-fakecord and Discord: no heartbeat for 1.5 intervals ends the connection and its session.
    log("no heartbeat for " + std::to_string(now_ms - last_heartbeat_) + " ms: closed with 4009");
    close(4009, "Session timed out", true);
    return;
  }
  if (retry_snapshot_at_ != 0 && now_ms >= retry_snapshot_at_) {
    retry_snapshot_at_ = 0;
    hub_.request_snapshot(conn_, record_.shard, (gate_.intents() & intent::guild_presences) != 0);
  }
  if (!authenticated_ || phase_ == phase::snapshot || record_.session_id.empty()) return;
  if (seq_ != marked_seq_ && now_ms - marked_at_ >= settings_.mark_interval_ms) save_mark(false);
  else if (now_ms - kept_at_ >= std::min<std::int64_t>(30000, settings_.resume_window_ms / 3)) {
    hub_.keep_session(conn_, record_.session_id);
    kept_at_ = now_ms;
  }
}

void bot_session::close_taken_over() {
  if (closed_) return;
  log("the session was resumed on another connection");
  closed_ = true;  // the session lives on elsewhere: nothing to end or keep
  sink_.close(4000, "Session resumed elsewhere.");
}

void bot_session::on_socket_closed(int client_code, std::int64_t now_ms) {
  now_ = now_ms;
  if (closed_) return;
  closed_ = true;
  if (record_.session_id.empty() || !authenticated_) return;
  // A bot closing with 1000/1001 ends its session (as on Discord); any other code, or a dropped socket, keeps it
  // resumable for [proxy] resume_window.
  if (client_code == 1000 || client_code == 1001) {
    hub_.end_session(conn_, record_.session_id);
  } else {
    if (phase_ == phase::live || phase_ == phase::replaying) hub_.save_mark(conn_, record_.session_id, seq_, cursor_, false);
    hub_.keep_session(conn_, record_.session_id);
  }
}

}  // namespace g::proxy
