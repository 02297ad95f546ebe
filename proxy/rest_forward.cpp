#include "proxy/rest_forward.hpp"
#include "net/log.hpp"

#include <deque>
#include <stdexcept>
#include <variant>

namespace g::proxy {

namespace gs = net::gateway_server;
namespace asio = gs::asio;
namespace beast = gs::beast;
namespace http = gs::http;
namespace ssl = gs::ssl;
using tcp = gs::tcp;

namespace {

constexpr auto upstream_timeout = std::chrono::seconds(60);
constexpr std::size_t max_idle = 16;
// An idle upstream connection is reused only this soon: servers close idle keep-alive connections after some
// tens of seconds, and a request written into one they closed must not be guessed about.
constexpr auto max_idle_age = std::chrono::seconds(15);
constexpr std::size_t max_body = 64u << 20;  // attachments: Discord allows up to 500 MiB for boosted guilds, bots 25 MiB

using plain = beast::tcp_stream;
using secure = beast::ssl_stream<beast::tcp_stream>;
using upstream_stream = std::variant<std::unique_ptr<plain>, std::unique_ptr<secure>>;

// Methods that may be sent again when a reused connection fails before any answer: a repeated POST or PATCH could
// post a message twice, so those get a 502 instead (rare: idle connections are reused only while fresh).
bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put || v == http::verb::delete_ ||
         v == http::verb::options;
}

bool hop_by_hop(beast::string_view name) {
  // `expect` too: a 100 Continue would otherwise be taken for the answer.
  for (beast::string_view h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                               "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "expect"})
    if (beast::iequals(name, h)) return true;
  return false;
}

gs::http_response gateway_error(int status, const std::string& message) {
  gs::http_response res(static_cast<http::status>(status), 11);
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"message":")" + message + R"(","code":0})";
  return res;
}

}  // namespace

