#pragma once
// Memory per idle connected shard session: RSS growth of this process divided by the sessions, with many
// sessions connected to g-fakecord over zlib-stream.
#include <string>

namespace g::bench {

struct session_memory_options {
  std::string fakecord;
  int sessions = 1000;
  std::string compress = "zlib-stream";
};

int run_session_memory(const session_memory_options& o);

}  // namespace g::bench
