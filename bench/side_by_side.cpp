#include "bench/side_by_side.hpp"

#include <signal.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "bench/decode_throughput.hpp"
#include "bench/json_value.hpp"
#include "bench/proc_stats.hpp"
#include "bench/socket_floor.hpp"
#include "sim/harness/wait_until.hpp"
#include "net/clock.hpp"
#include "net/compression/zlib_stream.hpp"
#include "net/gateway/frame_scanner.hpp"
#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/fakecord_process.hpp"
#include "sim/harness/redis_process.hpp"

namespace g::bench {

namespace {

using namespace std::chrono;
constexpr const char* token = "bench-token";
constexpr const char* intents = "36611";  // everything g-fakecord generates: the same for every system

// One system under test with its own redis-server and g-fakecord.
struct stage {
  harness::redis_process redis;
  std::unique_ptr<harness::fakecord_process> fc;
  harness::child_process proc;
  std::string dir;
  int shards;
  steady_clock::time_point spawned;

  stage(const side_by_side_options& o, const std::string& system, int shard_count, int max_concurrency)
      : shards(shard_count) {
    fc = std::make_unique<harness::fakecord_process>(
        o.fakecord, std::vector<std::string>{"--guilds", std::to_string(std::max(shard_count * 50, 100)), "--shards",
                                             std::to_string(shard_count), "--max-concurrency", std::to_string(max_concurrency),
                                             "--token", token, "--members", "5", "--session-limit", "1000000"});
    dir = (std::filesystem::temp_directory_path() / ("g-bench-" + std::to_string(::getpid()) + "-" + std::to_string(redis.port())))
              .string();
    std::filesystem::create_directories(dir);
    const std::string rest = "http://127.0.0.1:" + std::to_string(fc->port()) + "/api";
    const std::string rport = std::to_string(redis.port());
    std::vector<std::string> argv;
    if (system == "g") {
      std::string cfg = dir + "/node.toml";
      std::ofstream(cfg) << "[node]\nname = \"g\"\nlisten = \"127.0.0.1:0\"\n"
                         << (o.io_threads > 0 ? "io_threads = " + std::to_string(o.io_threads) + "\n" : std::string())
                         << (o.io_batch_us >= 0 ? "io_batch_us = " + std::to_string(o.io_batch_us) + "\n" : std::string())
                         << "[discord]\ntoken = \"" << token
                         << "\"\nrest_url = \"" << rest << "\"\nshards = " << shard_count << "\nintents = " << intents
                         << "\n[redis]\nport = " << rport << "\n[http]\nlisten = \"127.0.0.1:" << harness::free_tcp_port()
                         << "\"\n[security]\ncookie = \"bench-cookie-0123456789\"\n";
      argv = {o.g_actor, "--config", cfg};
    } else {
      const bool js = system == "discord.js";
      argv = {js ? "node" : "/usr/bin/python3",
              o.source_dir + (js ? "/bench/peers/discordjs/peer.mjs" : "/bench/peers/discordpy/peer.py"),
              "--rest", rest, "--token", token, "--shards", std::to_string(shard_count), "--intents", intents,
              "--redis-port", rport, "--group", "g", "--name", system};
    }
    spawned = steady_clock::now();
    proc = harness::child_process(argv, dir + "/" + system + ".log");
  }
  ~stage() {
    proc.signal(SIGTERM);
    if (proc.wait(seconds(20)) < 0) proc.kill();
    std::filesystem::remove_all(dir);
  }
  bool ready(milliseconds timeout) {
    return harness::wait_until([&] { return json_int(fc->stats(), "/identifies") >= shards || !proc.running(); }, timeout) &&
           proc.running();
  }
  // Every accepted IDENTIFY's session started and every byte g-fakecord wrote taken by the kernel (the counters
  // only: the sessions' list is not needed, and polled at a thousand sessions it would busy g-fakecord).
  bool delivered() {
    const std::string st = fc->get("/_fakecord/stats?sessions=false");
    return json_int(st, "/session_starts_waiting") == 0 && json_int(st, "/backlog_bytes") == 0;
  }
  std::int64_t stream_added() {
    net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 2000});
    auto r = c.command({"XINFO", "STREAM", "g:g:events"});
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
      if (r.elements[i].text == "entries-added") return r.elements[i + 1].number;
    return 0;
  }
};

