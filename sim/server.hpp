#pragma once
// The network shell of g-fakecord: one port for REST, the admin API and the gateway (ws:// or wss://),
// all on one io_context thread. Keeps Beast out of every other file.
#include <cstdint>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace g::sim {

class fakecord;

class server {
 public:
  // Binds and starts accepting; throws std::runtime_error with a one-line reason on failure.
  server(boost::asio::io_context& io, fakecord& fc);
  ~server();
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace g::sim
