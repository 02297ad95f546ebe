// The shard session against g-fakecord: every fault kind and close code gives the right recovery, checked
// through g-fakecord's stats as well as the session's own reports.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

#include "net/gateway/identify_gate.hpp"
#include "net/gateway/shard_connection.hpp"
#include "tests/support/fakecord_process.hpp"
#include "tests/support/gateway_test_client.hpp"

using namespace g::net;
using g::test::fakecord_process;
using g::test::json_int;
using g::test::json_str;
using namespace std::chrono_literals;

namespace {

struct recorder : shard_listener {
  std::mutex mu;
  std::vector<std::int64_t> seqs;
  std::vector<std::string> types;
  std::vector<shard_report> reports;
  std::string last_session;

  void on_dispatch(const gateway_frame& f, std::string_view) override {
    std::lock_guard l(mu);
    seqs.push_back(f.s);
    types.emplace_back(f.t);
  }
  void on_report(const shard_report& r) override {
    std::lock_guard l(mu);
    reports.push_back(r);
  }
  template <class P>
  bool wait(P pred, std::chrono::milliseconds timeout = 10s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard l(mu);
        if (pred()) return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::lock_guard l(mu);
    return pred();
  }
  std::size_t count(std::string_view t) {
    return static_cast<std::size_t>(std::count(types.begin(), types.end(), t));
  }
  bool ready() { return !reports.empty() && reports.back().phase == session_phase::ready; }
  shard_report last() { return reports.empty() ? shard_report{} : reports.back(); }
  // Within one session, the sequence numbers seen are 1, 2, 3 … : no gap, no duplicate.
  bool contiguous() {
    std::int64_t expect = 0;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (types[i] == "READY") expect = 0;
      if (seqs[i] != expect + 1) return false;
      expect = seqs[i];
    }
    return true;
  }
};

struct io_thread {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread t{[this] { io.run(); }};
  ~io_thread() {
    work.reset();
    io.stop();
    t.join();
  }
};

struct harness {
  fakecord_process fc;
  io_thread io;
  std::unique_ptr<identify_gate> gate;
  recorder rec;
  std::unique_ptr<shard_connection> conn;

  explicit harness(std::vector<std::string> fakecord_args, std::string compress = "zlib-stream", int shard = 0,
                   int shards = 1)
      : fc(std::move(fakecord_args)), gate(make_local_identify_gate(io.io, 1)) {
    conn = std::make_unique<shard_connection>(io.io, config(compress, shard, shards), *gate, rec);
  }
  shard_config config(const std::string& compress, int shard, int shards) {
    shard_config c;
    c.gateway_url = "ws://127.0.0.1:" + std::to_string(fc.port()) + "/";
    c.token = "test-token";
    c.shard_id = shard;
    c.shard_count = shards;
    c.intents = 1 | 512 | 32768;
    c.compress = compress;
    c.seed = 42;
    c.timing.backoff_base = 100;  // keep the tests quick; the policy is the same
    return c;
  }
  std::string stats() { return fc.stats(); }
  std::int64_t stat(const char* pointer) { return json_int(stats(), pointer); }
  void fault(const std::string& kind) { fc.post("/_fakecord/fault", R"({"shard":0,"kind":")" + kind + "\"}"); }
  bool violations_none() { return stats().find(R"("violations":{})") != std::string::npos; }
  void dispatch(const std::string& guild, const std::string& text) {
    fc.post("/_fakecord/dispatch", R"({"guild_id":")" + guild + R"(","t":"MESSAGE_CREATE","d":{"content":")" + text + "\"}}");
  }
};

}  // namespace