// Latency samples: the newest entry with a nonce (g-fakecord's send time, µs) against now, every 20 ms.
class latency_sampler {
 public:
  explicit latency_sampler(std::uint16_t redis_port)
      : thread_([this, redis_port] {
          net::redis_connection c({"127.0.0.1", redis_port, "", 0, 2000});
          while (!stop_) {
            auto r = c.command({"XREVRANGE", "g:g:events", "+", "-", "COUNT", "20"});
            const std::int64_t now = net::wall_us();
            for (auto& e : r.elements) {
              if (e.elements.size() != 2) continue;
              auto& f = e.elements[1].elements;
              bool found = false;
              for (std::size_t i = 0; i + 1 < f.size() && !found; i += 2) {
                if (f[i].text != "d") continue;
                auto at = f[i + 1].text.find("\"nonce\":\"");
                if (at == std::string::npos) continue;
                std::int64_t sent = std::strtoll(f[i + 1].text.c_str() + at + 9, nullptr, 10);
                if (sent > 0 && sent <= now) samples_.push_back(static_cast<double>(now - sent) / 1000.0);
                found = true;
              }
              if (found) break;
            }
            std::this_thread::sleep_for(milliseconds(20));
          }
        }) {}
  std::vector<double> finish() {
    stop_ = true;
    thread_.join();
    return samples_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<double> samples_;
  std::thread thread_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

std::string num(double v, int decimals = 0) {
  if (v < 0) return "-";
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

struct throughput_result {
  bool ran = false;
  std::string note;
  int sustained = 0;
  double cpu_per_million = -1, p50 = -1, p99 = -1;  // at the highest rate sustained
  std::map<int, double> cpu_per_million_at;          // every rate sustained
};

throughput_result measure_throughput(const side_by_side_options& o, const std::string& system) {
  throughput_result out;
  stage s(o, system, o.shards, o.shards);
  if (!s.ready(seconds(180))) {
    out.note = "not ready: " + s.proc.log().substr(0, 200);
    return out;
  }
  out.ran = true;
  std::this_thread::sleep_for(seconds(3));  // GUILD_CREATEs settle
  for (int rate : o.rates) {
    s.fc->post("/_fakecord/load", "{\"rate\":" + std::to_string(rate) + "}");
    std::this_thread::sleep_for(seconds(2));
    latency_sampler lat(s.redis.port());
    auto t0 = steady_clock::now();
    std::int64_t sent0 = json_int(s.fc->stats(), "/dispatches_sent"), added0 = s.stream_added();
    double cpu0 = cpu_seconds(s.proc.pid());
    std::this_thread::sleep_for(seconds(o.window_seconds));
    std::int64_t sent1 = json_int(s.fc->stats(), "/dispatches_sent"), added1 = s.stream_added();
    double cpu1 = cpu_seconds(s.proc.pid());
    double dt = duration<double>(steady_clock::now() - t0).count();
    auto samples = lat.finish();
    double in_rate = static_cast<double>(sent1 - sent0) / dt, out_rate = static_cast<double>(added1 - added0) / dt;
    double lag_growth = static_cast<double>((sent1 - added1) - (sent0 - added0));
    std::cerr << "g-bench: " << system << " at " << rate << "/s: sent " << num(in_rate) << "/s, stream " << num(out_rate)
              << "/s, CPU " << num(cpu1 - cpu0, 2) << " s, lag +" << num(lag_growth) << "\n";
    if (!s.proc.running()) {
      out.note = "exited at " + std::to_string(rate) + "/s";
      break;
    }
    if (in_rate < 0.9 * rate) {  // g-fakecord (one core) cannot send more: the limit is the simulator's
      out.note = "g-fakecord sent at most " + num(in_rate) + "/s";
      break;
    }
    bool kept_up = out_rate >= 0.97 * in_rate && lag_growth < 0.03 * in_rate * dt;
    if (!kept_up) break;
    out.sustained = rate;
    out.cpu_per_million = (cpu1 - cpu0) / static_cast<double>(std::max<std::int64_t>(1, added1 - added0)) * 1e6;
    out.cpu_per_million_at[rate] = out.cpu_per_million;
    out.p50 = percentile(samples, 0.5);
    out.p99 = percentile(samples, 0.99);
  }
  s.fc->post("/_fakecord/load", R"({"rate":0})");
  return out;
}

struct memory_result {
  bool ran = false;
  std::int64_t rss_kib = -1;
  std::string note;
};

memory_result measure_memory(const side_by_side_options& o, const std::string& system) {
  memory_result out;
  stage s(o, system, o.memory_shards, o.memory_shards);
  if (!s.ready(seconds(300))) {
    out.note = "not ready";
    return out;
  }
  // Idle: g-fakecord has sent every session's READY and GUILD_CREATEs (it starts sessions one at a time, so they
  // go on after the last IDENTIFY), and the RSS has settled: the system's idle work is done. G packs a connection's
  // inflater after 10 s without a message and returns freed memory every 10 s (malloc_trim); runtimes collect
  // garbage. A fixed 15 s measured G some runs before the return and some after (62 or 88 KiB per shard), so the
  // RSS is read every 5 s from 15 s on, until it changes by less than 1 % (at most 90 s).
  if (!harness::wait_until([&] { return s.delivered(); }, seconds(120))) {
    out.note = "g-fakecord did not deliver every session's start";
    return out;
  }
  std::this_thread::sleep_for(seconds(15));
  std::int64_t last = rss_kib(s.proc.pid());
  for (int waited = 15; waited < 90; waited += 5) {
    std::this_thread::sleep_for(seconds(5));
    const std::int64_t now = rss_kib(s.proc.pid());
    const bool settled = std::abs(now - last) * 100 < last;
    last = now;
    if (settled) break;
  }
  out.ran = true;
  out.rss_kib = last;
  return out;
}

struct cold_result {
  bool ran = false;
  double seconds_to_ready = -1;
  double seconds_to_first = -1;  // the first READY: the start-up's own share (config, Redis, /gateway/bot, election)
  std::int64_t violations = -1;
};

cold_result measure_cold_start(const side_by_side_options& o, const std::string& system) {
  cold_result out;
  stage s(o, system, o.cold_shards, o.cold_concurrency);
  double budget = std::ceil(static_cast<double>(o.cold_shards) / o.cold_concurrency) * 5 + 60;
  if (harness::wait_until([&] { return json_int(s.fc->stats(), "/identifies") >= 1 || !s.proc.running(); }, seconds(60)))
    out.seconds_to_first = duration<double>(steady_clock::now() - s.spawned).count();
  if (!s.ready(milliseconds(static_cast<std::int64_t>(budget * 1000)))) return out;
  out.ran = true;
  out.seconds_to_ready = duration<double>(steady_clock::now() - s.spawned).count();
  out.violations = json_sum(s.fc->stats(), "/violations");
  return out;
}

struct floor_result {
  double events_per_s = 0, cpu_per_million = 0;
  std::size_t events = 0;
};

// The median size of the recorded frames after the session's start (READY and GUILD_CREATEs are few and large).
int median_load_frame_bytes(const std::vector<std::string>& frames) {
  std::vector<std::size_t> sizes;
  for (std::size_t i = frames.size() / 2; i < frames.size(); ++i) sizes.push_back(frames[i].size());
  if (sizes.empty()) return 300;
  std::nth_element(sizes.begin(), sizes.begin() + static_cast<std::ptrdiff_t>(sizes.size() / 2), sizes.end());
  return static_cast<int>(std::max<std::size_t>(1, sizes[sizes.size() / 2]));
}

// inflate + scan + pipelined XADD of the same recorded bytes, in this process, against a private Redis.
floor_result measure_floor(const std::vector<std::string>& frames) {
  harness::redis_process redis;
  net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 10000});
  floor_result out;
  rusage r0{}, r1{};
  getrusage(RUSAGE_SELF, &r0);
  auto t0 = steady_clock::now();
  net::zlib_stream_inflater inf;
  net::frame_scanner sc;
  net::gateway_frame f;
  std::vector<std::vector<std::string>> owned;
  std::vector<std::vector<std::string_view>> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    c.pipeline(batch);
    batch.clear();
    owned.clear();
  };
  for (auto& fr : frames) {
    if (inf.feed(fr) != net::zlib_stream_inflater::status::message) continue;
    if (!sc.scan(inf.message().data(), inf.message().size(), inf.readable(), f) || f.op != 0) continue;
    owned.push_back({std::to_string(f.s), std::string(f.t), std::string(f.d), std::to_string(net::wall_ms())});
    auto& v = owned.back();
    batch.push_back({"XADD", "g:g:events", "MAXLEN", "~", "1000000", "*", "shard", "0", "seq", v[0], "t", v[1], "d", v[2],
                     "node", "floor", "ts", v[3]});
    ++out.events;
    if (batch.size() == 1000) flush();
  }
  flush();
  double wall = duration<double>(steady_clock::now() - t0).count();
  getrusage(RUSAGE_SELF, &r1);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) - secs(r0.ru_stime);
  out.events_per_s = static_cast<double>(out.events) / wall;
  out.cpu_per_million = cpu / static_cast<double>(std::max<std::size_t>(1, out.events)) * 1e6;
  return out;
}


