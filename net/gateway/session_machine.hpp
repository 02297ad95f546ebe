#pragma once
// A shard's gateway session as a pure state machine: every decision of the protocol (when to heartbeat, when a
// connection is a zombie, RESUME or IDENTIFY, which close codes are fatal, how long to back off) and no I/O.
// The shell feeds it what happened (with the time) and carries out the actions it returns, in order.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace g::net {

using millis = std::int64_t;

// What it takes to RESUME. Handed in at start (a session another process began) and reported on every change.
struct session_state {
  std::string session_id;
  std::int64_t seq = 0;    // last sequence number received (or committed, when handed in)
  std::string resume_url;  // resume_gateway_url from READY
  bool resumable() const { return !session_id.empty(); }
};

enum class session_phase { idle, connecting, hello, awaiting_slot, identifying, resuming, ready, closing, reconnecting, stopped };
std::string_view name(session_phase p);

struct session_action {
  enum kind {
    connect,                // open a WebSocket to `url` (the shell adds ?v=10&encoding=json&compress=…)
    close,                  // close the socket with `code`; on_closed follows
    send_heartbeat,         // op 1 with `seq` (-1: null)
    send_identify,          // op 2
    send_resume,            // op 6 with state().session_id and `seq`
    request_identify_slot,  // ask the identify gate; on_identify_slot follows
    cancel_identify_slot,
    report,                 // phase, session or heartbeat latency changed: publish phase()/state()/latency_ms()
    fatal,                  // stopped for good; `reason` says why
  };
  kind what;
  std::string url;
  int code = 0;
  std::int64_t seq = -1;
  std::string reason;
};
using session_actions = std::vector<session_action>;

struct session_timing {
  millis hello_timeout = 20000;   // socket open → HELLO
  millis ready_timeout = 60000;   // IDENTIFY/RESUME → READY/RESUMED
  millis backoff_base = 1000;     // reconnect delay after the first failure, doubling per failure …
  millis backoff_cap = 60000;     // … up to this
  int max_resume_attempts = 3;    // failed RESUMEs in a row before the session is given up for an IDENTIFY
  int max_identify_attempts = 5;  // failed IDENTIFYs in a row before the shard stops instead of draining the budget
  // How long resume_gateway_url must have failed to connect before RESUME goes to the bootstrap URL instead. Discord
  // allows that but penalises it with more disconnects, and a network cut fails both hosts alike: only a resume host
  // that stays dead while time passes is worth leaving.
  millis resume_host_grace = 20000;
};

class session_machine {
 public:
  session_machine(std::string gateway_url, session_timing timing = {}, std::uint64_t seed = 0);

  session_actions start(session_state initial, millis now);
  // Graceful: close with a resumable code; the session stays resumable. Ending it instead closes with 1000, which
  // ends the session on Discord's side too (a superseded shard set after a reshard).
  session_actions stop(millis now, bool end_session = false);

  session_actions on_open(millis now);
  session_actions on_connect_failed(std::string_view why, millis now);
  session_actions on_hello(millis heartbeat_interval, millis now);
  session_actions on_identify_slot(millis now);
  session_actions on_dispatch(std::int64_t seq);
  session_actions on_ready(std::string_view session_id, std::string_view resume_url, millis now);
  session_actions on_resumed(millis now);
  session_actions on_heartbeat_ack(millis now);
  session_actions on_heartbeat_request(millis now);
  session_actions on_reconnect_request(millis now);
  session_actions on_invalid_session(bool resumable, millis now);
  session_actions on_closed(int code, millis now);
  // G dropped the connection itself because a message could not be decoded (or inflated): the stream is not to be
  // trusted, the session is. Resumes, as after a connection lost without a close frame.
  session_actions on_undecodable(std::string_view why, millis now);  // code 0: the socket ended without a close frame
  session_actions on_tick(millis now);

  millis next_wakeup() const;  // when on_tick is next due; INT64_MAX if nothing is pending
  const session_state& state() const { return state_; }
  session_phase phase() const { return phase_; }
  millis latency_ms() const { return latency_; }  // last heartbeat round trip, -1 before the first ACK
  const std::string& last_error() const { return error_; }
  int consecutive_failures() const { return failures_; }

 private:
  enum class next_step { resume, reidentify, reidentify_later, stop };

  void set_phase(session_phase p, session_actions& out);
  void begin_close(int code, next_step then, std::string reason, session_actions& out);
  void schedule_reconnect(millis delay, millis now, session_actions& out);
  void drop_session(session_actions& out);
  void stop_fatal(std::string reason, session_actions& out);
  bool connected() const;
  millis backoff();
  std::string connect_url() const;

  std::string gateway_url_;
  session_timing timing_;
  std::mt19937_64 rng_;
  session_state state_;
  session_phase phase_ = session_phase::idle;
  next_step after_close_ = next_step::resume;
  session_phase closing_from_ = session_phase::idle;  // the phase we were in when we decided to close
  std::string error_;

  millis interval_ = 0;
  millis next_beat_ = 0;
  bool awaiting_ack_ = false;
  millis beat_sent_at_ = 0;
  millis latency_ = -1;

  millis hello_deadline_ = 0;
  millis ready_deadline_ = 0;
  millis reconnect_at_ = 0;

  int failures_ = 0;             // connections in a row that did not reach READY/RESUMED
  int resume_attempts_ = 0;
  int identify_attempts_ = 0;
  int resume_connect_failures_ = 0;
  millis resume_failing_since_ = 0;  // first failed connect to the resume host in this run of failures
  bool use_gateway_for_resume_ = false;  // the resume host stopped answering
  std::string connected_url_;  // where the current (or last) connection went
};

}  // namespace g::net
