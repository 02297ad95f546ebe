#pragma once
// g-bench cache: g-cache's cost and Redis's memory, on stream entries written straight into a private Redis in
// G's format (prev chains included): events applied per CPU-second of g-cache, bytes per cached member and guild
// at 100,000 members, and the lag from commit to applied at a steady rate.
#include <string>

namespace g::bench {

struct cache_bench_options {
  std::string g_cache;  // the binary
  int events = 200000;  // for the throughput run
  int rate = 10000;     // for the lag run (events/s)
  int seconds = 10;     // length of the lag run
  int members = 100000; // for the memory run
};

int run_cache_bench(const cache_bench_options& o);

}  // namespace g::bench
