#pragma once
// ws://, wss://, http:// and https:// URLs as Discord and operators hand them out (resume URLs come without a
// path). The query is not kept.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace g::net {

struct url {
  bool tls = false;  // wss:// or https://
  std::string host;
  std::uint16_t port = 0;
  std::string path = "/";  // never empty
  bool default_port() const { return port == (tls ? 443 : 80); }
};

// `web` selects http/https, otherwise ws/wss.
std::optional<url> parse_url(std::string_view text, bool web = false);

// One query parameter of a request target (path?a=1&b=2), "" when absent. Not percent-decoded.
std::string query_param(std::string_view target, std::string_view name);

}  // namespace g::net
