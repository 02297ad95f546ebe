// The data path's Redis connection (redis_pipe) against a real redis-server: pipelined commands answered in order,
// a commit in the wire format as the node sends it, and every failure answered (a crash, a stall, a replica,
// a refused AUTH), then a new connection.
#include <doctest/doctest.h>

#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/redis/commit_batch.hpp"
#include "net/redis/redis_pipe.hpp"
#include "net/redis/shard_store.hpp"
#include "tests/redis/private_redis.hpp"

using namespace g::net;
using namespace std::chrono_literals;

namespace {

// Runs the io_context on this thread until `done` or the time is up.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

}  // namespace

TEST_CASE("redis pipe: commands go out pipelined and are answered in order") {
  g::harness::redis_process server;
  boost::asio::io_context io;
  redis_pipe pipe(io, g::test::at(server));
  std::vector<long long> got;
  bool inside_send = true;
  bool answered_inside = false;
  for (int i = 0; i < 1000; ++i)
    pipe.command({"INCR", "n"}, [&](redis_reply r) {
      answered_inside |= inside_send;
      got.push_back(r.type == redis_reply::integer ? r.number : -1);
    });
  inside_send = false;
  CHECK(pipe.waiting() == 1000);
  REQUIRE(run_until(io, [&] { return got.size() == 1000; }));
  CHECK_FALSE(answered_inside);
  for (int i = 0; i < 1000; ++i) CHECK(got[static_cast<std::size_t>(i)] == i + 1);
  CHECK(pipe.connections() == 1);
  CHECK(pipe.waiting() == 0);
}

TEST_CASE("redis pipe: a commit in the wire format, as a node's io thread sends it, commits exactly once") {
  g::harness::redis_process server;
  boost::asio::io_context io;
  redis_pipe pipe(io, g::test::at(server), {commit_script_text()});  // EVALSHA works: loaded on connect
  redis_keys keys("g");
  commit_batch batch;
  auto tag = std::make_shared<session_tag>(session_tag{"s1", "wss://resume"});
  for (int seq = 1; seq <= 3; ++seq) batch.add(tag, seq, "MESSAGE_CREATE", "{\"n\":" + std::to_string(seq) + "}", 1000 + seq, 77);
  auto send = [&](const commit_segment& s, std::optional<commit_result>& out) {
    const commit_head arguments(keys, "node-a", 1, 0, 5000);
    auto head = std::make_shared<const std::string>(arguments.encode(s.session->session_id, s.session->resume_url, 5, true, s.events));
    pipe.send({head, s.wire}, [&out](redis_reply reply) { out = read_commit_reply(reply, 0); });
  };
  const commit_segment* s = batch.take();
  REQUIRE(s != nullptr);
  std::optional<commit_result> first, again;
  send(*s, first);
  send(*s, again);  // the same bytes twice (a retry after a lost answer): written once
  REQUIRE(run_until(io, [&] { return first && again; }));
  REQUIRE_MESSAGE(first->ok(), first->reason);
  CHECK(first->value.committed_seq == 3);
  CHECK(first->value.appended == 3);
  REQUIRE(again->ok());
  CHECK(again->value.appended == 0);

  redis_connection check(g::test::at(server));
  CHECK(check.command({"XLEN", keys.events()}).number == 3);
  auto entries = check.command({"XRANGE", keys.events(), "-", "+"});
  REQUIRE(entries.elements.size() == 3);
  const auto& fields = entries.elements[1].elements[1].elements;  // shard 0 seq 2 t … d … node … ts … prev …
  REQUIRE(fields.size() >= 8);
  CHECK(fields[3].text == "2");
  CHECK(fields[5].text == "MESSAGE_CREATE");
  CHECK(fields[7].text == "{\"n\":2}");
  auto record = check.command({"HGET", keys.session(1, 0), "seq"});
  CHECK(record.text == "3");
  // Fenced: another node holds the lease.
  REQUIRE(check.command({"SET", keys.owner(1, 0), "node-b", "PX", "5000"}).ok());
  batch.committed();
  batch.add(tag, 4, "E", "{}", 1, 0);
  std::optional<commit_result> fenced;
  send(*batch.take(), fenced);
  REQUIRE(run_until(io, [&] { return fenced.has_value(); }));
  CHECK(fenced->lost());
  CHECK(fenced->value.refused == commit_outcome::fenced);
}

