#pragma once
// A small HTTP/1.1 server on an io_context for a node's /metrics, /healthz and /status.json. The handler runs
// on the io thread and must be quick (it renders from memory).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace g::net {

struct http_answer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using http_handler = std::function<http_answer(std::string_view method, std::string_view target)>;

class http_server {
 public:
  // Binds at once; throws std::runtime_error("cannot listen on HOST:PORT: …") on failure.
  http_server(boost::asio::io_context& io, const std::string& host, std::uint16_t port, http_handler handler);
  ~http_server();
  std::uint16_t port() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace g::net
