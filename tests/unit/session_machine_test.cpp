#include <doctest/doctest.h>

#include <algorithm>

#include "net/gateway/close_policy.hpp"
#include "net/gateway/session_machine.hpp"

using namespace g::net;
using K = session_action::kind;

namespace {

bool has(const session_actions& a, K k) {
  return std::any_of(a.begin(), a.end(), [k](const session_action& x) { return x.what == k; });
}
const session_action& find(const session_actions& a, K k) {
  auto it = std::find_if(a.begin(), a.end(), [k](const session_action& x) { return x.what == k; });
  REQUIRE(it != a.end());
  return *it;
}

// A machine driven to READY on a fresh session at time `t`.
struct driver {
  session_machine m{"wss://gateway.example/", session_timing{}, 7};
  millis t = 1000;

  void to_ready() {
    auto a = m.start({}, t);
    CHECK(find(a, K::connect).url == "wss://gateway.example/");
    m.on_open(t);
    a = m.on_hello(41250, t);
    CHECK(has(a, K::request_identify_slot));
    a = m.on_identify_slot(t);
    CHECK(has(a, K::send_identify));
    m.on_dispatch(1);
    a = m.on_ready("sess", "wss://resume.example", t);
    CHECK(m.phase() == session_phase::ready);
    CHECK(has(a, K::report));
  }
  // Runs ticks until `until`, returning every action.
  session_actions run_until(millis until, bool ack = true) {
    session_actions all;
    while (m.next_wakeup() <= until) {
      t = std::max(t, m.next_wakeup());
      auto a = m.on_tick(t);
      for (auto& x : a) {
        if (ack && x.what == K::send_heartbeat) m.on_heartbeat_ack(t + 5);
        all.push_back(x);
      }
      if (a.empty()) break;
    }
    t = until;
    return all;
  }
};

}  // namespace

TEST_CASE("fresh start: connect, HELLO, identify slot, IDENTIFY, READY") {
  driver d;
  d.to_ready();
  CHECK(d.m.state().session_id == "sess");
  CHECK(d.m.state().resume_url == "wss://resume.example");
  CHECK(d.m.state().seq == 1);
}

TEST_CASE("heartbeats: first after interval x jitter, then every interval, carrying the last seq") {
  driver d;
  d.to_ready();
  d.m.on_dispatch(5);
  CHECK(d.m.next_wakeup() >= d.t);
  CHECK(d.m.next_wakeup() < d.t + 41250);
  auto beats = d.run_until(d.t + 41250 * 3 + 1);
  auto n = std::count_if(beats.begin(), beats.end(), [](auto& a) { return a.what == K::send_heartbeat; });
  CHECK(n >= 3);
  CHECK(n <= 4);
  CHECK(find(beats, K::send_heartbeat).seq == 5);
  CHECK(d.m.latency_ms() == 5);
  CHECK(d.m.phase() == session_phase::ready);
}

TEST_CASE("a heartbeat ACK reports the round trip, so metrics and the status page show it") {
  driver d;
  d.to_ready();
  auto beats = d.run_until(d.t + 41250 + 1, false);  // the first beat (interval x jitter), not yet ACKed
  REQUIRE(find(beats, K::send_heartbeat).what == K::send_heartbeat);
  auto acked = d.m.on_heartbeat_ack(d.t + 7);
  CHECK(find(acked, K::report).what == K::report);
  CHECK(d.m.latency_ms() >= 7);
  CHECK(d.m.on_heartbeat_ack(d.t + 9).empty());  // an ACK nobody waited for changes nothing
}

TEST_CASE("heartbeat before any dispatch carries null") {
  session_machine m("ws://g/", {}, 1);
  m.start({}, 0);
  m.on_open(0);
  m.on_hello(1000, 0);
  auto a = m.on_tick(m.next_wakeup());
  CHECK(find(a, K::send_heartbeat).seq == -1);
}

TEST_CASE("zombie: no ACK since the last beat closes with a resumable code and resumes on the resume URL") {
  driver d;
  d.to_ready();
  auto a = d.run_until(d.t + 41250 * 2 + 1, false);
  const auto& close = find(a, K::close);
  CHECK(close.code == resumable_close_code);
  CHECK(d.m.phase() == session_phase::closing);
  a = d.m.on_closed(resumable_close_code, d.t);
  CHECK(d.m.state().resumable());
  // One failure: a short backoff, then a connection to the resume URL and a RESUME.
  a = d.run_until(d.t + 2000);
  CHECK(find(a, K::connect).url == "wss://resume.example");
  d.m.on_open(d.t);
  a = d.m.on_hello(41250, d.t);
  CHECK(find(a, K::send_resume).seq == d.m.state().seq);
  d.m.on_resumed(d.t);
  CHECK(d.m.phase() == session_phase::ready);
  CHECK(d.m.consecutive_failures() == 0);
}

TEST_CASE("a server op 1 is answered at once") {
  driver d;
  d.to_ready();
  d.m.on_dispatch(9);
  auto a = d.m.on_heartbeat_request(d.t);
  CHECK(find(a, K::send_heartbeat).seq == 9);
}