TEST_CASE("redis pipe: a crashed Redis answers every command waiting with a transport error, then a new connection serves") {
  g::harness::redis_process server;
  boost::asio::io_context io;
  redis_pipe pipe(io, g::test::at(server));
  std::optional<redis_reply> before;
  pipe.command({"PING"}, [&](redis_reply r) { before = r; });
  REQUIRE(run_until(io, [&] { return before.has_value(); }));
  CHECK(before->text == "PONG");

  ::kill(server.pid(), SIGSTOP);  // a stall first: nothing answers within the timeout (1 s)
  std::vector<redis_reply> stalled;
  for (int i = 0; i < 3; ++i) pipe.command({"PING"}, [&](redis_reply r) { stalled.push_back(r); });
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return stalled.size() == 3; }, 4000ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
  for (auto& r : stalled) {
    CHECK(redis_connection::transport_failure(r));
    CHECK(r.text.find("did not answer within 1000 ms") != std::string::npos);
  }
  ::kill(server.pid(), SIGCONT);

  server.kill();
  std::optional<redis_reply> down;
  pipe.command({"PING"}, [&](redis_reply r) { down = r; });
  REQUIRE(run_until(io, [&] { return down.has_value(); }));
  CHECK(redis_connection::transport_failure(*down));

  server.start();  // same port, empty
  std::optional<redis_reply> back;
  REQUIRE(run_until(io, [&] {
    if (back && back->text == "PONG") return true;
    back.reset();
    pipe.command({"PING"}, [&](redis_reply r) { back = r; });
    run_until(io, [&] { return back.has_value(); }, 2000ms);
    return back && back->text == "PONG";
  }, 8000ms));
  CHECK(pipe.connections() >= 2);
}

TEST_CASE("redis pipe: a master turned replica answers READONLY, and the pipe connects again") {
  g::harness::redis_process server;
  boost::asio::io_context io;
  redis_pipe pipe(io, g::test::at(server));
  redis_connection admin(g::test::at(server));
  REQUIRE(admin.command({"REPLICAOF", "127.0.0.1", std::to_string(g::harness::free_tcp_port())}).ok());
  std::optional<redis_reply> refused;
  pipe.command({"SET", "k", "v"}, [&](redis_reply r) { refused = r; });
  REQUIRE(run_until(io, [&] { return refused.has_value(); }));
  CHECK(refused->is_error());
  CHECK(refused->text.rfind("READONLY", 0) == 0);
  REQUIRE(admin.command({"REPLICAOF", "NO", "ONE"}).ok());
  std::optional<redis_reply> written;
  REQUIRE(run_until(io, [&] {
    if (written && written->ok()) return true;
    written.reset();
    pipe.command({"SET", "k", "v"}, [&](redis_reply r) { written = r; });
    run_until(io, [&] { return written.has_value(); }, 2000ms);
    return written && written->ok();
  }, 6000ms));
  CHECK(pipe.connections() == 2);  // left the replica, came back to it as a master
}

TEST_CASE("redis pipe: a refused AUTH ends the connection with the reason, for every command waiting") {
  g::harness::redis_process server({"--requirepass", "right"});
  boost::asio::io_context io;
  auto ep = g::test::at(server);
  ep.password = "wrong";
  redis_pipe pipe(io, ep);
  std::optional<redis_reply> r;
  pipe.command({"PING"}, [&](redis_reply x) { r = x; });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  CHECK(redis_connection::transport_failure(*r));
  CHECK(r->text.find("Redis refused AUTH") != std::string::npos);
  ep.password = "right";
  redis_pipe good(io, ep);
  std::optional<redis_reply> ok;
  good.command({"PING"}, [&](redis_reply x) { ok = x; });
  REQUIRE(run_until(io, [&] { return ok.has_value(); }));
  CHECK(ok->text == "PONG");
}

TEST_CASE("redis pipe: held writes wait for flush, and a pass's commands from several rounds go out together") {
  g::harness::redis_process server;
  boost::asio::io_context io;
  redis_pipe pipe(io, g::test::at(server));
  pipe.hold_writes();
  redis_connection peek(g::test::at(server));
  bool warm = false;  // the connection's first commands are written when it connects
  pipe.command({"PING"}, [&](redis_reply) { warm = true; });
  REQUIRE(run_until(io, [&] { return warm; }));

  // Three rounds of handlers, as a pass of an io thread runs them: nothing goes out until the pass ends.
  std::vector<long long> got;
  std::function<void(int)> round = [&](int left) {
    pipe.command({"INCR", "n"}, [&](redis_reply r) { got.push_back(r.type == redis_reply::integer ? r.number : -1); });
    if (left > 1) boost::asio::post(io, [&, left] { round(left - 1); });
  };
  boost::asio::post(io, [&] { round(3); });
  io.restart();
  io.poll();
  run_until(io, [] { return false; }, 100ms);
  CHECK(got.empty());
  CHECK(pipe.waiting() == 3);
  CHECK(peek.command({"GET", "n"}).type == redis_reply::nil);

  // Redis counts each read of a client's socket: the three commands arrive in one (the other read is this INFO's).
  auto reads = [&] {
    const std::string info = peek.command({"INFO", "stats"}).text;
    const auto at = info.find("total_reads_processed:");
    REQUIRE(at != std::string::npos);
    return std::stoll(info.substr(at + 22));
  };
  const long long reads_before = reads();
  pipe.flush();
  REQUIRE(run_until(io, [&] { return got.size() == 3; }));
  CHECK(got == std::vector<long long>{1, 2, 3});
  CHECK(reads() - reads_before == 2);

  // What is sent after the write waits for the next flush, and is answered after it.
  pipe.command({"INCR", "n"}, [&](redis_reply r) { got.push_back(r.number); });
  run_until(io, [] { return false; }, 100ms);
  CHECK(got.size() == 3);
  pipe.flush();
  REQUIRE(run_until(io, [&] { return got.size() == 4; }));
  CHECK(got.back() == 4);
  CHECK(pipe.connections() == 1);
}
