#pragma once
// g-bench proxy: what the proxy (docs/proxy.md) costs and saves. A G node serving the proxy, g-cache, and g-fakecord
// with a large bot (16 shards, 5,000 guilds by default):
//   - the time from an unmodified @discordjs/ws bot's connect to its last GUILD_CREATE, through the proxy and, beside
//     it, identifying directly at g-fakecord;
//   - the node's CPU per event per connected bot connection, at a steady rate, with and without the connections;
//   - the node's memory per idle bot connection.
#include <string>

namespace g::bench {

struct proxy_bench_options {
  std::string g_actor, g_cache, fakecord, source_dir;
  int shards = 16;
  int guilds = 5000;
  int connections = 320;  // bot connections for the CPU and memory figures (20 bots of 16 shards)
  int rate = 1000;        // dispatches/s during the CPU measurement
  int seconds = 10;       // length of each CPU measurement
};

int run_proxy_bench(const proxy_bench_options& o);

}  // namespace g::bench
