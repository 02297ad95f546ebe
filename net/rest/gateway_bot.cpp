#include "net/rest/gateway_bot.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <random>
#include <simdjson.h>
#include <thread>

#include "net/url.hpp"

namespace g::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

struct http_result {
  int status = 0;
  std::string body;
  std::string retry_after;  // header
  std::string network_error;
};

template <class Stream>
http_result exchange(Stream& stream, asio::io_context& io, const url& u, const std::string& target,
                     const std::string& token, std::chrono::milliseconds timeout) {
  http_result out;
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "DiscordBot (G, 0.1)");
  req.set(http::field::authorization, "Bot " + token);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code result = asio::error::timed_out;
  beast::get_lowest_layer(stream).expires_after(timeout);
  http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_read(stream, buf, res, [&](beast::error_code ec2, std::size_t) { result = ec2; });
  });
  io.run();
  if (result) {
    out.network_error = result.message();
    return out;
  }
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  out.retry_after = std::string(res[http::field::retry_after]);
  return out;
}

http_result get_once(const url& u, const std::string& target, const rest_options& o) {
  asio::io_context io;
  http_result out;
  auto timeout = std::chrono::milliseconds(o.timeout_ms);
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(u.host, std::to_string(u.port), ec);
  if (ec) {
    out.network_error = "cannot resolve " + u.host + ": " + ec.message();
    return out;
  }
  if (!u.tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(endpoints, ec);
    if (ec) {
      out.network_error = "cannot connect to " + u.host + ":" + std::to_string(u.port) + ": " + ec.message();
      return out;
    }
    return exchange(stream, io, u, target, o.token, timeout);
  }
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths();
  if (!o.ca_file.empty()) ctx.load_verify_file(o.ca_file, ec);
  if (ec) {
    out.network_error = "cannot load CA file " + o.ca_file + ": " + ec.message();
    return out;
  }
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
  stream.set_verify_callback(ssl::host_name_verification(u.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  if (ec) {
    out.network_error = "TLS connection to " + u.host + " failed: " + ec.message();
    return out;
  }
  return exchange(stream, io, u, target, o.token, timeout);
}

double retry_after_seconds(const http_result& r) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  double s = 0;
  if (p.parse(r.body).get(doc) == simdjson::SUCCESS && doc["retry_after"].get_double().get(s) == simdjson::SUCCESS) return s;
  try {
    return r.retry_after.empty() ? 1.0 : std::stod(r.retry_after);
  } catch (...) {
    return 1.0;
  }
}

std::variant<gateway_bot, rest_error> parse_gateway_bot(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  gateway_bot g;
  std::string_view url;
  std::int64_t shards = 0, total = 0, remaining = 0, reset_after = 0, max_concurrency = 0;
  simdjson::dom::element limit;
  if (p.parse(body).get(doc) != simdjson::SUCCESS || doc["url"].get_string().get(url) != simdjson::SUCCESS ||
      doc["shards"].get_int64().get(shards) != simdjson::SUCCESS ||
      doc["session_start_limit"].get(limit) != simdjson::SUCCESS ||
      limit["total"].get_int64().get(total) != simdjson::SUCCESS ||
      limit["remaining"].get_int64().get(remaining) != simdjson::SUCCESS ||
      limit["reset_after"].get_int64().get(reset_after) != simdjson::SUCCESS ||
      limit["max_concurrency"].get_int64().get(max_concurrency) != simdjson::SUCCESS || shards < 1 ||
      max_concurrency < 1) {
    return rest_error{rest_error::bad_response, "GET /gateway/bot returned an unexpected body: " + body.substr(0, 200)};
  }
  g.url = std::string(url);
  g.shards = static_cast<int>(shards);
  g.session_total = static_cast<int>(total);
  g.session_remaining = static_cast<int>(remaining);
  g.reset_after_ms = reset_after;
  g.max_concurrency = static_cast<int>(max_concurrency);
  return g;
}

}  // namespace

std::variant<gateway_bot, rest_error> fetch_gateway_bot(const rest_options& o) {
  auto u = parse_url(o.rest_url, true);
  if (!u) return rest_error{rest_error::bad_response, "rest_url '" + o.rest_url + "' is not an http(s) URL"};
  while (!u->path.empty() && u->path.back() == '/') u->path.pop_back();
  if (o.token.empty()) return rest_error{rest_error::token_rejected, "no bot token configured"};
  const std::string target = u->path + "/v10/gateway/bot";
  std::mt19937_64 rng(std::random_device{}());
  rest_error last{rest_error::network, "no attempt made"};
  std::int64_t backoff = o.backoff_base_ms;
  for (int attempt = 1; attempt <= o.max_attempts; ++attempt) {
    http_result r = get_once(*u, target, o);
    std::int64_t wait_ms = 0;
    if (!r.network_error.empty()) {
      last = {rest_error::network, r.network_error};
      wait_ms = backoff;
    } else if (r.status == 200) {
      return parse_gateway_bot(r.body);
    } else if (r.status == 401) {
      return rest_error{rest_error::token_rejected, "Discord rejected the bot token (401 Unauthorized): check the token"};
    } else if (r.status == 429) {
      last = {rest_error::http_status, "rate limited (429)"};
      wait_ms = static_cast<std::int64_t>(retry_after_seconds(r) * 1000.0);
    } else if (r.status >= 500) {
      last = {rest_error::http_status, "GET /gateway/bot answered " + std::to_string(r.status)};
      wait_ms = backoff;
    } else {
      return rest_error{rest_error::http_status, "GET /gateway/bot answered " + std::to_string(r.status) + ": " + r.body.substr(0, 200)};
    }
    if (attempt == o.max_attempts) break;
    if (wait_ms == backoff) {
      wait_ms = backoff / 2 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(backoff / 2 + 1));
      backoff = std::min<std::int64_t>(backoff * 2, 30000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
  last.message += " (after " + std::to_string(o.max_attempts) + " attempts)";
  return last;
}

}  // namespace g::net
