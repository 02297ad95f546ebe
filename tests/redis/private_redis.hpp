#pragma once
// A private redis-server for one test case, and how to reach it (1 s timeouts: a test must not hang on Redis).
#include "net/redis/redis_connection.hpp"
#include "sim/harness/redis_process.hpp"

namespace g::test {

inline net::redis_endpoint at(const harness::redis_process& r) {
  net::redis_endpoint e;
  e.port = r.port();
  e.timeout_ms = 1000;
  return e;
}

}  // namespace g::test