TEST_CASE("identify, READY and every GUILD_CREATE arrive in order over zlib-stream, zstd-stream and plain JSON") {
  for (const char* compress : {"zlib-stream", "zstd-stream", "none"}) {
    CAPTURE(compress);
    harness h({"--guilds", "5"}, compress);
    h.conn->start();
    REQUIRE(h.rec.wait([&] { return h.rec.count("GUILD_CREATE") == 5; }));
    std::lock_guard l(h.rec.mu);
    CHECK(h.rec.types.front() == "READY");
    CHECK(h.rec.contiguous());
    CHECK(h.rec.last().phase == session_phase::ready);
    CHECK(h.rec.last().session.session_id.size() == 32);
    CHECK(h.rec.last().session.resume_url.find("/resume") != std::string::npos);
  }
}

TEST_CASE("op 7, drop and resumable close codes resume: no new identify, contiguous sequence") {
  for (const char* fault : {"reconnect", "drop", "close:4000", "close:4001", "close:4002", "close:4008", "close:1000",
                            "close:1001"}) {
    CAPTURE(fault);
    harness h({"--guilds", "2", "--rate", "200"});
    h.conn->start();
    REQUIRE(h.rec.wait([&] { return h.rec.ready() && h.rec.seqs.size() > 20; }));
    h.fault(fault);
    REQUIRE(h.rec.wait([&] { return h.rec.count("RESUMED") == 1; }));
    REQUIRE(h.rec.wait([&] { return h.rec.seqs.size() > 60; }));
    CHECK(h.stat("/resumes") == 1);
    CHECK(h.stat("/identifies") == 1);
    CHECK_MESSAGE(h.violations_none(), h.stats());
    std::lock_guard l(h.rec.mu);
    CHECK(h.rec.contiguous());
  }
}

TEST_CASE("op 9 false and session-ending close codes identify anew") {
  for (const char* fault : {"invalidate", "close:4003", "close:4005", "close:4007", "close:4009"}) {
    CAPTURE(fault);
    harness h({"--guilds", "1", "--max-concurrency", "1"});
    h.conn->start();
    REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
    h.fault(fault);
    // The identify gate spaces IDENTIFYs 5 s apart per bucket; op 9 adds 1-5 s.
    REQUIRE(h.rec.wait([&] { return h.rec.count("READY") == 2; }, 15s));
    CHECK(h.stat("/identifies") == 2);
    CHECK(h.stat("/resumes") == 0);
    CHECK_MESSAGE(h.violations_none(), h.stats());
  }
}

