#include "net/http/http_server.hpp"
#include "net/http/listen_on.hpp"

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <stdexcept>

namespace g::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket s, std::shared_ptr<http_handler> h) : stream_(std::move(s)), handler_(std::move(h)) {}
  void run() { read(); }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->answer();
    });
  }
  void answer() {
    auto method = req_.method_string();
    auto target = req_.target();
    http_answer a = (*handler_)(std::string_view(method.data(), method.size()), std::string_view(target.data(), target.size()));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(a.status), req_.version());
    res->set(http::field::server, "g-actor");
    res->set(http::field::content_type, a.content_type);
    res->set(http::field::cache_control, "no-store");
    res->keep_alive(req_.keep_alive());
    res->body() = std::move(a.body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (res->keep_alive()) self->read();
      else {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
    });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<http_handler> handler_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
};

}  // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, http_handler h) : acceptor(io), handler(std::make_shared<http_handler>(std::move(h))) {}
  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<session>(std::move(s), self->handler)->run();
      self->accept();
    });
  }
  tcp::acceptor acceptor;
  std::shared_ptr<http_handler> handler;
};

http_server::http_server(asio::io_context& io, const std::string& host, std::uint16_t port, http_handler handler)
    : impl_(std::make_shared<impl>(io, std::move(handler))) {
  listen_on(impl_->acceptor, host, port, "[http] listen");
  impl_->accept();
}

http_server::~http_server() {
  auto i = impl_;
  asio::post(i->acceptor.get_executor(), [i] {
    beast::error_code ec;
    i->acceptor.close(ec);
  });
}

std::uint16_t http_server::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace g::net
