#pragma once
// Node ids from a Raindrop-style snowflake service (RAINDROP_URL): GET the URL, read one id from the body — a
// bare number, a JSON number or string, or a JSON object with "id". A failure is an error, never a silent
// fallback to another kind of id.
#include <cstdint>
#include <string>
#include <variant>

namespace g::net {

std::variant<std::uint64_t, std::string> fetch_node_id(const std::string& service_url, std::int64_t timeout_ms = 5000);

// The id in a service's answer body, or 0.
std::uint64_t parse_node_id(const std::string& body);

}  // namespace g::net
