#pragma once
// A private redis-server on a free loopback port for a test or a benchmark; stopped (and its data discarded)
// on destruction. restart() keeps the port, as a Redis restart in production would.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sim/harness/child_process.hpp"

namespace g::harness {

class redis_process {
 public:
  // `extra`: more redis-server options (e.g. {"--replicaof", "127.0.0.1", "6379"}).
  explicit redis_process(std::vector<std::string> extra = {});
  ~redis_process();
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  std::uint16_t port() const { return port_; }
  void stop();     // SIGTERM and wait
  void kill();     // SIGKILL (a crash)
  void start();    // again, on the same port, empty
  pid_t pid() const { return server_.pid(); }

 private:
  std::vector<std::string> extra_;
  child_process server_;
  std::uint16_t port_ = 0;
};

// A private Redis Sentinel monitoring one master under `name` (quorum 1, down after 1 s), with its config file
// (Sentinel rewrites it) in `dir`.
class sentinel_process {
 public:
  // `host`: where the master is, and where the sentinel listens besides loopback.
  sentinel_process(const std::string& name, std::uint16_t master_port, const std::string& dir,
                   const std::string& host = "127.0.0.1");
  ~sentinel_process();
  std::uint16_t port() const { return port_; }
  void kill() { server_.kill(); }

 private:
  std::uint16_t port_ = 0;
  child_process server_;
};

std::uint16_t free_tcp_port();

}  // namespace g::harness