std::string ratio(double g, double other) {
  if (g <= 0 || other <= 0) return "-";
  return num(g / other, 1) + "x";
}

}  // namespace

int run_side_by_side(const side_by_side_options& o) {
  std::ostream& out = std::cout;
  if (o.throughput) {
    std::map<std::string, throughput_result> r;
    for (auto& s : o.systems) r[s] = measure_throughput(o, s);
    // Efficiency compared at the same rate (CPU per event falls as batches grow): the highest rate every system
    // sustained, and each rate in the second table.
    int common = 0;
    for (int rate : o.rates) {
      bool all = true;
      for (auto& s : o.systems) all = all && r[s].cpu_per_million_at.count(rate);
      if (all) common = rate;
    }
    out << "## throughput: " << o.shards << " shards, zlib-stream, rates " << o.rates.front() << "…" << o.rates.back()
        << "/s, " << o.window_seconds << " s windows\n\n"
        << "| system | highest rate sustained | events per CPU-second there | latency p50 | latency p99 | events per CPU-second at "
        << common << "/s | G / this at " << common << "/s | note |\n"
        << "|---|---|---|---|---|---|---|---|\n";
    auto eff_at = [&](const std::string& sys, int rate) {
      auto it = r[sys].cpu_per_million_at.find(rate);
      return it == r[sys].cpu_per_million_at.end() || it->second <= 0 ? -1.0 : 1e6 / it->second;
    };
    double g_eff = r.count("g") && r["g"].cpu_per_million > 0 ? 1e6 / r["g"].cpu_per_million : -1;
    for (auto& s : o.systems) {
      auto& x = r[s];
      double eff = x.cpu_per_million > 0 ? 1e6 / x.cpu_per_million : -1;
      out << "| " << s << " | " << (x.sustained ? std::to_string(x.sustained) + "/s" : "-") << " | " << num(eff) << " | "
          << num(x.p50, 1) << " ms | " << num(x.p99, 1) << " ms | " << num(eff_at(s, common)) << " | "
          << (s == "g" ? "1.0x" : ratio(eff_at("g", common), eff_at(s, common))) << " | " << x.note << " |\n";
    }
    std::map<int, socket_floor_result> sockets_at;  // the socket floor at each rate, shaped like G's io threads
    socket_floor_options so = shaped_like_g(o.io_threads, o.io_batch_us);
    if (o.floor) {
      const auto frames = record_frames(o.fakecord, 60000);
      auto f = measure_floor(frames);
      out << "| floor: inflate + scan + pipelined XADD alone | " << num(f.events_per_s) << "/s | "
          << num(1e6 / f.cpu_per_million) << " | - | - | - | " << ratio(g_eff, 1e6 / f.cpu_per_million)
          << " (G at its highest rate) | " << f.events
          << " recorded events, this process only |\n";
      harness::redis_process redis;
      so.sockets = o.shards;
      so.frame_bytes = median_load_frame_bytes(frames);
      so.seconds = o.window_seconds;
      so.redis_port = redis.port();
      for (int rate : o.rates) {
        so.rate = rate;
        sockets_at[rate] = measure_socket_floor(so);
        std::cerr << "g-bench: socket floor at " << rate << "/s: " << num(sockets_at[rate].frames_per_s) << " frames/s, "
                  << num(sockets_at[rate].passes_per_s) << " passes/s, " << num(sockets_at[rate].cpu_per_million, 2)
                  << " CPU s per million" << (sockets_at[rate].error.empty() ? "" : " (" + sockets_at[rate].error + ")") << "\n";
      }
    }
    out << "\nCPU seconds per million events at each rate (the system's own process, from /proc):\n\n| rate |";
    for (auto& s : o.systems) out << " " << s << " |";
    if (o.floor) out << " socket floor |";
    out << "\n|---|";
    for (std::size_t i = 0; i < o.systems.size() + (o.floor ? 1 : 0); ++i) out << "---|";
    out << "\n";
    for (int rate : o.rates) {
      out << "| " << rate << "/s |";
      for (auto& s : o.systems) {
        auto it = r[s].cpu_per_million_at.find(rate);
        out << " " << (it == r[s].cpu_per_million_at.end() ? std::string("not sustained") : num(it->second, 2)) << " |";
      }
      if (o.floor) {
        const auto& f = sockets_at[rate];
        out << " " << (!f.error.empty() ? f.error : !f.kept_up(rate) ? "sender fell behind" : num(f.cpu_per_million, 2))
            << " |";
      }
      out << "\n";
    }
    if (o.floor)
      out << "\nSocket floor: " << so.sockets << " loopback sockets read by " << so.threads << " threads in passes of "
          << so.window_us << " µs (G's io threads and window), frames of " << so.frame_bytes
          << " bytes (the median recorded), one pipelined XADD per frame in one write to Redis per pass; no WebSocket, "
             "no inflate, no JSON: the least any client reading these sockets with that many threads and that window spends per "
             "event on this machine.\n";
    out << "\n";
  }
  if (o.memory) {
    std::map<std::string, memory_result> r;
    for (auto& s : o.systems) r[s] = measure_memory(o, s);
    out << "## memory: " << o.memory_shards << " connected idle shards\n\n"
        << "| system | RSS | per shard | this / G |\n|---|---|---|---|\n";
    for (auto& s : o.systems) {
      auto& x = r[s];
      double per = x.rss_kib > 0 ? static_cast<double>(x.rss_kib) / o.memory_shards : -1;
      out << "| " << s << " | " << (x.rss_kib > 0 ? num(static_cast<double>(x.rss_kib) / 1024, 1) + " MiB" : "-") << " | "
          << (per > 0 ? num(per, 1) + " KiB" : "-") << " | "
          << (r["g"].rss_kib > 0 && x.rss_kib > 0 ? ratio(static_cast<double>(x.rss_kib), static_cast<double>(r["g"].rss_kib)) : "-")
          << (x.note.empty() ? "" : " (" + x.note + ")") << " |\n";
    }
    out << "\n";
  }
  if (o.cold_start) {
    double floor = std::ceil(static_cast<double>(o.cold_shards) / o.cold_concurrency) * 5;
    // The last of ceil(S/C) rounds of IDENTIFY can come no earlier than (rounds - 1) x 5 s after the first.
    const double last_round = floor - 5;
    out << "## cold start: " << o.cold_shards << " shards, max_concurrency " << o.cold_concurrency
        << " (the last round of IDENTIFY can start no earlier than " << num(last_round) << " s = (ceil(S/C) - 1) x 5 s)\n\n"
        << "| system | first READY after | all READY after | all READY beyond " << num(last_round) << " s | identify violations |\n"
        << "|---|---|---|---|---|\n";
    for (auto& s : o.systems) {
      auto x = measure_cold_start(o, s);
      out << "| " << s << " | " << (x.seconds_to_first >= 0 ? num(x.seconds_to_first, 2) + " s" : "-") << " | "
          << (x.ran ? num(x.seconds_to_ready, 2) + " s" : "not ready") << " | "
          << (x.ran ? num(x.seconds_to_ready - last_round, 2) + " s" : "-") << " | "
          << (x.ran ? std::to_string(x.violations) : "-") << " |\n";
    }
    out << "\n";
  }
  return 0;
}

}  // namespace g::bench
