#pragma once
// ws:// and wss:// URLs as Discord hands them out (resume URLs come without a path).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace g::net {

struct ws_url {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string path = "/";  // never empty; the query is not kept
  bool default_port() const { return port == (tls ? 443 : 80); }
};

std::optional<ws_url> parse_ws_url(std::string_view url);

}  // namespace g::net
