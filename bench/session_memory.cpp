#include "bench/session_memory.hpp"

#include <malloc.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "net/gateway/identify_gate.hpp"
#include "net/gateway/shard_connection.hpp"
#include "sim/harness/fakecord_process.hpp"

namespace g::bench {

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

struct counting_listener : net::shard_listener {
  std::atomic<int>* ready;
  bool counted = false;
  void on_dispatch(const net::gateway_frame&, std::string_view) override {}
  void on_report(const net::shard_report& r) override {
    if (!counted && r.phase == net::session_phase::ready) {
      counted = true;
      ++*ready;
    }
  }
};

}  // namespace

int run_session_memory(const session_memory_options& o) {
  const int n = o.sessions;
  harness::fakecord_process fc(o.fakecord, {"--guilds", std::to_string(n), "--shards", std::to_string(n),
                                            "--max-concurrency", std::to_string(n), "--members", "10"});
  boost::asio::io_context io(1);
  auto work = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto gate = net::make_local_identify_gate(io, n);
  std::atomic<int> ready{0};
  std::vector<std::unique_ptr<counting_listener>> listeners;
  std::vector<std::unique_ptr<net::shard_connection>> conns;
  listeners.reserve(static_cast<std::size_t>(n));
  conns.reserve(static_cast<std::size_t>(n));
  malloc_trim(0);
  long before = rss_kib();
  for (int s = 0; s < n; ++s) {
    net::shard_config c;
    c.gateway_url = "ws://127.0.0.1:" + std::to_string(fc.port()) + "/";
    c.token = "bench";
    c.intents = 513;
    c.shard_id = s;
    c.shard_count = n;
    c.compress = o.compress;
    listeners.push_back(std::make_unique<counting_listener>());
    listeners.back()->ready = &ready;
    conns.push_back(std::make_unique<net::shard_connection>(io, c, *gate, *listeners.back()));
    conns.back()->start();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ready < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (ready < n) {
    std::cerr << "g-bench: only " << ready << " of " << n << " sessions became ready\n";
    return 1;
  }
  // Idle: READY and GUILD_CREATE bursts are over, and each connection has packed its inflater's window (after 10 s
  // without a message: zlib_stream_inflater::hibernate).
  std::this_thread::sleep_for(std::chrono::seconds(12));
  malloc_trim(0);
  long after = rss_kib();
  double per = static_cast<double>(after - before) / n;
  std::printf("| scenario | sessions | compress | RSS before | RSS after | per idle session |\n|---|---|---|---|---|---|\n");
  std::printf("| session memory | %d | %s | %.1f MiB | %.1f MiB | %.1f KiB |\n", n, o.compress.c_str(), before / 1024.0,
              after / 1024.0, per);
  conns.clear();
  work.reset();
  io.stop();
  t.join();
  return 0;
}

}  // namespace g::bench
