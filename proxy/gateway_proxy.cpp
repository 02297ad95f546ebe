#include "proxy/gateway_proxy.hpp"
#include "net/log.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <cstdio>
#include <regex>
#include <thread>

#include "config/node_config.hpp"
#include "config/redis_endpoint.hpp"
#include "net/clock.hpp"
#include "net/http/gateway_sessions.hpp"
#include "net/http/listen_on.hpp"
#include "net/json/json_writer.hpp"
#include "proxy/bot_session.hpp"
#include "proxy/rest_forward.hpp"
#include "proxy/stream_hub.hpp"

namespace g::proxy {

namespace gs = net::gateway_server;
namespace asio = gs::asio;
namespace http = gs::http;

namespace {

gs::http_response json_response(http::status status, std::string body) {
  gs::http_response res(status, 11);
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

// The REST routes the proxy answers itself: GET /api[/vN]/gateway[/bot]. Everything else under /api is Discord's.
bool is_gateway_route(std::string_view path, bool& bot) {
  static const std::regex route("^/api(/v[0-9]+)?/gateway(/bot)?/?$");
  std::cmatch m;
  if (!std::regex_match(path.begin(), path.end(), m, route)) return false;
  bot = m[2].matched;
  return true;
}

}  // namespace

struct gateway_proxy::impl {
  impl(const config::node_config& cfg)
      : token(cfg.discord.token),
        hub(config::redis_endpoint_of(cfg, 5000),
            cfg.node.group, cfg.proxy.resume_window_ms,
            [this](std::function<void()> f) { asio::post(io, std::move(f)); }, [] { return net::steady_ms(); }),
        acceptor(io),
        rest(io, cfg.discord.rest_url, cfg.security.tls_ca),
        tick_timer(io),
        site{this} {
    const auto& p = cfg.proxy;
    if (p.tls()) tls = gs::tls_server_context(p.tls_cert, p.tls_key);
    net::listen_on(acceptor, p.listen->host, p.listen->port, "[proxy] listen");
    settings.token = cfg.discord.token;
    settings.stream_intents = cfg.discord.intents;
    settings.heartbeat_ms = p.heartbeat_ms;
    settings.client_buffer = static_cast<std::size_t>(p.client_buffer);
    settings.resume_window_ms = p.resume_window_ms;
    std::uint16_t port = acceptor.local_endpoint().port();
    settings.gateway_url = !p.url.empty() ? p.url
                                          : std::string(p.tls() ? "wss://" : "ws://") + config::host_port{p.listen->host, port}.text();
    listener = std::make_unique<gs::listener<site_type>>(io, acceptor, tls.get(), site, "g-proxy", max_request_body);
  }

  void start() {
    hub.start();
    listener->accept();
    tick();
    thread = std::thread([this] {
      // A handler that throws must not end the io thread (and with it every bot's connection): log and go on.
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          LOG_ERROR("proxy: %s (the proxy goes on)", e.what());
        }
      }
    });
  }

  void stop() {
    io.stop();
    if (thread.joinable()) thread.join();
    hub.stop();
  }

  void tick() {
    tick_timer.expires_after(std::chrono::milliseconds(100));
    tick_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      hub.tick(net::steady_ms());
      tick();
    });
  }

  // GET /gateway and /gateway/bot: the proxy's own URL and G's shard count. max_concurrency is the shard count, so
  // a library identifies every shard at once: an IDENTIFY at the proxy costs Discord nothing.
  gs::http_response gateway_answer(const gs::http_request& req, bool bot) {
    if (req.method() != http::verb::get)
      return json_response(http::status::method_not_allowed, R"({"message":"405: Method Not Allowed","code":0})");
    std::string body;
    json::writer w(body);
    if (!bot) {
      w.begin_object().field("url", settings.gateway_url).end_object();
      return json_response(http::status::ok, std::move(body));
    }
    std::string_view auth(req[http::field::authorization].data(), req[http::field::authorization].size());
    if (auth != "Bot " + token)
      return json_response(http::status::unauthorized, R"({"message":"401: Unauthorized","code":0})");
    int shards = hub.shard_count();
    if (shards == 0) {
      auto res = json_response(http::status::service_unavailable,
                               R"j({"message":"G has not published its shard count yet (is a node running?)","code":0})j");
      res.set(http::field::retry_after, "1");
      return res;
    }
    int budget = std::max(1000, shards);
    w.begin_object().field("url", settings.gateway_url).field("shards", shards).key("session_start_limit").begin_object();
    w.field("total", budget).field("remaining", budget).field("reset_after", 0).field("max_concurrency", shards);
    w.end_object().end_object();
    return json_response(http::status::ok, std::move(body));
  }

  struct site_type {
    impl* self;
    std::unique_ptr<net::socket_handler> open_socket(net::socket_sink& sink, net::socket_params params,
                                                     std::int64_t now) {
      return std::make_unique<bot_session>(sink, std::move(params), self->hub, self->settings, now);
    }
    void serve_http(gs::http_request req, const gs::http_responder& respond) {
      std::string target(req.target());
      std::string_view path = std::string_view(target).substr(0, target.find('?'));
      bool bot = false;
      if (is_gateway_route(path, bot)) return respond(self->gateway_answer(req, bot));
      if (path == "/api" || path.rfind("/api/", 0) == 0)
        return self->rest.forward(std::move(req), target.substr(4), respond);
      respond(json_response(http::status::not_found,
                            R"j({"message":"404: Not Found (the proxy serves the gateway on / and Discord's REST API under /api)","code":0})j"));
    }
    // Level 1 and small windows: a proxy holds one compressor per bot connection, so memory and CPU per connection
    // matter more than the ratio on what is usually a local link (g-bench proxy measures both).
    auto zlib_deflater() const { return std::make_unique<net::zlib_stream_deflater>(1, 12, 5); }
    auto zstd_compressor() const { return std::make_unique<net::zstd_stream_compressor>(1, 16); }
  };

  static constexpr std::size_t max_request_body = 64u << 20;  // file uploads pass through

  // The hub outlives the io_context: sessions still queued in it detach from the hub when it is destroyed.
  std::string token;
  proxy_settings settings;
  stream_hub hub;
  asio::io_context io;
  gs::tcp::acceptor acceptor;
  std::unique_ptr<gs::ssl::context> tls;
  rest_forward rest;
  asio::steady_timer tick_timer;
  site_type site;
  std::unique_ptr<gs::listener<site_type>> listener;
  std::thread thread;
};

gateway_proxy::gateway_proxy(const config::node_config& cfg) {
  if (!cfg.proxy.listen) throw std::runtime_error("[proxy] listen is not set");
  impl_ = std::make_unique<impl>(cfg);
  impl_->start();
  std::string rest = (impl_->tls ? "https://" : "http://") + cfg.proxy.listen->text() + "/api";
  LOG_INFO("proxy: serving bots on %s (REST base %s)", impl_->settings.gateway_url.c_str(), rest.c_str());
}

gateway_proxy::~gateway_proxy() {
  // The io thread stops first, then the Redis threads (whose answers it would have run); the sessions go with the
  // io_context's pending handlers, before the hub they detach from.
  impl_->stop();
  impl_->listener.reset();
  impl_.reset();
}

std::uint16_t gateway_proxy::port() const { return impl_->acceptor.local_endpoint().port(); }
const std::string& gateway_proxy::gateway_url() const { return impl_->settings.gateway_url; }

}  // namespace g::proxy
