#include "net/rest/node_id_service.hpp"

#include <simdjson.h>

#include "net/rest/http_get.hpp"

namespace g::net {

namespace {

std::uint64_t digits(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  if (s.empty() || s.size() > 20) return 0;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::uint64_t parse_node_id(const std::string& body) {
  if (auto v = digits(body)) return v;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(body).get(doc) != simdjson::SUCCESS) return 0;
  simdjson::dom::element id = doc;
  if (doc.type() == simdjson::dom::element_type::OBJECT && doc["id"].get(id) != simdjson::SUCCESS) return 0;
  std::uint64_t n = 0;
  std::string_view s;
  if (id.get_uint64().get(n) == simdjson::SUCCESS) return n;
  if (id.get_string().get(s) == simdjson::SUCCESS) return digits(s);
  return 0;
}

std::variant<std::uint64_t, std::string> fetch_node_id(const std::string& service_url, std::int64_t timeout_ms) {
  auto u = parse_url(service_url, true);
  if (!u) return "RAINDROP_URL '" + service_url + "' is not an http(s) URL";
  auto q = service_url.find('?');
  std::string target = u->path + (q == std::string::npos ? "" : service_url.substr(q));
  http_result r = http_get(*u, target, "", "", timeout_ms);
  if (!r.network_error.empty()) return "id service " + service_url + ": " + r.network_error;
  if (r.status != 200) return "id service " + service_url + " answered " + std::to_string(r.status);
  std::uint64_t id = parse_node_id(r.body);
  if (id == 0) return "id service " + service_url + " answered no id: " + r.body.substr(0, 80);
  return id;
}

}  // namespace g::net
