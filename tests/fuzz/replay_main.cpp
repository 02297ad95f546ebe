// Runs the fuzz target without libFuzzer (g++ builds, CI): thousands of generated inputs — valid compressed
// gateway messages, then the same with bytes flipped, cut and spliced.
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "net/compression/zlib_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main() {
  std::mt19937_64 rng(2026);
  const std::vector<std::string> messages = {
      R"({"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}})",
      R"({"t":"READY","s":1,"op":0,"d":{"session_id":"abc","resume_gateway_url":"wss://x","guilds":[]}})",
      R"({"t":"MESSAGE_CREATE","s":2,"op":0,"d":{"guild_id":"81384788765712384","content":"hi \"there\" \\ ok"}})",
      R"({"t":null,"s":null,"op":11,"d":null})",
  };
  std::size_t runs = 0;
  for (int round = 0; round < 4000; ++round) {
    g::net::zlib_stream_deflater def(1 + static_cast<int>(rng() % 9));
    std::string input(1, static_cast<char>(rng()));
    for (int m = 0; m < 1 + static_cast<int>(rng() % 4); ++m) def.compress(messages[rng() % messages.size()], input);
    int mutations = static_cast<int>(rng() % 4);
    for (int k = 0; k < mutations && input.size() > 2; ++k) {
      switch (rng() % 3) {
        case 0: input[1 + rng() % (input.size() - 1)] ^= static_cast<char>(1 + rng() % 255); break;
        case 1: input.resize(1 + rng() % (input.size() - 1)); break;
        default: input.insert(1 + rng() % (input.size() - 1), std::string(1 + rng() % 8, static_cast<char>(rng())));
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    ++runs;
  }
  std::printf("%zu inputs decoded without a crash\n", runs);
  return 0;
}
