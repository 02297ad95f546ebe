#include "net/rest/http_get.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

namespace g::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

template <class Stream>
http_result exchange(Stream& stream, asio::io_context& io, const url& u, const std::string& target,
                     const std::string& authorization, std::chrono::milliseconds timeout) {
  http_result out;
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "DiscordBot (G, 0.1)");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
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

}  // namespace

http_result http_get(const url& u, const std::string& target, const std::string& authorization,
                     const std::string& ca_file, std::int64_t timeout_ms) {
  asio::io_context io;
  http_result out;
  auto timeout = std::chrono::milliseconds(timeout_ms);
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
    return exchange(stream, io, u, target, authorization, timeout);
  }
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_default_verify_paths();
  if (!ca_file.empty()) ctx.load_verify_file(ca_file, ec);
  if (ec) {
    out.network_error = "cannot load CA file " + ca_file + ": " + ec.message();
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
  return exchange(stream, io, u, target, authorization, timeout);
}


}  // namespace g::net
