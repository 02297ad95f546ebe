#include "bench/fakecord_throughput.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"
#include "sim/harness/fakecord_process.hpp"
#include "net/clock.hpp"

namespace g::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

using net::steady_ms;
using net::wall_ms;
using net::wall_us;

// CPU seconds (user + system) a process has used so far, from /proc.
double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(f)), {});
  auto close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(content.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::int64_t stat_field(const std::string& json, std::string_view key) {
  auto k = json.find("\"" + std::string(key) + "\":");
  if (k == std::string::npos) return -1;
  return std::stoll(json.substr(k + key.size() + 3));
}

// One receiving shard: counts messages and measures nonce latency of MESSAGE_CREATE. No JSON parsing beyond
// finding the nonce: the receiving side must stay cheaper than the sender.
struct shard_reader : std::enable_shared_from_this<shard_reader> {
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::unique_ptr<net::zlib_stream_inflater> zlib;
  std::unique_ptr<net::zstd_stream_decompressor> zstd;
  int shard, shards;
  std::uint64_t messages = 0, dispatches = 0;
  bool ready = false, failed = false;
  bool measuring = false;
  std::vector<std::int64_t>* latencies = nullptr;

  shard_reader(asio::io_context& io, int shard, int shards) : ws(io), shard(shard), shards(shards) {}

  void start(std::uint16_t port, const std::string& compress) {
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::string target = "/?v=10&encoding=json";
    if (compress != "none") target += "&compress=" + compress;
    ws.handshake("127.0.0.1", target);
    if (compress == "zlib-stream") zlib = std::make_unique<net::zlib_stream_inflater>();
    if (compress == "zstd-stream") zstd = std::make_unique<net::zstd_stream_decompressor>();
    read();
  }

  void read() {
    ws.async_read(buf, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->failed = true;
        return;
      }
      self->on_frame();
      self->read();
    });
  }

  void on_frame() {
    auto d = buf.data();
    std::string_view frame(static_cast<const char*>(d.data()), d.size());
    std::string_view msg = frame;
    if (zlib) {
      if (zlib->feed(frame) != net::zlib_stream_inflater::status::message) {
        buf.consume(buf.size());
        return;
      }
      msg = zlib->message();
    } else if (zstd) {
      if (!zstd->feed(frame)) failed = true;
      msg = zstd->message();
    }
    ++messages;
    if (messages == 1) {  // HELLO: identify at once (g-fakecord runs with max_concurrency = shards)
      std::string identify = R"({"op":2,"d":{"token":"bench","intents":36739,"properties":{"os":"linux","browser":"g-bench","device":"g-bench"},"shard":[)" +
                             std::to_string(shard) + "," + std::to_string(shards) + "]}}";
      ws.text(true);
      ws.write(asio::buffer(identify));
    } else if (msg.substr(0, 20).find("\"t\":\"") != std::string_view::npos) {
      ++dispatches;
      if (!ready && msg.find("\"t\":\"READY\"") != std::string_view::npos) ready = true;
      if (measuring && msg.size() > 200) {
        auto n = msg.rfind("\"nonce\":\"");
        if (n != std::string_view::npos) {
          std::int64_t sent = 0;
          for (std::size_t i = n + 9; i < msg.size() && msg[i] >= '0' && msg[i] <= '9'; ++i) sent = sent * 10 + (msg[i] - '0');
          if (sent > 0 && (dispatches & 15) == 0) latencies->push_back(wall_us() - sent);
        }
      }
    }
    buf.consume(buf.size());
  }
};

double percentile(std::vector<std::int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))]);
}

}  // namespace

int run_fakecord_throughput(const fakecord_throughput_options& o) {
  std::vector<std::string> args = {"--guilds", std::to_string(o.shards * 10), "--shards", std::to_string(o.shards),
                                   "--max-concurrency", std::to_string(o.shards), "--members", "10"};
  args.insert(args.end(), o.fakecord_args.begin(), o.fakecord_args.end());
  harness::fakecord_process fc(o.fakecord, args);
  if (o.fakecord_cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.fakecord_cpu, &set);
    sched_setaffinity(fc.pid(), sizeof set, &set);
  }
  pin_to(o.client_cpu);
  asio::io_context io(1);
  std::vector<std::shared_ptr<shard_reader>> readers;
  std::vector<std::int64_t> latencies;
  latencies.reserve(1 << 20);
  for (int s = 0; s < o.shards; ++s) {
    auto r = std::make_shared<shard_reader>(io, s, o.shards);
    r->latencies = &latencies;
    r->start(fc.port(), o.compress);
    readers.push_back(r);
  }
  auto run_for = [&](std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) io.run_for(std::chrono::milliseconds(50));
  };
  auto all = [&](auto pred) { return std::all_of(readers.begin(), readers.end(), [&](auto& r) { return pred(*r); }); };
  for (int i = 0; i < 200 && !all([](auto& r) { return r.ready; }); ++i) run_for(std::chrono::milliseconds(50));
  if (!all([](auto& r) { return r.ready && !r.failed; })) {
    std::cerr << "g-bench: not every shard became ready\n";
    return 1;
  }
  fc.post("/_fakecord/load", "{\"rate\":" + std::to_string(o.rate) + "}");
  run_for(std::chrono::seconds(o.warmup_seconds));
  for (auto& r : readers) r->measuring = true;
  auto count = [&] {
    std::uint64_t n = 0;
    for (auto& r : readers) n += r->dispatches;
    return n;
  };
  std::string s0 = fc.stats();
  double cpu0 = cpu_seconds(fc.pid());
  std::uint64_t got0 = count();
  auto t0 = std::chrono::steady_clock::now();
  run_for(std::chrono::seconds(o.seconds));
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string s1 = fc.stats();
  double cpu1 = cpu_seconds(fc.pid());
  std::uint64_t got1 = count();
  fc.post("/_fakecord/load", R"({"rate":0})");
  for (auto& r : readers) r->measuring = false;

  double sent_rate = static_cast<double>(stat_field(s1, "dispatches_sent") - stat_field(s0, "dispatches_sent")) / elapsed;
  double recv_rate = static_cast<double>(got1 - got0) / elapsed;
  double mbps = static_cast<double>(stat_field(s1, "bytes_sent") - stat_field(s0, "bytes_sent")) / elapsed / 1e6;
  double cpu = (cpu1 - cpu0) / elapsed;
  std::printf("| scenario | shards | compress | requested/s | sent/s | received/s | JSON MB/s | fakecord CPU | p50 ms | p99 ms |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::printf("| fakecord throughput | %d | %s | %.0f | %.0f | %.0f | %.1f | %.0f%% | %.1f | %.1f |\n", o.shards,
              o.compress.c_str(), o.rate, sent_rate, recv_rate, mbps, cpu * 100, percentile(latencies, 0.5) / 1000.0,
              percentile(latencies, 0.99) / 1000.0);
  return 0;
}

}  // namespace g::bench
