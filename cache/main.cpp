// g-cache: a cache worker of the cache standard (docs/cache.md). `g-cache --config node.toml`.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "cache/cache_store.hpp"
#include "net/log.hpp"
#include "cache/cache_worker.hpp"
#include "cache/event_plan.hpp"
#include "config/node_config.hpp"
#include "config/redis_endpoint.hpp"
#include "net/redis/redis_connection.hpp"

namespace {

const char* usage = R"(g-cache: keeps Discord's state in Redis by the cache standard (docs/cache.md), from G's event stream

Usage:
  g-cache --config FILE.toml     run a cache worker (several may run: they share the consumer group)
  g-cache --help

It reads [node] group, [redis] and [cache] of the node's configuration (config/node.example.toml); REDIS_HOST,
REDIS_PORT, REDIS_PASS and GROUP_NAME override it. SIGTERM/SIGINT: finish the entry at hand, then exit.
)";

std::atomic<bool> stopping{false};
void on_signal(int) { stopping = true; }

int fail(const std::string& why, int code) {
  std::fprintf(stderr, "g-cache: %s\n", why.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (a == "--config" && i + 1 < argc) config_path = argv[++i];
    else return fail("unknown argument '" + a + "' (see --help)", 2);
  }
  if (config_path.empty()) return fail("--config FILE.toml is required (see --help)", 2);
  auto loaded = g::config::load_node_config(config_path, g::config::process_environment(), g::config::config_reader::cache_worker);
  if (!loaded.config) return fail(loaded.error, 2);
  const auto& cfg = *loaded.config;
  g::log::set_process("g-cache");
  g::log::set_threshold(*g::log::parse_level(cfg.node.log_level));  // the config checked the name

  std::string consumer = cfg.cache.consumer;
  if (consumer.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    consumer = std::string(host) + "-" + std::to_string(::getpid());
  }
  g::log::set_identity("consumer", consumer);

  g::net::redis_connection redis(g::config::redis_endpoint_of(cfg, 5000));
  if (!redis.ensure_connected())
    return fail("cannot reach Redis: " + redis.last_error(), 1);

  g::cache::cache_keys keys(cfg.node.group);
  g::cache::cache_store store(redis, keys, cfg.cache.consumer_group, consumer);
  if (auto prepared = store.prepare(); !prepared.ok()) return fail(prepared.reason, 1);
  g::cache::event_planner planner(keys, {cfg.cache.members, cfg.cache.presences, cfg.cache.voice_states, cfg.cache.emojis});
  g::cache::worker_settings settings;
  settings.batch = cfg.cache.batch;
  settings.claim_idle_ms = cfg.cache.claim_idle_ms;
  g::cache::cache_worker worker(store, planner, settings, consumer);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  LOG_INFO("running, group %s on %s (members %s, presences %s, voice states %s, emojis %s)",
               cfg.cache.consumer_group.c_str(), keys.events().c_str(), cfg.cache.members ? "on" : "off",
               cfg.cache.presences ? "on" : "off", cfg.cache.voice_states ? "on" : "off", cfg.cache.emojis ? "on" : "off");
  bool failing = false;
  auto last_report = std::chrono::steady_clock::now();
  while (!stopping) {
    auto stepped = worker.step();
    const bool ok = stepped.ok();
    if (!ok && !failing)
      LOG_WARN("Redis at %s unusable (%s); retrying every 500 ms", redis.address().c_str(), stepped.reason.c_str());
    if (ok && failing) LOG_INFO("Redis usable again");
    failing = !ok;
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now = std::chrono::steady_clock::now();
    if (now - last_report >= std::chrono::seconds(10)) {
      last_report = now;
      const auto& c = worker.counters();
      LOG_INFO("applied %llu, duplicates %llu, claimed %llu, gaps %llu, bad entries %llu, held %zu",
                   static_cast<unsigned long long>(c.applied), static_cast<unsigned long long>(c.duplicates),
                   static_cast<unsigned long long>(c.claimed), static_cast<unsigned long long>(c.gaps),
                   static_cast<unsigned long long>(c.problems), worker.held());
    }
  }
  LOG_INFO("stopped (applied %llu)", static_cast<unsigned long long>(worker.counters().applied));
  return 0;
}