TEST_CASE("op 7: close resumable, reconnect at once, RESUME") {
  driver d;
  d.to_ready();
  auto a = d.m.on_reconnect_request(d.t);
  CHECK(find(a, K::close).code == resumable_close_code);
  a = d.m.on_closed(resumable_close_code, d.t);
  CHECK(find(a, K::connect).url == "wss://resume.example");  // no backoff: op 7 is not a failure
}

TEST_CASE("op 9 true resumes on resume_gateway_url: from a bootstrap socket by reconnecting, on its socket at once") {
  driver d;
  d.to_ready();  // identified on the bootstrap URL
  auto a = d.m.on_invalid_session(true, d.t);
  CHECK_FALSE(has(a, K::send_resume));
  CHECK(find(a, K::close).code == resumable_close_code);
  a = d.m.on_closed(resumable_close_code, d.t);
  CHECK(find(a, K::connect).url == "wss://resume.example");
  d.m.on_open(d.t);
  a = d.m.on_hello(41250, d.t);
  CHECK(has(a, K::send_resume));
  d.m.on_resumed(d.t);
  REQUIRE(d.m.phase() == session_phase::ready);
  a = d.m.on_invalid_session(true, d.t);  // now on resume_gateway_url's socket: RESUME on it
  CHECK(has(a, K::send_resume));
  CHECK_FALSE(has(a, K::close));
}

TEST_CASE("op 9 true resumes on the same socket, op 9 false drops the session and identifies after 1-5 s") {
  driver d;
  auto a = d.m.start(session_state{"sess", 5, "wss://resume.example"}, d.t);  // a handed-in session: resume URL
  CHECK(find(a, K::connect).url == "wss://resume.example");
  d.m.on_open(d.t);
  d.m.on_hello(41250, d.t);
  d.m.on_resumed(d.t);
  REQUIRE(d.m.phase() == session_phase::ready);
  a = d.m.on_invalid_session(true, d.t);
  CHECK(has(a, K::send_resume));
  CHECK(d.m.phase() == session_phase::resuming);
  a = d.m.on_invalid_session(false, d.t);
  CHECK(find(a, K::close).code == 1000);
  CHECK_FALSE(d.m.state().resumable());
  a = d.m.on_closed(1000, d.t);
  CHECK(d.m.phase() == session_phase::reconnecting);
  CHECK(d.m.next_wakeup() >= d.t + 1000);
  CHECK(d.m.next_wakeup() <= d.t + 5000);
  a = d.run_until(d.t + 5000);
  CHECK(find(a, K::connect).url == "wss://gateway.example/");
}

TEST_CASE("every close code leads to the policy's recovery") {
  for (int code : {0, 1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4007, 4008, 4009, 4004, 4010, 4011, 4012, 4013, 4014}) {
    CAPTURE(code);
    driver d;
    d.to_ready();
    auto a = d.m.on_closed(code, d.t);
    switch (close_policy(code).action) {
      case after_close::fatal:
        CHECK(d.m.phase() == session_phase::stopped);
        CHECK(has(a, K::fatal));
        CHECK(d.m.next_wakeup() == INT64_MAX);
        break;
      case after_close::reidentify:
        CHECK_FALSE(d.m.state().resumable());
        CHECK(find(a, K::connect).url == "wss://gateway.example/");
        break;
      case after_close::resume:
        CHECK(d.m.state().resumable());
        CHECK(find(a, K::connect).url == "wss://resume.example");
        break;
    }
  }
}

TEST_CASE("a resume that keeps failing falls back to IDENTIFY") {
  driver d;
  d.to_ready();
  d.m.on_closed(0, d.t);
  for (int attempt = 0; attempt < 3; ++attempt) {
    d.run_until(d.t + 120000);
    REQUIRE(d.m.phase() == session_phase::connecting);
    d.m.on_open(d.t);
    auto a = d.m.on_hello(41250, d.t);
    REQUIRE(has(a, K::send_resume));
    d.m.on_closed(4000, d.t);  // closed again before RESUMED
  }
  CHECK_FALSE(d.m.state().resumable());
  d.run_until(d.t + 120000);
  d.m.on_open(d.t);
  auto a = d.m.on_hello(41250, d.t);
  CHECK(has(a, K::request_identify_slot));
}

TEST_CASE("repeated IDENTIFY failures stop the shard instead of draining the session budget") {
  driver d;
  d.m.start({}, d.t);
  bool stopped = false;
  for (int i = 0; i < 10 && !stopped; ++i) {
    d.run_until(d.t + 200000);
    REQUIRE(d.m.phase() == session_phase::connecting);
    d.m.on_open(d.t);
    d.m.on_hello(41250, d.t);
    d.m.on_identify_slot(d.t);
    auto a = d.m.on_closed(4000, d.t);  // the connection dies before READY, every time
    stopped = has(a, K::fatal);
  }
  CHECK(stopped);
  CHECK(d.m.phase() == session_phase::stopped);
  CHECK(d.m.last_error().find("IDENTIFY failed 5 times") != std::string::npos);
}

