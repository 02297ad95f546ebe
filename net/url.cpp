#include "net/url.hpp"

#include <charconv>

namespace g::net {

std::optional<url> parse_url(std::string_view text, bool web) {
  url u;
  const std::string_view plain = web ? "http://" : "ws://", secure = web ? "https://" : "wss://";
  if (text.rfind(secure, 0) == 0) {
    u.tls = true;
    text.remove_prefix(secure.size());
  } else if (text.rfind(plain, 0) == 0) {
    text.remove_prefix(plain.size());
  } else {
    return std::nullopt;
  }
  std::string_view authority = text.substr(0, text.find_first_of("/?"));
  std::string_view rest = text.substr(authority.size());
  if (authority.empty()) return std::nullopt;
  std::string_view host = authority, port;
  if (authority.front() == '[') {  // IPv6 literal
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  u.host = std::string(host);
  u.port = u.tls ? 443 : 80;
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc{} || p != port.data() + port.size() || u.port == 0) return std::nullopt;
  }
  std::string_view path = rest.substr(0, rest.find('?'));
  u.path = path.empty() ? "/" : std::string(path);
  return u;
}

std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace g::net
