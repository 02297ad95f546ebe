#pragma once
// How many dispatches per second g-fakecord sustains to many connected shards (the simulator must never be the
// bottleneck of a benchmark).
#include <cstdint>
#include <string>
#include <vector>

namespace g::bench {

struct fakecord_throughput_options {
  std::string fakecord;                 // path to the g-fakecord binary
  int shards = 100;
  std::string compress = "zlib-stream";  // zlib-stream | zstd-stream | none
  double rate = 150000;                  // requested dispatches per second
  int seconds = 10;
  int warmup_seconds = 2;
  int fakecord_cpu = 0;                  // core g-fakecord is pinned to (-1: not pinned)
  int client_cpu = 1;                    // core the receiving side is pinned to (-1: not pinned)
  std::vector<std::string> fakecord_args;  // passed through (after --)
};

// Runs the scenario and prints a Markdown table; returns 0 on success.
int run_fakecord_throughput(const fakecord_throughput_options& o);

}  // namespace g::bench
