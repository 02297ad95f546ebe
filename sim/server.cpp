#include "sim/server.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <deque>
#include <iostream>
#include <stdexcept>

#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"
#include "net/write_coalescing_stream.hpp"
#include "sim/fakecord.hpp"
#include "sim/gateway_connection.hpp"
#include "sim/http_api.hpp"
#include "sim/load_generator.hpp"
#include "net/clock.hpp"
#include "net/http/listen_on.hpp"

namespace g::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using net::steady_ms;
using net::wall_ms;
using net::wall_us;

using plain_stream = net::write_coalescing_stream<beast::tcp_stream>;
// TLS keeps one record per message (Asio's ssl::stream wants a socket-like next layer); wss:// is not the hot path.
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// A client that does not read its socket is cut off, as Discord does, instead of growing memory without bound.
constexpr std::size_t max_queued_bytes = 64u << 20;

std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

template <class Stream>
tcp::socket& raw_socket(websocket::stream<Stream>& ws) {
  return beast::get_lowest_layer(ws).socket();
}

template <class Stream>
class ws_session : public std::enable_shared_from_this<ws_session<Stream>>, public connection_sink {
 public:
  ws_session(Stream&& stream, fakecord& fc, http::request<http::string_body> req)
      : ws_(std::move(stream)), fc_(fc), req_(std::move(req)) {}

  void run() {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "g-fakecord"); }));
    ws_.read_message_max(1u << 20);  // larger than Discord's 4096 so the gateway can answer 4002 itself
    ws_.auto_fragment(false);
    std::string_view target(req_.target().data(), req_.target().size());
    std::string compress = query_param(target, "compress");
    if (compress == "zlib-stream") zlib_ = std::make_unique<net::zlib_stream_deflater>(fc_.opts().zlib_level);
    if (compress == "zstd-stream") zstd_ = std::make_unique<net::zstd_stream_compressor>(fc_.opts().zstd_level);
    ws_.text(!zlib_ && !zstd_);
    connection_params params;
    params.path = std::string(target.substr(0, target.find('?')));
    params.version = query_param(target, "v");
    params.encoding = query_param(target, "encoding");
    if (zlib_ || zstd_) params.compress = compress;
    ws_.async_accept(req_, [self = this->shared_from_this(), params](beast::error_code ec) mutable {
      if (ec) return;
      self->conn_ = std::make_unique<gateway_connection>(self->fc_, *self, std::move(params));
      self->conn_->on_open(steady_ms());
      self->do_read();
    });
  }

  void send(std::string_view payload) override {
    if (closing_ || dropped_) return;
    std::string frame;
    if (zlib_) {
      zlib_->compress(payload, frame);
    } else if (zstd_) {
      zstd_->compress(payload, frame);
    } else {
      frame.assign(payload);
    }
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    if (queued_bytes_ > max_queued_bytes) {
      fc_.count_violation(violation::slow_consumer);
      drop();
      return;
    }
    if (!writing_) do_write();
  }

  void close(int code, std::string_view reason) override {
    if (closing_ || dropped_) return;
    closing_ = true;
    close_reason_.code = static_cast<std::uint16_t>(code);
    close_reason_.reason.assign(reason.data(), reason.size());
    if (!writing_) do_close();
  }

  std::size_t backlog_bytes() const override { return queued_bytes_; }

  void drop() override {
    if (dropped_) return;
    dropped_ = true;
    queue_.clear();
    beast::error_code ec;
    raw_socket(ws_).set_option(asio::socket_base::linger(true, 0), ec);  // RST, no FIN
    raw_socket(ws_).close(ec);
  }

 private:
  void do_read() {
    ws_.async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      int code = 0;
      if (ec == websocket::error::closed) code = ws_.reason().code;
      if (conn_) conn_->on_socket_closed(code, steady_ms());
      return;  // the last shared_ptr goes with the pending ops
    }
    auto data = rbuf_.data();
    conn_->on_message(std::string_view(static_cast<const char*>(data.data()), data.size()), steady_ms());
    rbuf_.consume(rbuf_.size());
    if (!dropped_) do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec || dropped_) {
      queue_.clear();
      return;
    }
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) {
      do_write();
    } else if (closing_) {
      do_close();
    }
  }

  void do_close() {
    queue_.clear();
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {});
  }

  websocket::stream<Stream> ws_;
  fakecord& fc_;
  http::request<http::string_body> req_;
  std::unique_ptr<gateway_connection> conn_;
  std::unique_ptr<net::zlib_stream_deflater> zlib_;
  std::unique_ptr<net::zstd_stream_compressor> zstd_;
  beast::flat_buffer rbuf_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool dropped_ = false;
  websocket::close_reason close_reason_;
};

