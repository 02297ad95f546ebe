#pragma once
// One blocking HTTP(S) GET with a timeout (SNI and certificate verification for https). For start-up calls
// (/gateway/bot, the id service), never on an io thread or an actor.
#include <cstdint>
#include <string>

#include "net/url.hpp"

namespace g::net {

struct http_result {
  int status = 0;
  std::string body;
  std::string retry_after;    // the Retry-After header
  std::string network_error;  // set when no HTTP answer came
};

http_result http_get(const url& u, const std::string& target, const std::string& authorization,
                     const std::string& ca_file, std::int64_t timeout_ms);

}  // namespace g::net
