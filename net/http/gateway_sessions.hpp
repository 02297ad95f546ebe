#pragma once
// The socket shell of a Discord-style gateway server (g-fakecord, the proxy): one port serves HTTP and WebSocket
// upgrades, over plain TCP or TLS, in the shape of Beast's advanced_server_flex: one small session object per
// connection, templates over the stream type so ws:// and wss:// share one path, and a write queue whose
// size the protocol logic watches through socket_sink::backlog_bytes.
//
// Heavy (Beast): include it only from a server's shell .cpp. A Site supplies the behaviour:
//   std::unique_ptr<socket_handler> open_socket(socket_sink&, socket_params, std::int64_t now_ms);
//   void serve_http(http::request<http::string_body>, http_responder);   // answer once, on the io thread
//   std::unique_ptr<zlib_stream_deflater> zlib_deflater(); std::unique_ptr<zstd_stream_compressor> zstd_compressor();
// Everything runs on one io thread per Site; handlers are never called concurrently.
#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "net/clock.hpp"
#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"
#include "net/http/socket_sink.hpp"
#include "net/url.hpp"
#include "net/write_coalescing_stream.hpp"

namespace g::net::gateway_server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

using plain_stream = write_coalescing_stream<beast::tcp_stream>;
// TLS keeps one record per message (Asio's ssl::stream wants a socket-like next layer); wss:// is not the hot path.
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;
using http_responder = std::function<void(http_response)>;

template <class Stream, class Site>
class ws_session : public std::enable_shared_from_this<ws_session<Stream, Site>>, public socket_sink {
 public:
  ws_session(Stream&& stream, Site& site, http_request req) : ws_(std::move(stream)), site_(site), req_(std::move(req)) {}

  void run(std::string_view server_name) {
    fd_ = beast::get_lowest_layer(ws_).socket().native_handle();
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [name = std::string(server_name)](websocket::response_type& res) { res.set(http::field::server, name); }));
    ws_.read_message_max(1u << 20);  // larger than Discord's 4096 so the gateway can answer 4002 itself
    ws_.auto_fragment(false);
    std::string_view target(req_.target().data(), req_.target().size());
    socket_params params;
    params.path = std::string(target.substr(0, target.find('?')));
    params.version = query_param(target, "v");
    params.encoding = query_param(target, "encoding");
    std::string compress = query_param(target, "compress");
    if (compress == "zlib-stream") zlib_ = site_.zlib_deflater();
    if (compress == "zstd-stream") zstd_ = site_.zstd_compressor();
    if (zlib_ || zstd_) params.compress = compress;
    ws_.text(!zlib_ && !zstd_);
    ws_.async_accept(req_, [self = this->shared_from_this(), params](beast::error_code ec) mutable {
      if (ec) return;
      self->handler_ = self->site_.open_socket(*self, std::move(params), steady_ms());
      if (self->handler_) self->do_read();
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

  // TCP_INFO's last_data_recv: how long ago the newest data segment arrived, in the kernel's ticks (a few ms).
  std::int64_t received_ms(std::int64_t now_ms) const override {
    ::tcp_info info{};
    ::socklen_t len = sizeof info;
    if (fd_ < 0 || ::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(::tcp_info, tcpi_last_data_recv) + sizeof info.tcpi_last_data_recv)
      return now_ms;
    return now_ms - static_cast<std::int64_t>(info.tcpi_last_data_recv);
  }

  void drop() override {
    if (dropped_) return;
    dropped_ = true;
    fd_ = -1;
    queue_.clear();
    queued_bytes_ = 0;
    beast::error_code ec;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.set_option(asio::socket_base::linger(true, 0), ec);  // RST, no FIN
    socket.close(ec);
  }

 private:
  void do_read() {
    ws_.async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      int code = ec == websocket::error::closed ? ws_.reason().code : 0;
      handler_->on_socket_closed(code, steady_ms());
      handler_.reset();  // the protocol object goes now; this session goes with its last pending operation
      return;
    }
    auto data = rbuf_.data();
    handler_->on_message(std::string_view(static_cast<const char*>(data.data()), data.size()), steady_ms());
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
      queued_bytes_ = 0;
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
    queued_bytes_ = 0;
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {});
  }

  websocket::stream<Stream> ws_;
  int fd_ = -1;  // the TCP socket's, for received_ms
  Site& site_;
  http_request req_;
  std::unique_ptr<socket_handler> handler_;
  std::unique_ptr<zlib_stream_deflater> zlib_;
  std::unique_ptr<zstd_stream_compressor> zstd_;
  beast::flat_buffer rbuf_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool dropped_ = false;
  websocket::close_reason close_reason_;
};