TEST_CASE("reconnect backoff grows exponentially with jitter and is capped") {
  session_machine m("ws://g/", {}, 3);
  m.start({}, 0);
  millis now = 0, last_delay = 0;
  for (int i = 1; i <= 10; ++i) {
    m.on_connect_failed("refused", now);
    REQUIRE(m.phase() == session_phase::reconnecting);
    millis delay = m.next_wakeup() - now;
    CHECK(delay <= 60000);
    if (i <= 5) CHECK(delay >= last_delay / 2);
    if (i == 1) CHECK(delay >= 500);
    if (i >= 8) CHECK(delay >= 30000);
    last_delay = delay;
    now = m.next_wakeup();
    m.on_tick(now);
    REQUIRE(m.phase() == session_phase::connecting);
  }
}

TEST_CASE("a resume URL that stops answering falls back to the bootstrap URL for RESUME") {
  session_machine m("ws://bootstrap/", {}, 5);
  auto a = m.start(session_state{"s1", 10, "ws://resume-host"}, 0);
  CHECK(find(a, K::connect).url == "ws://resume-host");
  millis now = 0;
  m.on_connect_failed("refused", now);
  now = m.next_wakeup();
  a = m.on_tick(now);
  CHECK(find(a, K::connect).url == "ws://resume-host");
  m.on_connect_failed("refused", now);
  now = m.next_wakeup();
  a = m.on_tick(now);
  // Two failures within the grace: a network cut fails every host alike, so the resume host is tried again.
  CHECK(find(a, K::connect).url == "ws://resume-host");
  while (now < 20000) {
    m.on_connect_failed("refused", now);
    now = m.next_wakeup();
    a = m.on_tick(now);
    if (now < 20000) CHECK(find(a, K::connect).url == "ws://resume-host");
  }
  m.on_connect_failed("refused", now);
  now = m.next_wakeup();
  a = m.on_tick(now);
  CHECK(find(a, K::connect).url == "ws://bootstrap/");
  m.on_open(now);
  a = m.on_hello(1000, now);
  CHECK(find(a, K::send_resume).seq == 10);
}

TEST_CASE("a handed-in session resumes from its seq") {
  session_machine m("ws://bootstrap/", {}, 5);
  auto a = m.start(session_state{"abc", 1234, "ws://resume"}, 0);
  m.on_open(0);
  a = m.on_hello(1000, 0);
  CHECK(find(a, K::send_resume).seq == 1234);
}

TEST_CASE("no HELLO in time, or no READY in time, closes and retries") {
  session_machine m("ws://g/", {}, 5);
  m.start({}, 0);
  m.on_open(0);
  auto a = m.on_tick(20000);
  CHECK(has(a, K::close));
  m.on_closed(resumable_close_code, 20000);
  CHECK(m.phase() == session_phase::reconnecting);

  session_machine r("ws://g/", {}, 5);
  r.start({}, 0);
  r.on_open(0);
  r.on_hello(100000, 0);
  r.on_identify_slot(0);
  a = r.on_tick(60000);
  CHECK(has(a, K::close));
}

TEST_CASE("leaving the slot queue cancels the identify slot request") {
  session_machine m("ws://g/", {}, 5);
  m.start({}, 0);
  m.on_open(0);
  m.on_hello(41250, 0);
  REQUIRE(m.phase() == session_phase::awaiting_slot);
  auto a = m.on_closed(1006, 10);
  CHECK(has(a, K::cancel_identify_slot));
  CHECK(m.on_identify_slot(20).empty());  // a late grant is ignored
}

TEST_CASE("a stop that ends the session closes with 1000") {
  driver d;
  d.to_ready();
  auto a = d.m.stop(d.t, true);
  CHECK(find(a, K::close).code == 1000);
  d.m.on_closed(1000, d.t);
  CHECK(d.m.phase() == session_phase::stopped);
  CHECK(d.m.next_wakeup() == INT64_MAX);
}

TEST_CASE("graceful stop closes with a resumable code and keeps the session") {
  driver d;
  d.to_ready();
  auto a = d.m.stop(d.t);
  CHECK(find(a, K::close).code == resumable_close_code);
  d.m.on_closed(resumable_close_code, d.t);
  CHECK(d.m.phase() == session_phase::stopped);
  CHECK(d.m.state().resumable());
  CHECK(d.m.next_wakeup() == INT64_MAX);
}

TEST_CASE("a message G cannot decode drops the connection and resumes the session on resume_gateway_url") {
  driver d;
  d.to_ready();
  auto a = d.m.on_undecodable("READY without session_id", d.t);
  CHECK(d.m.last_error() == "dropped the connection: READY without session_id");
  CHECK(d.m.state().resumable());
  CHECK(has(a, K::report));
  CHECK(find(a, K::connect).url == "wss://resume.example");  // at once: the session was ready
  d.m.on_open(d.t);
  a = d.m.on_hello(41250, d.t);
  CHECK(has(a, K::send_resume));
  // Not connected (between connections): nothing to drop.
  session_machine idle("wss://gateway.example/", session_timing{}, 1);
  CHECK(idle.on_undecodable("x", 0).empty());
}
