#pragma once
// Opens an acceptor on HOST:PORT (port 0: any free one) with address reuse, or throws one line naming the
// problem; `what` says which setting gave the address (g-actor's [http] listen, g-fakecord's --listen).
#include <boost/asio/ip/tcp.hpp>

#include <stdexcept>
#include <string>

namespace g::net {

inline void listen_on(boost::asio::ip::tcp::acceptor& a, const std::string& host, std::uint16_t port, const std::string& what) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error(what + ": '" + host + "' is not an IP address");
  asio::ip::tcp::endpoint ep(address, port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
}

}  // namespace g::net
