// Every store operation against a Redis that answers wrongly: an error reply, a reply of the wrong kind, a record
// it cannot read. Each answers `unavailable` with the reason, none throws, none claims success; and a job that
// throws on the Redis thread still answers its caller (redis_worker::ask).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/redis/redis_worker.hpp"
#include "net/redis/reshard_store.hpp"
#include "net/redis/shard_store.hpp"
#include "net/redis/stream_trim.hpp"

using namespace g::net;

namespace {

// A server that speaks RESP and answers every command with what `answer(argv)` says: enough of Redis to inject a
// failing reply into each operation. One connection at a time, on its own thread.
class scripted_redis {
 public:
  using script = std::function<std::string(const std::vector<std::string>&)>;

  explicit scripted_redis(script answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listener_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~scripted_redis() {
    stopping_ = true;
    if (int c = client_.load(); c >= 0) ::shutdown(c, SHUT_RDWR);  // unblocks the read
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  void set(script answer) {
    std::lock_guard l(mu_);
    answer_ = std::move(answer);
  }

 private:
  void serve() {
    while (!stopping_) {
      int c = ::accept(listener_, nullptr, nullptr);
      if (c < 0) return;
      client_ = c;
      std::string in;
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        std::vector<std::string> argv;
        while (take_command(in, argv)) {
          std::string out;
          {
            std::lock_guard l(mu_);
            out = answer_(argv);
          }
          if (::write(c, out.data(), out.size()) < 0) break;
        }
      }
      client_ = -1;
      ::close(c);
    }
  }
  // One "*N\r\n$len\r\narg\r\n…" command from the front of `in`, if it is all there.
  static bool take_command(std::string& in, std::vector<std::string>& argv) {
    argv.clear();
    if (in.empty() || in[0] != '*') return false;
    std::size_t at = in.find("\r\n");
    if (at == std::string::npos) return false;
    const int n = std::stoi(in.substr(1, at - 1));
    std::size_t pos = at + 2;
    for (int i = 0; i < n; ++i) {
      std::size_t end = in.find("\r\n", pos);
      if (end == std::string::npos || in[pos] != '$') return false;
      const std::size_t len = std::stoul(in.substr(pos + 1, end - pos - 1));
      if (in.size() < end + 2 + len + 2) return false;
      argv.push_back(in.substr(end + 2, len));
      pos = end + 2 + len + 2;
    }
    in.erase(0, pos);
    return true;
  }

  std::mutex mu_;
  script answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> client_{-1};
  std::thread thread_;
};

redis_endpoint at(const scripted_redis& r) { return {"127.0.0.1", r.port(), "", 0, 1000}; }

std::vector<stream_event> one_event() { return {{1, "MESSAGE_CREATE", "{}", 1, 0}}; }

// Every operation of shard_store, each with what it answered.
std::vector<std::pair<std::string, store_outcome>> run_every_operation(shard_store& s, std::vector<std::string>& reasons) {
  std::vector<std::pair<std::string, store_outcome>> out;
  auto note = [&](const char* name, const auto& r) {
    out.emplace_back(name, r.outcome);
    reasons.push_back(r.reason);
  };
  note("acquire_lease", s.acquire_lease(1, 0, 5000));
  note("renew_lease", s.renew_lease(1, 0, 5000));
  note("renew_leases", s.renew_leases(4, {0, 3}, 5000).back());
  note("take_over_lease", s.take_over_lease(1, 0, 5000));
  note("release_lease", s.release_lease(1, 0));
  note("forget_session", s.forget_session(1, 0, "s"));
  note("lease_holder", s.lease_holder(1, 0));
  note("lease_holders", s.lease_holders(4));
  note("load_session", s.load_session(1, 0));
  note("save_chunk_pending", s.save_chunk_pending(1, 0, {1, 2}));
  note("commit", s.commit(1, 0, "s", "u", one_event(), 0, 1));
  note("take_identify_slot", s.take_identify_slot(0, 5000));
  note("extend_identify_slot", s.extend_identify_slot(0, 5000));
  note("claim_master", s.claim_master(5000));
  note("keep_master", s.keep_master(5000));
  note("resign_master", s.resign_master());
  note("register_node", s.register_node("{}", 1));
  note("unregister_node", s.unregister_node());
  note("set_status", s.set_status(0, "{}"));
  note("set_statuses", s.set_statuses({{0, "{}"}, {1, "{}"}}));
  note("connected_nodes", s.connected_nodes());
  return out;
}

void check_all_unavailable(shard_store& s) {
  std::vector<std::string> reasons;
  auto results = run_every_operation(s, reasons);
  REQUIRE(results.size() == 21);
  for (std::size_t i = 0; i < results.size(); ++i) {
    CAPTURE(results[i].first);
    CHECK(results[i].second == store_outcome::unavailable);
    CHECK_FALSE(reasons[i].empty());
  }
}

// The reshard's operations and the trim, likewise.
void check_the_rest_unavailable(redis_connection& c) {
  reshard_store r(c, "t", "node-a");
  CHECK(r.begin(1, 2, 1, 1).unavailable());
  CHECK(r.current().unavailable());
  CHECK(r.switch_over(2, 1, 1, 0).unavailable());
  CHECK(r.abandon(2).unavailable());
  CHECK(r.set_live(0, "s").unavailable());
  CHECK(r.set_live(0, "").unavailable());
  CHECK(trim_stream(c, "g:t:events", {}).unavailable());
}

}  // namespace

// Every operation against a server that answers everything with `reply`; the reasons they gave.
std::vector<std::string> reasons_when_every_reply_is(const std::string& reply) {
  scripted_redis redis([reply](const std::vector<std::string>&) { return reply; });
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  check_all_unavailable(s);
  check_the_rest_unavailable(c);
  std::vector<std::string> reasons;
  run_every_operation(s, reasons);
  reasons.push_back(trim_stream(c, "g:t:events", {}).reason);
  return reasons;
}

TEST_CASE("every store operation answers an error reply with unavailable and Redis's reason") {
  for (auto& reason : reasons_when_every_reply_is("-ERR injected failure\r\n")) {
    CAPTURE(reason);
    CHECK(reason.find("injected failure") != std::string::npos);
  }
}

TEST_CASE("every store operation answers a reply of the wrong kind with unavailable, never with success") {
  // An array of one string where a script's answer, an integer, OK or a bulk string belong.
  reasons_when_every_reply_is("*1\r\n$5\r\nbogus\r\n");
}

TEST_CASE("a session record with a field it cannot read is unavailable with the field named, not an exception") {
  scripted_redis redis([](const std::vector<std::string>& argv) {
    if (!argv.empty() && argv[0] == "HGETALL")
      return std::string("*4\r\n$10\r\nsession_id\r\n$1\r\nx\r\n$3\r\nseq\r\n$3\r\nabc\r\n");
    return std::string("-ERR unexpected\r\n");
  });
  redis_connection c(at(redis));
  shard_store s(c, "t", "node-a");
  auto r = s.load_session(1, 0);
  CHECK(r.unavailable());
  CHECK(r.reason.find("seq = 'abc'") != std::string::npos);
}

TEST_CASE("Redis gone mid-operation: unavailable, and the connection's error is the reason") {
  auto redis = std::make_unique<scripted_redis>([](const std::vector<std::string>&) { return std::string(":1\r\n"); });
  redis_connection c(at(*redis));
  shard_store s(c, "t", "node-a");
  CHECK(s.renew_lease(1, 0, 5000).ok());
  redis.reset();  // the server and its connection close
  auto r = s.renew_lease(1, 0, 5000);
  CHECK(r.unavailable());
  CHECK(r.reason.find("connection") != std::string::npos);
}

TEST_CASE("a job that throws on the Redis thread still answers its caller, as failed with what was thrown") {
  scripted_redis redis([](const std::vector<std::string>&) { return std::string("+PONG\r\n"); });
  redis_worker worker(at(redis));
  std::promise<store_result<std::int64_t>> answered;
  worker.ask<store_result<std::int64_t>>(
      [](redis_connection&) -> store_result<std::int64_t> { throw std::out_of_range("a reply shorter than expected"); },
      [&](store_result<std::int64_t> r) { answered.set_value(std::move(r)); });
  auto f = answered.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto r = f.get();
  CHECK(r.unavailable());
  CHECK(r.reason.find("a reply shorter than expected") != std::string::npos);
  CHECK(worker.failed_jobs() == 1);
}
