#pragma once
// A private redis-server on a free loopback port for a test or a benchmark; stopped (and its data discarded)
// on destruction. restart() keeps the port, as a Redis restart in production would.
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "sim/harness/child_process.hpp"

namespace g::harness {

class redis_process {
 public:
  redis_process();
  ~redis_process();
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  std::uint16_t port() const { return port_; }
  void stop();     // SIGTERM and wait
  void kill();     // SIGKILL (a crash)
  void start();    // again, on the same port, empty
  pid_t pid() const { return server_.pid(); }

 private:
  child_process server_;
  std::uint16_t port_ = 0;
};

std::uint16_t free_tcp_port();

}  // namespace g::harness