TEST_CASE("op 9 true resumes the same session") {
  harness h({"--guilds", "1"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  h.fault("invalidate_resumable");
  REQUIRE(h.rec.wait([&] { return h.rec.count("RESUMED") == 1; }));
  CHECK(h.stat("/identifies") == 1);
  CHECK(h.stat("/resumes") == 1);
}

TEST_CASE("fatal close codes stop the session with an operator-visible error and never reconnect") {
  for (int code : {4004, 4010, 4011, 4012, 4013, 4014}) {
    CAPTURE(code);
    harness h({"--guilds", "1"});
    h.conn->start();
    REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
    h.fault("close:" + std::to_string(code));
    REQUIRE(h.rec.wait([&] { return h.rec.last().fatal; }));
    CHECK(h.rec.last().phase == session_phase::stopped);
    CHECK(h.rec.last().error.find(std::to_string(code)) != std::string::npos);
    std::this_thread::sleep_for(300ms);
    CHECK(h.stat("/connections") == 0);
    CHECK(h.stat("/identifies") == 1);
  }
}

TEST_CASE("a bad token stops at once instead of retrying") {
  harness h({"--guilds", "1", "--token", "right"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.last().fatal; }));
  CHECK(h.rec.last().error.find("4004") != std::string::npos);
  std::size_t reports = 0;
  {
    std::lock_guard l(h.rec.mu);
    reports = h.rec.reports.size();
  }
  std::this_thread::sleep_for(300ms);
  CHECK(h.stat("/connections") == 0);
  std::lock_guard l(h.rec.mu);
  CHECK(h.rec.reports.size() == reports);  // a retry would have reported connecting again
  CHECK(h.rec.reports.back().phase == session_phase::stopped);
}

TEST_CASE("zombie detection: heartbeats without ACK lead to a resume") {
  harness h({"--guilds", "1", "--heartbeat-ms", "300"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  h.fault("zombie");
  REQUIRE(h.rec.wait([&] { return h.rec.count("RESUMED") == 1; }));
  CHECK(h.stat("/resumes") == 1);
  CHECK(h.stat("/identifies") == 1);
}

TEST_CASE("a stalled connection is detected and the stalled events are replayed on resume") {
  harness h({"--guilds", "1", "--heartbeat-ms", "300", "--rate", "100"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready() && h.rec.seqs.size() > 10; }));
  h.fault("stall");
  REQUIRE(h.rec.wait([&] { return h.rec.count("RESUMED") == 1; }));
  REQUIRE(h.rec.wait([&] { return h.rec.seqs.size() > 80; }));
  std::lock_guard l(h.rec.mu);
  CHECK(h.rec.contiguous());
}

TEST_CASE("a server heartbeat request is answered at once") {
  harness h({"--guilds", "1", "--heartbeat-ms", "60000"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  std::int64_t before = h.stat("/heartbeats");
  for (int i = 0; i < 3; ++i) h.fault("heartbeat_request");
  std::this_thread::sleep_for(300ms);
  CHECK(h.stat("/heartbeats") >= before + 3);  // each request answered with an op 1
  CHECK(h.stat("/connections") == 1);
  CHECK_MESSAGE(h.violations_none(), h.stats());
}

TEST_CASE("paused reading holds events back, resuming delivers them all in order") {
  harness h({"--guilds", "1", "--heartbeat-ms", "60000"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.count("GUILD_CREATE") == 1; }));
  h.conn->pause_reading(true);
  std::this_thread::sleep_for(100ms);
  std::size_t before;
  {
    std::lock_guard l(h.rec.mu);
    before = h.rec.seqs.size();
  }
  h.fc.post("/_fakecord/load", R"({"rate":500})");
  std::this_thread::sleep_for(500ms);
  {
    std::lock_guard l(h.rec.mu);
    CHECK(h.rec.seqs.size() <= before + 1);  // at most one message already in flight
  }
  h.fc.post("/_fakecord/load", R"({"rate":0})");
  h.conn->pause_reading(false);
  REQUIRE(h.rec.wait([&] { return h.rec.seqs.size() > before + 100; }));
  std::lock_guard l(h.rec.mu);
  CHECK(h.rec.contiguous());
}

TEST_CASE("a session handed in by another process is resumed from its seq") {
  fakecord_process fc({"--guilds", "2"});
  io_thread io;
  auto gate = make_local_identify_gate(io.io, 1);
  shard_config c;
  c.gateway_url = "ws://127.0.0.1:" + std::to_string(fc.port()) + "/";
  c.token = "t";
  c.intents = 513;
  session_state handed;
  {
    recorder first;
    shard_connection a(io.io, c, *gate, first);
    a.start();
    REQUIRE(first.wait([&] { return first.count("GUILD_CREATE") == 2; }));
    std::lock_guard l(first.mu);
    handed = first.last().session;
    handed.seq = first.seqs.back() - 1;  // as if the last event had not been committed
  }  // destroyed without a graceful stop: like a crash
  recorder second;
  shard_connection b(io.io, c, *gate, second);
  b.start(handed);
  REQUIRE(second.wait([&] { return second.count("RESUMED") == 1; }));
  std::lock_guard l(second.mu);
  REQUIRE(second.seqs.size() >= 2);
  CHECK(second.seqs.front() == handed.seq + 1);  // exactly the uncommitted event is replayed
  CHECK(second.types.front() == "GUILD_CREATE");
  CHECK(json_int(fc.stats(), "/identifies") == 1);
  CHECK(json_int(fc.stats(), "/resumes") == 1);
}

TEST_CASE("graceful stop closes with a resumable code: the next start resumes") {
  harness h({"--guilds", "1"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  h.conn->stop();
  REQUIRE(h.rec.wait([&] { return h.rec.last().phase == session_phase::stopped; }));
  session_state s = h.rec.last().session;
  CHECK(s.resumable());
  CHECK(h.stats().find(R"("connected":false)") != std::string::npos);  // session kept by Discord
  h.conn->start(s);
  REQUIRE(h.rec.wait([&] { return h.rec.count("RESUMED") == 1; }));
  CHECK(h.stat("/identifies") == 1);
}

TEST_CASE("the identify gate honours max_concurrency: 4 shards, 2 buckets, zero violations") {
  fakecord_process fc({"--guilds", "8", "--max-concurrency", "2"});
  io_thread io;
  auto gate = make_local_identify_gate(io.io, 2);
  std::vector<std::unique_ptr<recorder>> recs;
  std::vector<std::unique_ptr<shard_connection>> conns;
  for (int s = 0; s < 4; ++s) {
    shard_config c;
    c.gateway_url = "ws://127.0.0.1:" + std::to_string(fc.port()) + "/";
    c.token = "t";
    c.intents = 513;
    c.shard_id = s;
    c.shard_count = 4;
    recs.push_back(std::make_unique<recorder>());
    conns.push_back(std::make_unique<shard_connection>(io.io, c, *gate, *recs.back()));
    conns.back()->start();
  }
  for (auto& r : recs) REQUIRE(r->wait([&] { return r->ready(); }, 15s));
  CHECK(json_int(fc.stats(), "/identifies") == 4);
  CHECK(fc.stats().find(R"("violations":{})") != std::string::npos);
}

TEST_CASE("commands: validated, sent within the budget under a flood, the queue bounded, the connection kept") {
  // Declared before the harness: queued commands report back until the connection is gone.
  std::mutex mu;
  std::map<command_result, int> results;
  std::vector<std::string> reasons;
  harness h({"--guilds", "1"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  auto done = [&](command_result r, std::string why) {
    std::lock_guard l(mu);
    ++results[r];
    if (!why.empty()) reasons.push_back(why);
  };
  h.conn->send_command(2, R"({"token":"x"})", done);              // not a backend command
  h.conn->send_command(3, R"({"status":)", done);                  // not JSON
  h.conn->send_command(3, "[1]", done);                            // not an object
  h.conn->send_command(3, R"({"x":")" + std::string(5000, 'a') + "\"}", done);  // too big
  const std::string presence = R"({"since":null,"activities":[],"status":"online","afk":false})";
  for (int i = 0; i < 400; ++i) h.conn->send_command(3, presence, done);
  REQUIRE(h.rec.wait([&] {
    std::lock_guard l(mu);
    return results[command_result::sent] >= 100;
  }));
  std::this_thread::sleep_for(1s);
  {
    std::lock_guard l(mu);
    CHECK(results[command_result::rejected_unknown_op] == 1);
    CHECK(results[command_result::rejected_bad_json] == 2);
    CHECK(results[command_result::rejected_too_large] == 1);
    // 256 fit in the queue; a few drain while the rest arrive; everything else is refused, not dropped silently.
    CHECK(results[command_result::rejected_queue_full] > 0);
    CHECK(results[command_result::rejected_queue_full] <= 400 - 256);
    CHECK(results[command_result::sent] <= 110);  // the rest waits for the next 60 s window
    CHECK(results[command_result::sent] >= 100);
  }
  CHECK(h.stat("/connections") == 1);
  CHECK_MESSAGE(h.violations_none(), h.stats());  // never 4008
  CHECK(json_int(h.fc.get("/_fakecord/received?op=3"), "/commands/0/op") == 3);
}

TEST_CASE("a command larger than the WebSocket's 1 KiB write buffer goes out whole") {
  harness h({"--guilds", "1"});
  h.conn->start();
  REQUIRE(h.rec.wait([&] { return h.rec.ready(); }));
  std::string ids;
  for (int i = 0; i < 100; ++i) ids += (i ? ",\"" : "\"") + std::to_string(100000000000000000ULL + static_cast<unsigned>(i)) + "\"";
  const std::string d = R"({"guild_id":"1","query":"","limit":0,"user_ids":[)" + ids + "]}";
  REQUIRE(d.size() > 2048);
  std::promise<command_result> sent;
  h.conn->send_command(8, d, [&](command_result r, std::string) { sent.set_value(r); });
  auto f = sent.get_future();
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  CHECK(f.get() == command_result::sent);
  std::string received;
  REQUIRE(h.rec.wait([&] { return (received = h.fc.get("/_fakecord/received?op=8")).find("100000000000000099") != std::string::npos; }));
  CHECK(received.find("100000000000000000") != std::string::npos);
  CHECK_MESSAGE(h.violations_none(), h.stats());
}

TEST_CASE("wss:// with certificate verification: a trusted CA connects, an unknown one is refused") {
  auto dir = std::filesystem::temp_directory_path() / ("g-shard-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
                    "subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  fakecord_process fc({"--guilds", "1", "--tls-cert", cert, "--tls-key", key});
  io_thread io;
  auto gate = make_local_identify_gate(io.io, 1);
  shard_config c;
  c.gateway_url = "wss://127.0.0.1:" + std::to_string(fc.port()) + "/";
  c.token = "t";
  c.intents = 513;
  c.timing.backoff_base = 100;
  {
    recorder untrusted;
    shard_connection a(io.io, c, *gate, untrusted);
    a.start();
    REQUIRE(untrusted.wait([&] { return !untrusted.reports.empty() && untrusted.last().error.find("TLS") != std::string::npos; }));
    CHECK_FALSE(untrusted.ready());
  }
  c.ca_file = cert;
  recorder trusted;
  shard_connection b(io.io, c, *gate, trusted);
  b.start();
  CHECK(trusted.wait([&] { return trusted.ready(); }));
  std::filesystem::remove_all(dir);
}

#include "net/rest/gateway_bot.hpp"

TEST_CASE("REST /gateway/bot: values, token rejection, 429 waits retry_after, 5xx retried, gives up in the end") {
  fakecord_process fc({"--guilds", "3000", "--max-concurrency", "4", "--token", "good"});
  rest_options o;
  o.rest_url = "http://127.0.0.1:" + std::to_string(fc.port()) + "/api";
  o.token = "good";
  o.backoff_base_ms = 50;
  auto r = fetch_gateway_bot(o);
  REQUIRE(std::holds_alternative<gateway_bot>(r));
  auto& gb = std::get<gateway_bot>(r);
  CHECK(gb.url == "ws://127.0.0.1:" + std::to_string(fc.port()) + "/");
  CHECK(gb.shards == 3);
  CHECK(gb.max_concurrency == 4);
  CHECK(gb.session_remaining == 1000);

  o.token = "bad";
  r = fetch_gateway_bot(o);
  REQUIRE(std::holds_alternative<rest_error>(r));
  CHECK(std::get<rest_error>(r).what == rest_error::token_rejected);
  o.token = "good";

  fc.post("/_fakecord/rest_fault", R"({"status":429,"count":1,"retry_after":0.3})");
  auto t0 = std::chrono::steady_clock::now();
  r = fetch_gateway_bot(o);
  CHECK(std::holds_alternative<gateway_bot>(r));
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);

  fc.post("/_fakecord/rest_fault", R"({"status":503,"count":2})");
  r = fetch_gateway_bot(o);
  CHECK(std::holds_alternative<gateway_bot>(r));

  fc.post("/_fakecord/rest_fault", R"({"status":500,"count":10})");
  o.max_attempts = 3;
  r = fetch_gateway_bot(o);
  REQUIRE(std::holds_alternative<rest_error>(r));
  CHECK(std::get<rest_error>(r).message.find("after 3 attempts") != std::string::npos);

  o.rest_url = "http://127.0.0.1:1/api";  // nothing listens there
  r = fetch_gateway_bot(o);
  REQUIRE(std::holds_alternative<rest_error>(r));
  CHECK(std::get<rest_error>(r).what == rest_error::network);
}
