#include "sim/server.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <chrono>
#include <stdexcept>

#include "net/http/gateway_sessions.hpp"
#include "sim/fakecord.hpp"
#include "sim/gateway_connection.hpp"
#include "sim/http_api.hpp"
#include "sim/load_generator.hpp"
#include "net/clock.hpp"
#include "net/http/listen_on.hpp"

namespace g::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

using net::steady_ms;
using net::wall_us;
namespace gs = net::gateway_server;
namespace http = gs::http;

// What g-fakecord serves on its one port: the gateway (a gateway_connection per socket), REST and the admin API.
struct sim_site {
  fakecord& fc;

  std::unique_ptr<net::socket_handler> open_socket(net::socket_sink& sink, net::socket_params params, millis now) {
    auto conn = std::make_unique<gateway_connection>(fc, sink, std::move(params));
    conn->on_open(now);
    return conn;
  }

  void serve_http(gs::http_request req, const gs::http_responder& respond) {
    http_request_view view;
    view.method = std::string_view(req.method_string().data(), req.method_string().size());
    view.target = std::string_view(req.target().data(), req.target().size());
    auto auth = req[http::field::authorization];
    view.authorization = std::string_view(auth.data(), auth.size());
    view.body = req.body();
    http_reply reply = handle_http(fc, view, steady_ms());
    gs::http_response res(static_cast<http::status>(reply.status), req.version());
    res.set(http::field::server, "g-fakecord");
    if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
    for (auto& [name, value] : reply.headers) res.set(name, value);
    res.body() = std::move(reply.body);
    respond(std::move(res));
  }

  auto zlib_deflater() const { return std::make_unique<net::zlib_stream_deflater>(fc.opts().zlib_level); }
  auto zstd_compressor() const { return std::make_unique<net::zstd_stream_compressor>(fc.opts().zstd_level); }
};

}  // namespace

struct server::impl {
  impl(asio::io_context& io, fakecord& fc) : io(io), fc(fc), site{fc}, acceptor(io), tick_timer(io), load_timer(io) {}

  void tick() {
    tick_timer.expires_after(std::chrono::milliseconds(100));
    const millis due = steady_ms() + 100;
    tick_timer.async_wait([this, due](beast::error_code ec) {
      if (ec) return;
      fc.note_loop_lag(steady_ms() - due);
      fc.tick(steady_ms());
      tick();
    });
  }

  // One session start per turn of the loop: the reactor polls the sockets between two starts.
  void start_sessions() {
    asio::post(io, [this] {
      if (fc.start_next_session()) start_sessions();
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
  sim_site site;
  gs::tcp::acceptor acceptor;
  std::unique_ptr<gs::ssl::context> tls;
  std::unique_ptr<gs::listener<sim_site>> listener;
  asio::steady_timer tick_timer, load_timer;
};

server::server(asio::io_context& io, fakecord& fc) : impl_(std::make_unique<impl>(io, fc)) {
  const options& o = fc.opts();
  if (o.tls()) impl_->tls = gs::tls_server_context(o.tls_cert, o.tls_key);
  net::listen_on(impl_->acceptor, o.listen_host, o.listen_port, "--listen");
  fc.set_port(impl_->acceptor.local_endpoint().port());
  fc.wall_clock_us = &wall_us;
  fc.schedule_session_starts = [impl = impl_.get()] { impl->start_sessions(); };
  if (o.rate > 0) fc.load().set_rate(o.rate, steady_ms());
  // REST bodies (message payloads, interaction callbacks) stay far below 1 MiB.
  impl_->listener = std::make_unique<gs::listener<sim_site>>(io, impl_->acceptor, impl_->tls.get(), impl_->site,
                                                             "g-fakecord", 1u << 20);
  impl_->listener->accept();
  impl_->tick();
  impl_->load_tick();
}

server::~server() { impl_->fc.schedule_session_starts = nullptr; }

std::uint16_t server::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace g::sim
