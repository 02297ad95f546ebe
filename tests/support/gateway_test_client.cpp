#include "tests/support/gateway_test_client.hpp"

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <simdjson.h>
#include <stdexcept>

#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"

namespace g::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct gateway_test_client::impl {
  virtual ~impl() = default;
  virtual void send(std::string_view) = 0;
  virtual void close(int code) = 0;
  virtual void drop() = 0;

  asio::io_context io;
  std::deque<std::string> inbox;
  bool ended = false;
  int close_code = 0;
  std::unique_ptr<net::zlib_stream_inflater> zlib;
  std::unique_ptr<net::zstd_stream_decompressor> zstd;

  void deliver(std::string_view frame, bool binary) {
    if (binary && zlib) {
      if (zlib->feed(frame) == net::zlib_stream_inflater::status::message) inbox.emplace_back(zlib->message());
    } else if (binary && zstd) {
      if (zstd->feed(frame)) inbox.emplace_back(zstd->message());
    } else {
      inbox.emplace_back(frame);
    }
  }

  template <class Pred>
  void run_until(Pred done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(20));
    }
  }
};

namespace {

template <class Stream>
struct client_impl : gateway_test_client::impl {
  websocket::stream<Stream> ws;
  beast::flat_buffer buf;

  client_impl() : ws(io) {}
  explicit client_impl(ssl::context& ctx) : ws(io, ctx) {}

  void connect(const tcp::endpoint& ep, const std::string& target) {
    beast::get_lowest_layer(ws).connect(ep);
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) ws.next_layer().handshake(ssl::stream_base::client);
    ws.handshake("127.0.0.1:" + std::to_string(ep.port()), target);
    read_loop();
  }

  void read_loop() {
    ws.async_read(buf, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        ended = true;
        close_code = ec == websocket::error::closed ? ws.reason().code : 0;
        return;
      }
      auto d = buf.data();
      deliver(std::string_view(static_cast<const char*>(d.data()), d.size()), ws.got_binary());
      buf.consume(buf.size());
      read_loop();
    });
  }
  void send(std::string_view p) override {
    beast::error_code ec;
    ws.text(true);
    ws.write(asio::buffer(p.data(), p.size()), ec);
  }
  void close(int code) override {
    beast::error_code ec;
    websocket::close_reason r;
    r.code = static_cast<std::uint16_t>(code);
    ws.async_close(r, [](beast::error_code) {});
    run_until([this] { return ended; }, std::chrono::seconds(2));
  }
  void drop() override {
    beast::error_code ec;
    auto& s = beast::get_lowest_layer(ws).socket();
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);
    ended = true;
  }
};

}  // namespace

gateway_test_client::gateway_test_client(std::uint16_t port, std::string target, bool tls) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  if (tls) {
    static ssl::context ctx(ssl::context::tls_client);  // tests use a throwaway self-signed certificate
    ctx.set_verify_mode(ssl::verify_none);
    auto c = std::make_unique<client_impl<beast::ssl_stream<beast::tcp_stream>>>(ctx);
    c->connect(ep, target);
    impl_ = std::move(c);
  } else {
    auto c = std::make_unique<client_impl<beast::tcp_stream>>();
    c->connect(ep, target);
    impl_ = std::move(c);
  }
  if (target.find("compress=zlib-stream") != std::string::npos) impl_->zlib = std::make_unique<net::zlib_stream_inflater>();
  if (target.find("compress=zstd-stream") != std::string::npos) impl_->zstd = std::make_unique<net::zstd_stream_decompressor>();
}

gateway_test_client::~gateway_test_client() = default;

void gateway_test_client::send(std::string_view payload) { impl_->send(payload); }

std::optional<std::string> gateway_test_client::next(std::chrono::milliseconds timeout) {
  impl_->run_until([this] { return !impl_->inbox.empty() || impl_->ended; }, timeout);
  if (impl_->inbox.empty()) return std::nullopt;
  std::string m = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return m;
}

std::optional<std::string> gateway_test_client::next_where(const std::function<bool(const std::string&)>& pred,
                                                           std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = next(left);
    if (!m) return std::nullopt;
    if (pred(*m)) return m;
  }
}

std::optional<std::string> gateway_test_client::next_op(int op, std::chrono::milliseconds timeout) {
  return next_where([op](const std::string& m) { return json_int(m, "/op") == op; }, timeout);
}

std::optional<std::string> gateway_test_client::next_dispatch(std::string_view t, std::chrono::milliseconds timeout) {
  return next_where([t](const std::string& m) { return json_int(m, "/op") == 0 && json_str(m, "/t") == t; }, timeout);
}

int gateway_test_client::wait_closed(std::chrono::milliseconds timeout) {
  impl_->run_until([this] { return impl_->ended; }, timeout);
  return impl_->ended ? impl_->close_code : -1;
}

void gateway_test_client::close(int code) { impl_->close(code); }
void gateway_test_client::drop() { impl_->drop(); }

std::string gateway_test_client::identify(int shard, int shards, std::uint64_t intents, std::string_view token,
                                          std::chrono::milliseconds timeout) {
  send(R"({"op":2,"d":{"token":")" + std::string(token) + R"(","intents":)" + std::to_string(intents) +
       R"(,"properties":{"os":"linux","browser":"g-test","device":"g-test"},"shard":[)" + std::to_string(shard) +
       "," + std::to_string(shards) + "]}}");
  auto ready = next_dispatch("READY", timeout);
  return ready ? *ready : std::string();
}

std::string gateway_test_client::resume(std::string_view session_id, std::int64_t seq, std::string_view token) {
  std::string p = R"({"op":6,"d":{"token":")" + std::string(token) + R"(","session_id":")" + std::string(session_id) +
                  R"(","seq":)" + std::to_string(seq) + "}}";
  send(p);
  return p;
}

std::int64_t json_int(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(json).get(e) || e.at_pointer(pointer).get(e)) return INT64_MIN;
  std::int64_t v;
  return e.get_int64().get(v) ? INT64_MIN : v;
}

std::string json_str(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(json).get(e) || e.at_pointer(pointer).get(e)) return "<missing>";
  std::string_view v;
  if (e.get_string().get(v)) return simdjson::minify(e);
  return std::string(v);
}

bool json_has(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  return !p.parse(json).get(e) && !e.at_pointer(pointer).get(e);
}

std::size_t json_array_size(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  simdjson::dom::array a;
  if (p.parse(json).get(e) || e.at_pointer(pointer).get_array().get(a)) return SIZE_MAX;
  return a.size();
}

}  // namespace g::test
