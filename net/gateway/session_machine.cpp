#include "net/gateway/session_machine.hpp"

#include <algorithm>
#include <limits>

#include "net/gateway/close_policy.hpp"

namespace g::net {

namespace {
session_action make(session_action::kind k, std::string url = {}, int code = 0, std::int64_t seq = -1,
                    std::string reason = {}) {
  return session_action{k, std::move(url), code, seq, std::move(reason)};
}
}  // namespace

std::string_view name(session_phase p) {
  switch (p) {
    case session_phase::idle: return "idle";
    case session_phase::connecting: return "connecting";
    case session_phase::hello: return "hello";
    case session_phase::awaiting_slot: return "awaiting_identify_slot";
    case session_phase::identifying: return "identifying";
    case session_phase::resuming: return "resuming";
    case session_phase::ready: return "ready";
    case session_phase::closing: return "closing";
    case session_phase::reconnecting: return "reconnecting";
    case session_phase::stopped: return "stopped";
  }
  return "?";
}

session_machine::session_machine(std::string gateway_url, session_timing timing, std::uint64_t seed)
    : gateway_url_(std::move(gateway_url)), timing_(timing), rng_(seed) {}

void session_machine::set_phase(session_phase p, session_actions& out) {
  if (phase_ == p) return;
  if (phase_ == session_phase::awaiting_slot) out.push_back(make(session_action::cancel_identify_slot));
  phase_ = p;
  out.push_back(make(session_action::report));
}

bool session_machine::connected() const {
  return phase_ == session_phase::hello || phase_ == session_phase::awaiting_slot ||
         phase_ == session_phase::identifying || phase_ == session_phase::resuming || phase_ == session_phase::ready;
}

std::string session_machine::connect_url() const {
  if (state_.resumable() && !state_.resume_url.empty() && !use_gateway_for_resume_) return state_.resume_url;
  return gateway_url_;
}

millis session_machine::backoff() {
  if (failures_ == 0) return 0;
  millis base = timing_.backoff_base;
  for (int i = 1; i < failures_ && base < timing_.backoff_cap; ++i) base *= 2;
  base = std::min(base, timing_.backoff_cap);
  // Full jitter on the upper half: shards that failed together do not come back together.
  return base / 2 + static_cast<millis>(rng_() % static_cast<std::uint64_t>(base / 2 + 1));
}

session_actions session_machine::start(session_state initial, millis now) {
  session_actions out;
  state_ = std::move(initial);
  failures_ = resume_attempts_ = identify_attempts_ = resume_connect_failures_ = 0;
  use_gateway_for_resume_ = false;
  schedule_reconnect(0, now, out);
  return out;
}

session_actions session_machine::stop(millis now, bool end_session) {
  session_actions out;
  (void)now;
  if (connected()) {
    begin_close(end_session ? 1000 : resumable_close_code, next_step::stop, end_session ? "ending the session" : "stopping", out);
  } else if (phase_ != session_phase::closing) {
    set_phase(session_phase::stopped, out);
  } else {
    after_close_ = next_step::stop;
  }
  return out;
}

void session_machine::schedule_reconnect(millis delay, millis now, session_actions& out) {
  if (delay <= 0) {
    set_phase(session_phase::connecting, out);
    connected_url_ = connect_url();
    out.push_back(make(session_action::connect, connected_url_));
    return;
  }
  reconnect_at_ = now + delay;
  set_phase(session_phase::reconnecting, out);
}

void session_machine::drop_session(session_actions& out) {
  if (!state_.resumable() && state_.resume_url.empty() && state_.seq == 0) return;
  state_ = session_state{};
  resume_attempts_ = 0;
  use_gateway_for_resume_ = false;
  out.push_back(make(session_action::report));
}

void session_machine::stop_fatal(std::string reason, session_actions& out) {
  error_ = reason;
  set_phase(session_phase::stopped, out);
  out.push_back(make(session_action::fatal, {}, 0, -1, std::move(reason)));
}

void session_machine::begin_close(int code, next_step then, std::string reason, session_actions& out) {
  after_close_ = then;
  closing_from_ = phase_;
  if (!reason.empty()) error_ = std::move(reason);
  set_phase(session_phase::closing, out);
  out.push_back(make(session_action::close, {}, code));
}

session_actions session_machine::on_open(millis now) {
  session_actions out;
  if (phase_ != session_phase::connecting) return out;
  resume_connect_failures_ = 0;
  hello_deadline_ = now + timing_.hello_timeout;
  set_phase(session_phase::hello, out);
  return out;
}

session_actions session_machine::on_connect_failed(std::string_view why, millis now) {
  session_actions out;
  if (phase_ != session_phase::connecting) return out;
  error_ = "cannot connect: " + std::string(why);
  if (phase_ == session_phase::stopped) return out;
  if (state_.resumable() && !state_.resume_url.empty() && !use_gateway_for_resume_) {
    if (resume_connect_failures_++ == 0) resume_failing_since_ = now;
    // The resume host is gone (two failures at least resume_host_grace apart); Discord accepts RESUME on the bootstrap
    // URL too.
    if (resume_connect_failures_ >= 2 && now - resume_failing_since_ >= timing_.resume_host_grace)
      use_gateway_for_resume_ = true;
  }
  ++failures_;
  schedule_reconnect(backoff(), now, out);
  return out;
}

session_actions session_machine::on_hello(millis heartbeat_interval, millis now) {
  session_actions out;
  if (phase_ != session_phase::hello) return out;
  interval_ = std::max<millis>(heartbeat_interval, 1);
  // First beat after interval × jitter, jitter in [0, 1): spreads the beats of shards that connected together.
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  next_beat_ = now + static_cast<millis>(static_cast<double>(interval_) * jitter(rng_));
  awaiting_ack_ = false;
  if (state_.resumable()) {
    ++resume_attempts_;
    ready_deadline_ = now + timing_.ready_timeout;
    set_phase(session_phase::resuming, out);
    out.push_back(make(session_action::send_resume, {}, 0, state_.seq));
  } else {
    set_phase(session_phase::awaiting_slot, out);
    out.push_back(make(session_action::request_identify_slot));
  }
  return out;
}

session_actions session_machine::on_identify_slot(millis now) {
  session_actions out;
  if (phase_ != session_phase::awaiting_slot) return out;
  ++identify_attempts_;
  ready_deadline_ = now + timing_.ready_timeout;
  phase_ = session_phase::identifying;  // not set_phase: the slot is used, there is nothing to cancel
  out.push_back(make(session_action::report));
  out.push_back(make(session_action::send_identify));
  return out;
}

session_actions session_machine::on_dispatch(std::int64_t seq) {
  if (seq > state_.seq) state_.seq = seq;
  return {};
}

session_actions session_machine::on_ready(std::string_view session_id, std::string_view resume_url, millis now) {
  session_actions out;
  (void)now;
  if (phase_ != session_phase::identifying) return out;
  state_.session_id = std::string(session_id);
  state_.resume_url = std::string(resume_url);
  failures_ = resume_attempts_ = identify_attempts_ = 0;
  use_gateway_for_resume_ = false;
  error_.clear();
  ready_deadline_ = 0;
  set_phase(session_phase::ready, out);
  out.push_back(make(session_action::report));
  return out;
}

session_actions session_machine::on_resumed(millis now) {
  session_actions out;
  (void)now;
  if (phase_ != session_phase::resuming) return out;
  failures_ = resume_attempts_ = identify_attempts_ = 0;
  error_.clear();
  ready_deadline_ = 0;
  set_phase(session_phase::ready, out);
  return out;
}

session_actions session_machine::on_heartbeat_ack(millis now) {
  session_actions out;
  if (awaiting_ack_) {
    latency_ = now - beat_sent_at_;
    out.push_back(make(session_action::report));  // the new round trip reaches metrics and the status page
  }
  awaiting_ack_ = false;
  return out;
}

session_actions session_machine::on_heartbeat_request(millis now) {
  session_actions out;
  if (!connected()) return out;
  // Answered at once; it does not count as one of our own beats for zombie detection.
  if (!awaiting_ack_) beat_sent_at_ = now;
  out.push_back(make(session_action::send_heartbeat, {}, 0, state_.seq > 0 ? state_.seq : -1));
  return out;
}

session_actions session_machine::on_reconnect_request(millis now) {
  session_actions out;
  (void)now;
  if (!connected()) return out;
  begin_close(resumable_close_code, state_.resumable() ? next_step::resume : next_step::reidentify,
              "Discord asked for a reconnect (op 7)", out);
  return out;
}

session_actions session_machine::on_invalid_session(bool resumable, millis now) {
  session_actions out;
  if (!connected()) return out;
  if (resumable && state_.resumable() && resume_attempts_ < timing_.max_resume_attempts) {
    if (connected_url_ != connect_url()) {
      // op 9 true on a socket of the bootstrap URL (the session was identified on it): RESUME belongs on
      // resume_gateway_url, so reconnect there, as discord.py does.
      begin_close(resumable_close_code, next_step::resume, "invalid session (op 9, resumable): resuming on resume_gateway_url", out);
      return out;
    }
    // op 9 true: RESUME again on the same socket, which is resume_gateway_url's already.
    ++resume_attempts_;
    ready_deadline_ = now + timing_.ready_timeout;
    set_phase(session_phase::resuming, out);
    out.push_back(make(session_action::send_resume, {}, 0, state_.seq));
    return out;
  }
  bool was_identifying = phase_ == session_phase::identifying;
  drop_session(out);
  if (was_identifying && identify_attempts_ >= timing_.max_identify_attempts) {
    begin_close(1000, next_step::stop, "", out);
    stop_fatal("IDENTIFY was refused " + std::to_string(identify_attempts_) +
                   " times in a row; stopping instead of spending the session start budget",
               out);
    return out;
  }
  // The session is gone (or a concurrent IDENTIFY was refused): a fresh connection, after 1–5 s.
  begin_close(1000, next_step::reidentify_later, "invalid session (op 9)", out);
  return out;
}

session_actions session_machine::on_closed(int code, millis now) {
  session_actions out;
  if (phase_ == session_phase::stopped || phase_ == session_phase::idle || phase_ == session_phase::reconnecting) return out;
  const bool we_closed = phase_ == session_phase::closing;
  const session_phase was = we_closed ? closing_from_ : phase_;
  next_step step = after_close_;
  if (!we_closed) {
    close_rule rule = close_policy(code);
    error_ = "closed by Discord: " + std::to_string(code) + " " + std::string(rule.meaning);
    if (rule.action == after_close::fatal) {
      stop_fatal("gateway closed with " + std::to_string(code) + ": " + std::string(rule.meaning), out);
      return out;
    }
    step = rule.action == after_close::reidentify ? next_step::reidentify : next_step::resume;
    if (was != session_phase::ready) ++failures_;
    if (was == session_phase::resuming && resume_attempts_ >= timing_.max_resume_attempts) step = next_step::reidentify;
  }
  if (step != next_step::stop && was == session_phase::identifying &&
      identify_attempts_ >= timing_.max_identify_attempts) {
    drop_session(out);
    stop_fatal("IDENTIFY failed " + std::to_string(identify_attempts_) +
                   " times in a row; stopping instead of spending the session start budget",
               out);
    return out;
  }
  switch (step) {
    case next_step::stop:
      set_phase(session_phase::stopped, out);
      return out;
    case next_step::reidentify:
    case next_step::reidentify_later:
      drop_session(out);
      break;
    case next_step::resume:
      if (!state_.resumable()) drop_session(out);
      break;
  }
  millis delay = backoff();
  if (step == next_step::reidentify_later) {
    delay = std::max<millis>(delay, 1000 + static_cast<millis>(rng_() % 4001));
  }
  schedule_reconnect(delay, now, out);
  return out;
}

session_actions session_machine::on_undecodable(std::string_view why, millis now) {
  if (!connected() && phase_ != session_phase::closing) return {};  // no connection to drop
  session_actions out = on_closed(0, now);
  error_ = "dropped the connection: " + std::string(why);
  return out;
}

session_actions session_machine::on_tick(millis now) {
  session_actions out;
  switch (phase_) {
    case session_phase::reconnecting:
      if (now >= reconnect_at_) schedule_reconnect(0, now, out);
      return out;
    case session_phase::hello:
      if (now >= hello_deadline_) {
        ++failures_;
        begin_close(resumable_close_code, next_step::resume, "no HELLO within " + std::to_string(timing_.hello_timeout) + " ms", out);
      }
      return out;
    case session_phase::identifying:
    case session_phase::resuming:
      if (ready_deadline_ && now >= ready_deadline_) {
        ++failures_;
        bool resuming = phase_ == session_phase::resuming;
        begin_close(resumable_close_code,
                    resuming && resume_attempts_ < timing_.max_resume_attempts ? next_step::resume : next_step::reidentify,
                    resuming ? "no RESUMED in time" : "no READY in time", out);
        return out;
      }
      break;
    case session_phase::awaiting_slot:
    case session_phase::ready:
      break;
    default:
      return out;
  }
  if (next_beat_ && now >= next_beat_) {
    if (awaiting_ack_) {
      // No ACK since our last beat: the connection is a zombie. Close (keeping the session) and resume.
      ++failures_;
      begin_close(resumable_close_code, state_.resumable() ? next_step::resume : next_step::reidentify,
                  "zombie connection: no heartbeat ACK", out);
      return out;
    }
    out.push_back(make(session_action::send_heartbeat, {}, 0, state_.seq > 0 ? state_.seq : -1));
    awaiting_ack_ = true;
    beat_sent_at_ = now;
    next_beat_ = now + interval_;
  }
  return out;
}

millis session_machine::next_wakeup() const {
  millis t = std::numeric_limits<millis>::max();
  switch (phase_) {
    case session_phase::reconnecting: return reconnect_at_;
    case session_phase::hello: return hello_deadline_;
    case session_phase::identifying:
    case session_phase::resuming:
      if (ready_deadline_) t = ready_deadline_;
      [[fallthrough]];
    case session_phase::awaiting_slot:
    case session_phase::ready:
      if (next_beat_) t = std::min(t, next_beat_);
      return t;
    default:
      return t;
  }
}

}  // namespace g::net
