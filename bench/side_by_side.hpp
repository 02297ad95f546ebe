#pragma once
// G beside the libraries bots use today, on the same load in the same run: each system under test receives every
// dispatch from g-fakecord and XADDs it to the same Redis stream. Throughput (the highest rate sustained without
// growing lag, CPU seconds per million events from /proc, latency from g-fakecord's send time to the entry being
// readable), memory per idle shard, and cold start against the identify floor; plus what inflate + scan + a
// pipelined XADD cost alone on the same bytes (the floor of this machine).
#include <string>
#include <vector>

namespace g::bench {

struct side_by_side_options {
  std::string g_actor, fakecord, source_dir;
  std::vector<std::string> systems = {"g", "discord.js", "discord.py"};
  int shards = 16;
  std::vector<int> rates = {2000, 5000, 10000, 20000, 40000, 80000};
  int window_seconds = 5;
  int memory_shards = 1000;
  int cold_shards = 64, cold_concurrency = 16;
  int io_threads = 0;  // G's [node] io_threads; 0: its default (one per core)
  int io_batch_us = -1;  // G's [node] io_batch_us; -1: its default
  bool throughput = true, memory = true, cold_start = true, floor = true;
};

int run_side_by_side(const side_by_side_options& o);

}  // namespace g::bench