template <class Stream, class Site>
class http_session : public std::enable_shared_from_this<http_session<Stream, Site>> {
 public:
  http_session(Stream&& stream, Site& site, std::string server_name, std::size_t body_limit)
      : stream_(std::move(stream)), site_(site), server_name_(std::move(server_name)), body_limit_(body_limit) {}

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buf_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return;
    http_request req = parser_->release();
    if (websocket::is_upgrade(req)) {
      std::make_shared<ws_session<Stream, Site>>(std::move(stream_), site_, std::move(req))->run(server_name_);
      return;
    }
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    beast::get_lowest_layer(stream_).expires_never();  // the Site may take its time (a forwarded request)
    site_.serve_http(std::move(req), [self = this->shared_from_this(), keep_alive, version](http_response res) {
      self->write(std::move(res), keep_alive, version);
    });
  }

  void write(http_response res, bool keep_alive, unsigned version) {
    auto out = std::make_shared<http_response>(std::move(res));
    out->version(version);
    if (!out->count(http::field::server)) out->set(http::field::server, server_name_);
    out->keep_alive(keep_alive);
    out->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(60));
    http::async_write(stream_, *out, [self = this->shared_from_this(), out](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (out->keep_alive()) self->do_read();
      else self->shutdown();
    });
  }

  void shutdown() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  Stream stream_;
  Site& site_;
  std::string server_name_;
  std::size_t body_limit_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

// Accepts on a bound acceptor, forever, handing each connection (after the TLS handshake when `tls` is set) to an
// http_session.
template <class Site>
class listener {
 public:
  listener(asio::io_context& io, tcp::acceptor& acceptor, ssl::context* tls, Site& site, std::string server_name,
           std::size_t body_limit)
      : io_(io), acceptor_(acceptor), tls_(tls), site_(site), name_(std::move(server_name)), body_limit_(body_limit) {}

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) start(std::move(socket));
      accept();
    });
  }

 private:
  void start(tcp::socket socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    if (!tls_) {
      std::make_shared<http_session<plain_stream, Site>>(plain_stream(std::move(socket)), site_, name_, body_limit_)
          ->run();
      return;
    }
    auto stream = std::make_shared<tls_stream>(std::move(socket), *tls_);
    beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(30));
    stream->async_handshake(ssl::stream_base::server, [this, stream](beast::error_code ec) {
      if (ec) return;
      std::make_shared<http_session<tls_stream, Site>>(std::move(*stream), site_, name_, body_limit_)->run();
    });
  }

  asio::io_context& io_;
  tcp::acceptor& acceptor_;
  ssl::context* tls_;
  Site& site_;
  std::string name_;
  std::size_t body_limit_;
};

// A TLS server context from PEM files; throws std::runtime_error naming the file that failed.
inline std::unique_ptr<ssl::context> tls_server_context(const std::string& cert, const std::string& key) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  ctx->use_certificate_chain_file(cert, ec);
  if (ec) throw std::runtime_error("cannot load TLS certificate " + cert + ": " + ec.message());
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot load TLS key " + key + ": " + ec.message());
  return ctx;
}

}  // namespace g::net::gateway_server