struct rest_forward::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, net::url upstream, const std::string& ca_file)
      : io(io), upstream(std::move(upstream)), resolver(io), tls(ssl::context::tls_client) {
    tls.set_default_verify_paths();
    if (!ca_file.empty()) {
      beast::error_code ec;
      tls.load_verify_file(ca_file, ec);
      if (ec) throw std::runtime_error("cannot load CA file " + ca_file + ": " + ec.message());
    }
    tls.set_verify_mode(ssl::verify_peer);
  }

  // One forwarded request; `reused` says whether its connection came from the idle pool (then a failure before
  // any answer is retried once on a new connection: the upstream may have closed it while idle).
  struct exchange : std::enable_shared_from_this<exchange> {
    std::shared_ptr<impl> owner;
    http::request<http::string_body> req;
    gs::http_responder respond;
    upstream_stream stream;
    bool reused = false;
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;

    template <class F>
    void with_stream(F&& f) {
      std::visit([&](auto& s) { f(*s); }, stream);
    }

    void start() {
      if (auto idle = owner->take_idle()) {
        stream = std::move(*idle);
        reused = true;
        write();
      } else {
        connect();
      }
    }

    void connect() {
      reused = false;
      auto self = shared_from_this();
      owner->resolver.async_resolve(owner->upstream.host, std::to_string(owner->upstream.port),
                                    [self](beast::error_code ec, tcp::resolver::results_type results) {
                                      if (ec) return self->fail("cannot resolve " + self->owner->upstream.host + ": " + ec.message());
                                      self->connect_to(results);
                                    });
    }

    void connect_to(const tcp::resolver::results_type& results) {
      auto self = shared_from_this();
      if (!owner->upstream.tls) {
        stream = std::make_unique<plain>(owner->io);
      } else {
        auto s = std::make_unique<secure>(owner->io, owner->tls);
        SSL_set_tlsext_host_name(s->native_handle(), owner->upstream.host.c_str());
        s->set_verify_callback(ssl::host_name_verification(owner->upstream.host));
        stream = std::move(s);
      }
      with_stream([&](auto& s) {
        auto& tcp_layer = beast::get_lowest_layer(s);
        tcp_layer.expires_after(upstream_timeout);
        tcp_layer.async_connect(results, [self](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail("cannot connect to " + self->owner->upstream.host + ": " + ec.message());
          self->handshake();
        });
      });
    }

    void handshake() {
      auto self = shared_from_this();
      if (auto* s = std::get_if<std::unique_ptr<secure>>(&stream)) {
        (*s)->async_handshake(ssl::stream_base::client, [self](beast::error_code ec) {
          if (ec) return self->fail("TLS with " + self->owner->upstream.host + " failed: " + ec.message());
          self->write();
        });
      } else {
        write();
      }
    }

    void write() {
      auto self = shared_from_this();
      with_stream([&](auto& s) {
        beast::get_lowest_layer(s).expires_after(upstream_timeout);
        http::async_write(s, req, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->retry_or_fail("writing to " + self->owner->upstream.host + ": " + ec.message(), true);
          self->read();
        });
      });
    }

    void read() {
      auto self = shared_from_this();
      parser.emplace();
      parser->body_limit(max_body);
      if (req.method() == http::verb::head) parser->skip(true);  // a HEAD answer has headers only
      buf.clear();
      with_stream([&](auto& s) {
        http::async_read(s, buf, *parser, [self](beast::error_code ec, std::size_t) {
          if (ec) {
            // Nothing of an answer came: the request may or may not have reached the upstream.
            bool nothing_read = !self->parser->got_some();
            return self->retry_or_fail("reading from " + self->owner->upstream.host + ": " + ec.message(),
                                       nothing_read && idempotent(self->req.method()));
          }
          self->answer();
        });
      });
    }

    void answer() {
      http::response<http::string_body> up = parser->release();
      gs::http_response res;
      res.version(11);
      res.result(up.result_int());  // also codes Beast has no name for (Cloudflare's 52x)
      for (const auto& field : up)
        if (!hop_by_hop(field.name_string())) res.insert(field.name_string(), field.value());
      res.body() = std::move(up.body());
      if (up.keep_alive()) owner->give_back(std::move(stream));
      respond(std::move(res));
    }

    void retry_or_fail(const std::string& why, bool may_resend) {
      if (reused && may_resend) return connect();
      fail(why);
    }

    void fail(const std::string& why) {
      LOG_WARN("proxy: REST %s %s: %s", std::string(req.method_string()).c_str(), std::string(req.target()).c_str(),
               why.c_str());
      respond(gateway_error(502, "The proxy could not reach Discord's REST API: " + why));
    }
  };

  std::optional<upstream_stream> take_idle() {
    const auto now = std::chrono::steady_clock::now();
    while (!idle.empty()) {
      auto [s, since] = std::move(idle.back());
      idle.pop_back();
      if (now - since < max_idle_age) return std::move(s);
    }
    return std::nullopt;
  }

  void give_back(upstream_stream s) {
    if (idle.size() < max_idle) idle.emplace_back(std::move(s), std::chrono::steady_clock::now());
  }

  asio::io_context& io;
  net::url upstream;
  tcp::resolver resolver;
  ssl::context tls;
  std::vector<std::pair<upstream_stream, std::chrono::steady_clock::time_point>> idle;  // newest last
};

rest_forward::rest_forward(asio::io_context& io, const std::string& rest_url, const std::string& ca_file) {
  auto u = net::parse_url(rest_url, true);
  if (!u) throw std::runtime_error("[discord] rest_url is not an http:// or https:// URL: " + rest_url);
  impl_ = std::make_shared<impl>(io, std::move(*u), ca_file);
}

rest_forward::~rest_forward() = default;

void rest_forward::forward(gs::http_request req, std::string target, gs::http_responder respond) {
  switch (req.method()) {
    case http::verb::get: case http::verb::head: case http::verb::post: case http::verb::put:
    case http::verb::patch: case http::verb::delete_: case http::verb::options:
      break;
    default:  // Discord's API uses none of the others; TRACE with a body would not even make a valid request
      return respond(gateway_error(405, "405: Method Not Allowed"));
  }
  auto x = std::make_shared<impl::exchange>();
  x->owner = impl_;
  std::string path = impl_->upstream.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  x->req = http::request<http::string_body>(req.method(), path + target, 11);
  for (const auto& field : req)
    if (!hop_by_hop(field.name_string())) x->req.insert(field.name_string(), field.value());
  x->req.set(http::field::host, impl_->upstream.default_port()
                                    ? impl_->upstream.host
                                    : impl_->upstream.host + ":" + std::to_string(impl_->upstream.port));
  x->req.body() = std::move(req.body());
  x->req.keep_alive(true);
  x->req.prepare_payload();
  x->respond = std::move(respond);
  x->start();
}

}  // namespace g::proxy
