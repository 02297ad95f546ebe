#pragma once
// The shard session's hot path measured against the floor: zlib-stream inflate + the frame scanner on a
// recorded mix of g-fakecord traffic, versus zlib inflate alone plus a plain simdjson parse of the same bytes.
#include <string>
#include <vector>

namespace g::bench {

struct decode_options {
  std::string fakecord;
  int frames = 100000;  // recorded messages
  int passes = 5;       // the best pass counts
};

int run_decode_throughput(const decode_options& o);

// The compressed frames one zlib-stream connection receives from g-fakecord: READY, GUILD_CREATEs, then load.
std::vector<std::string> record_frames(const std::string& fakecord, int frames);

}  // namespace g::bench
