#include "bench/proxy_bench.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench/json_value.hpp"
#include "bench/proc_stats.hpp"
#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/fakecord_process.hpp"
#include "sim/harness/redis_process.hpp"
#include "sim/harness/wait_until.hpp"

namespace g::bench {

namespace {

using namespace std::chrono_literals;

const char* token = "bench-token";

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// The last line of a log that starts with `prefix`.
std::string last_line(const std::string& path, const std::string& prefix) {
  std::istringstream in(read_file(path));
  std::string line, found;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) found = line;
  return found;
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  return harness::wait_until(pred, timeout);
}

// An @discordjs/ws bot from connect() to its last GUILD_CREATE, against a REST base (the proxy's or g-fakecord's).
double time_to_ready_ms(const proxy_bench_options& o, const std::string& dir, const std::string& rest,
                        const std::string& name) {
  std::string log = dir + "/" + name + ".log";
  harness::child_process bot({"node", o.source_dir + "/bench/peers/discordjs/proxy_clients.mjs", "--mode", "ready",
                              "--rest", rest, "--token", token},
                             log);
  if (bot.wait(600s) != 0) throw std::runtime_error(name + ": the bot did not get ready: " + read_file(log));
  return static_cast<double>(json_int(last_line(log, "{\"ms\""), "/ms"));
}

double cpu_over(pid_t pid, int seconds) {
  double before = cpu_seconds(pid);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  return cpu_seconds(pid) - before;
}

}  // namespace

int run_proxy_bench(const proxy_bench_options& o) {
  harness::redis_process redis;
  harness::fakecord_process fc(o.fakecord, {"--guilds", std::to_string(o.guilds), "--shards", std::to_string(o.shards),
                                            "--max-concurrency", std::to_string(o.shards), "--token", token, "--quiet"});
  std::string dir = std::filesystem::temp_directory_path() / ("g-bench-proxy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::uint16_t proxy_port = harness::free_tcp_port(), http_port = harness::free_tcp_port();
  const std::string config = dir + "/node.toml";
  {
    std::ofstream f(config);
    f << "[node]\nname = \"bench\"\nlisten = \"127.0.0.1:0\"\n[discord]\ntoken = \"" << token
      << "\"\nrest_url = \"http://127.0.0.1:" << fc.port() << "/api\"\nintents = 33281\n[redis]\nport = " << redis.port()
      << "\n[http]\nlisten = \"127.0.0.1:" << http_port << "\"\n[security]\ncookie = \"g-bench-proxy-cookie-0123\"\n"
      << "[proxy]\nlisten = \"127.0.0.1:" << proxy_port << "\"\n";
  }
  harness::child_process node({o.g_actor, "--config", config}, dir + "/node.log");
  harness::child_process cache({o.g_cache, "--config", config}, dir + "/cache.log");
  net::redis_connection r({"127.0.0.1", redis.port(), "", 0, 5000});
  auto cached_guilds = [&] { return r.command({"HLEN", "g:g:cache:guilds"}).number; };
  auto available = [&] {  // every guild's GUILD_CREATE applied (the stubs READY left are replaced)
    auto keys = r.command({"SCAN", "0", "MATCH", "g:g:cache:guild:*:channels", "COUNT", "100000"});
    return keys.elements.size() == 2 ? static_cast<long long>(keys.elements[1].elements.size()) : 0;
  };
  std::printf("g-bench proxy: %d shards, %d guilds; waiting for G and g-cache …\n", o.shards, o.guilds);
  if (!wait_for([&] { return cached_guilds() >= o.guilds && available() >= o.guilds; }, 600s))
    throw std::runtime_error("the cache did not fill: " + std::to_string(cached_guilds()) + " guilds cached");

  const std::string proxy_api = "http://127.0.0.1:" + std::to_string(proxy_port) + "/api";
  const std::string direct_api = "http://127.0.0.1:" + std::to_string(fc.port()) + "/api";
  double via_proxy = time_to_ready_ms(o, dir, proxy_api, "ready-proxy");
  double direct = time_to_ready_ms(o, dir, direct_api, "ready-direct");
  double via_proxy_again = time_to_ready_ms(o, dir, proxy_api, "ready-proxy-again");

  // Memory and CPU per connection: `connections` raw bot connections spread over the shards.
  const std::string gateway = "ws://127.0.0.1:" + std::to_string(proxy_port);
  // Both sides of the difference after the node's malloc_trim (every 10 s) has run since the last burst: measured
  // 3 s after one, the figure was 48–657 KiB from run to run, depending on whether the trim had come yet.
  std::this_thread::sleep_for(12s);
  std::int64_t rss_before = rss_kib(node.pid());
  std::string idle_log = dir + "/idle.log";
  harness::child_process idle({"node", o.source_dir + "/bench/peers/discordjs/proxy_clients.mjs", "--mode", "idle",
                               "--gateway", gateway, "--token", token, "--shards", std::to_string(o.shards), "--count",
                               std::to_string(o.connections)},
                              idle_log);
  if (!wait_for([&] { return !last_line(idle_log, "{\"connected\"").empty(); }, 120s))
    throw std::runtime_error("the bot connections did not get ready: " + read_file(idle_log));
  std::this_thread::sleep_for(12s);
  std::int64_t rss_after = rss_kib(node.pid());

  auto events_in = [&](const std::function<double()>& measure, double& cpu) {
    long long before = r.command({"XLEN", "g:g:events"}).number;
    cpu = measure();
    return r.command({"XLEN", "g:g:events"}).number - before;
  };
  fc.post("/_fakecord/load", "{\"rate\":" + std::to_string(o.rate) + "}");
  std::this_thread::sleep_for(2s);
  double cpu_with = 0, cpu_without = 0;
  long long events_with = events_in([&] { return cpu_over(node.pid(), o.seconds); }, cpu_with);
  idle.signal(SIGTERM);
  idle.wait(10s);
  std::this_thread::sleep_for(2s);
  long long events_without = events_in([&] { return cpu_over(node.pid(), o.seconds); }, cpu_without);
  fc.post("/_fakecord/load", "{\"rate\":0}");

  const double per_shard = static_cast<double>(o.connections) / o.shards;
  const double deliveries = static_cast<double>(events_with) * per_shard;
  const double cpu_per_event_without = cpu_without / std::max(1LL, events_without);
  const double extra = cpu_with - cpu_per_event_without * static_cast<double>(events_with);
  std::printf("\n| figure | value |\n|---|---|\n");
  std::printf("| bot connect → last GUILD_CREATE, through the proxy (%d shards, %d guilds) | %.0f ms (again: %.0f ms) |\n",
              o.shards, o.guilds, via_proxy, via_proxy_again);
  std::printf("| the same bot identifying directly at g-fakecord | %.0f ms |\n", direct);
  std::printf("| node CPU per event, no bot connected (G's own work) | %.1f µs |\n", cpu_per_event_without * 1e6);
  std::printf("| node CPU per event per connected bot connection (%d connections, %.0f per shard, %d events/s) | %.2f µs |\n",
              o.connections, per_shard, o.rate, deliveries > 0 ? extra / deliveries * 1e6 : 0.0);
  std::printf("| node memory per idle bot connection (zlib-stream) | %.1f KiB |\n",
              static_cast<double>(rss_after - rss_before) / o.connections);
  std::printf("\n(events measured: %lld with the connections, %lld without; CPU %.2f s and %.2f s over %d s)\n",
              events_with, events_without, cpu_with, cpu_without, o.seconds);
  cache.signal(SIGTERM);
  node.signal(SIGTERM);
  node.wait(30s);
  cache.wait(5s);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace g::bench
