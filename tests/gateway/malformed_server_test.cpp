// A hostile "gateway" that sends garbage: the shard session must drop the connection, report why, reconnect,
// and never crash or hang.
#include <doctest/doctest.h>

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <mutex>
#include <thread>

#include "net/compression/zlib_stream.hpp"
#include "net/gateway/identify_gate.hpp"
#include "net/gateway/shard_connection.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace g::net;
using namespace std::chrono_literals;

namespace {

// Each accepted connection gets HELLO and then one kind of garbage.
struct evil_gateway {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::atomic<int> connections{0};
  std::atomic<bool> stop{false};
  std::thread t{[this] { run(); }};

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  void run() {
    acceptor.non_blocking(true);
    while (!stop) {
      beast::error_code ec;
      tcp::socket s(io);
      acceptor.accept(s, ec);
      if (ec) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      s.non_blocking(false);
      int n = connections++;
      try {
        serve(std::move(s), n);
      } catch (...) {
        // the client went away: fine
      }
    }
  }

  void serve(tcp::socket s, int n) {
    websocket::stream<tcp::socket> ws(std::move(s));
    ws.accept();
    zlib_stream_deflater def(1);
    ws.binary(true);
    auto send = [&](const std::string& json) {
      std::string frame;
      def.compress(json, frame);
      ws.write(asio::buffer(frame));
    };
    send(R"({"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}})");
    switch (n % 5) {
      case 0: ws.write(asio::buffer(std::string("\x00\x00\xff\xff garbage that is not deflate \x00\x00\xff\xff", 38))); break;
      case 1: send("{not json at all"); break;
      case 2: send(R"({"op":"ten","d":null})"); break;
      case 3: send(R"({"op":10,"d":{"heartbeat_interval":-5}})"); break;
      case 4: send(R"([1,2,3])"); break;
    }
    beast::flat_buffer buf;
    ws.read(buf);  // until the client closes
  }

  ~evil_gateway() {
    stop = true;
    t.join();
  }
};

struct report_log : shard_listener {
  std::mutex mu;
  std::vector<std::string> errors;
  void on_dispatch(const gateway_frame&, std::string_view) override {}
  void on_report(const shard_report& r) override {
    std::lock_guard l(mu);
    if (!r.error.empty()) errors.push_back(r.error);
  }
};

}  // namespace

TEST_CASE("corrupt deflate, invalid JSON and wrong opcodes drop the connection and reconnect, never crash") {
  evil_gateway evil;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto gate = make_local_identify_gate(io, 1);
  report_log log;
  {
    shard_config c;
    c.gateway_url = "ws://127.0.0.1:" + std::to_string(evil.port()) + "/";
    c.token = "t";
    c.timing.backoff_base = 20;
    c.timing.backoff_cap = 100;
    shard_connection conn(io, c, *gate, log);
    conn.start();
    auto until = std::chrono::steady_clock::now() + 10s;
    while (evil.connections < 6 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    CHECK(evil.connections >= 6);
  }
  work.reset();
  io.stop();
  t.join();
  std::lock_guard l(log.mu);
  bool saw_drop = false;
  for (auto& e : log.errors) saw_drop |= e.find("dropped the connection") != std::string::npos;
  CHECK(saw_drop);
}
