#pragma once
// g-fakecord for one test: the binary this build made, on a free port.
#include "sim/harness/fakecord_process.hpp"

namespace g::test {

using harness::http_request;

class fakecord_process : public harness::fakecord_process {
 public:
  explicit fakecord_process(std::vector<std::string> args = {})
      : harness::fakecord_process(G_FAKECORD_PATH, std::move(args)) {}
};

// A bot's REST calls to g-fakecord (/api/v10, the bot token "test-token"): the body, with the status and the
// headers (lowercase names) of the last answer.
struct rest_client {
  explicit rest_client(std::uint16_t p) : port(p) {}
  std::uint16_t port;
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string call(const std::string& method, const std::string& path, const std::string& body = {}) {
    headers.clear();
    return http_request(port, method, "/api/v10" + path, body, "Bot test-token", status, nullptr, &headers);
  }
};

}  // namespace g::test