template <class Stream>
class http_session : public std::enable_shared_from_this<http_session<Stream>> {
 public:
  http_session(Stream&& stream, fakecord& fc) : stream_(std::move(stream)), fc_(fc) {}

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(1u << 20);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buf_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return;
    auto req = parser_->release();
    if (websocket::is_upgrade(req)) {
      std::make_shared<ws_session<Stream>>(std::move(stream_), fc_, std::move(req))->run();
      return;
    }
    http_request_view view;
    view.method = std::string_view(req.method_string().data(), req.method_string().size());
    view.target = std::string_view(req.target().data(), req.target().size());
    auto auth = req[http::field::authorization];
    view.authorization = std::string_view(auth.data(), auth.size());
    view.body = req.body();
    http_reply reply = handle_http(fc_, view, steady_ms());
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(reply.status), req.version());
    res->set(http::field::server, "g-fakecord");
    if (!reply.content_type.empty()) res->set(http::field::content_type, reply.content_type);
    for (auto& [name, value] : reply.headers) res->set(name, value);
    res->keep_alive(req.keep_alive());
    res->body() = std::move(reply.body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (res->keep_alive()) self->do_read();
      else self->shutdown();
    });
  }

  void shutdown() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Stream stream_;
  fakecord& fc_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

struct server::impl {
  impl(asio::io_context& io, fakecord& fc) : io(io), fc(fc), acceptor(io), tick_timer(io), load_timer(io) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        if (tls) {
          auto stream = std::make_shared<tls_stream>(std::move(socket), *tls);
          beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(30));
          stream->async_handshake(ssl::stream_base::server, [this, stream](beast::error_code ec) {
            if (ec) return;
            std::make_shared<http_session<tls_stream>>(std::move(*stream), fc)->run();
          });
        } else {
          std::make_shared<http_session<plain_stream>>(plain_stream(std::move(socket)), fc)->run();
        }
      }
      accept();
    });
  }

  void tick() {
    tick_timer.expires_after(std::chrono::milliseconds(100));
    tick_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      fc.tick(steady_ms());
      tick();
    });
  }

  void load_tick() {
    // 2 ms steps keep generated traffic smooth; idle, the loop only looks at the rate.
    load_timer.expires_after(std::chrono::milliseconds(fc.load().rate() > 0 ? 2 : 20));
    load_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      fc.load().tick(steady_ms());
      load_tick();
    });
  }

  asio::io_context& io;
  fakecord& fc;
  tcp::acceptor acceptor;
  std::unique_ptr<ssl::context> tls;
  asio::steady_timer tick_timer, load_timer;
};

server::server(asio::io_context& io, fakecord& fc) : impl_(std::make_unique<impl>(io, fc)) {
  const options& o = fc.opts();
  if (o.tls()) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    impl_->tls->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) throw std::runtime_error("cannot load TLS certificate " + o.tls_cert + ": " + ec.message());
    impl_->tls->use_private_key_file(o.tls_key, ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot load TLS key " + o.tls_key + ": " + ec.message());
  }
  net::listen_on(impl_->acceptor, o.listen_host, o.listen_port, "--listen");
  fc.set_port(impl_->acceptor.local_endpoint().port());
  fc.wall_clock_us = &wall_us;
  if (o.rate > 0) fc.load().set_rate(o.rate, steady_ms());
  impl_->accept();
  impl_->tick();
  impl_->load_tick();
}

server::~server() = default;

std::uint16_t server::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace g::sim
