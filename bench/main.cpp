// g-bench: G's benchmarks. Each scenario starts what it needs and stops it afterwards.
#include <unistd.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "bench/cache_worker_bench.hpp"
#include "bench/proxy_bench.hpp"
#include "bench/decode_throughput.hpp"
#include "bench/all_scenarios.hpp"
#include "bench/failover.hpp"
#include "bench/scale.hpp"
#include "bench/nemesis.hpp"
#include "bench/side_by_side.hpp"
#include "bench/fakecord_throughput.hpp"
#include "bench/session_memory.hpp"
#include "bench/socket_floor.hpp"
#include "net/redis/redis_connection.hpp"
#include "sim/harness/redis_process.hpp"
#include "sim/harness/wait_until.hpp"

namespace {

std::string sibling_binary(const char* name) {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / name).string();
}

const char* usage = R"(g-bench: G's benchmarks

Usage: g-bench SCENARIO [options]

Scenarios:
  fakecord     dispatches/s g-fakecord sustains to many shards
               --shards N (100) --compress zlib-stream|zstd-stream|none (zlib-stream) --rate N (150000)
               --seconds N (10) --fakecord-cpu N (0; -1 = unpinned) --client-cpu N (1; -1 = unpinned)
               -- ARGS...  extra g-fakecord options (e.g. --zlib-level 6; g-fakecord --help lists them)

  decode       the shard session's inflate + scan against the floor (zlib inflate + simdjson parse alone)
               --frames N (100000)
  sessions     memory per idle connected shard session
               --sessions N (1000) --compress zlib-stream|zstd-stream|none (zlib-stream)
  failover     kill -9 of a node of a 3-node cluster under load, repeated: time to the last shard RESUMED
               --kills N (10) --shards N (12) --rate N (500)
  scale        thousands of shards. Part A, one node: spawn → every shard READY, the node's CPU and RSS in a steady
               window, heartbeats on time (at g-fakecord), zombie closes, kill -9 and restart → last RESUMED.
               Part B, several nodes: kill -9 of a worker, repeated: p50/p99/max → last RESUMED, lost, duplicated,
               IDENTIFYs. Exit 1 when a hard condition fails (a zombie close, a shard not RESUMED, a gap/duplicate)
               --shards-one N (2500) --shards-many N (10000) --nodes N (4) --kills N (3) --rate N (2000)
               --guilds-per-shard N (10) --window S (45) --bound S (60) --max-moves N (64; the node's is 2)
               --lease-ms N (the node's default, 5000): [cluster] lease_ms for every node
               --only one|many
  nemesis      three nodes in network namespaces (root) under load, a random schedule of faults (kill -9,
               SIGSTOP, link cut, node-node cut, node-Redis cut, Redis restart, Sentinel failover, g-fakecord
               op 7 / op 9 / zombie / drop), each printed with its recovery time; then the oracle (no gap, no
               duplicate, tail complete, identifies only for op 9, no violation). Exit 0 pass, 1 fail, 77 no root
               --minutes N (10) --seconds N --seed N (1) --shards N (12) --rate N (800) --bound S (30)
               --slow S (0: off): a recovery slower than S seconds prints the nodes' logs since its fault
  compare      G beside @discordjs/ws and discord.py (bench/peers/) on the same load: throughput (highest rate
               sustained, events per CPU-second, latency), memory per idle shard, cold start; plus the floor
               --systems g,discord.js,discord.py --shards N (16) --rates 2000,5000,... --window N (5)
               --memory-shards N (1000) --cold-shards N (64) --cold-concurrency N (16)
               --io-threads N --io-batch-us N (G's [node] settings; default: G's defaults)
               --only throughput|memory|cold-start
  sockets      the socket floor: what reading loopback sockets and writing each frame to Redis cost per frame,
               with no WebSocket, inflate or JSON (bench/socket_floor.hpp); the least a gateway client of that
               shape spends per event here. Exit 1 when the sender or the readers fell behind or failed
               --rate N (2000) --sockets N (16) --threads N (one per core) --window-us N (G's io_batch_us default)
               --frame-bytes N (100) --seconds N (5)
  cache        g-cache: events applied per CPU-second, Redis bytes per cached member and guild, lag commit → applied
               --events N (200000) --rate N (10000) --seconds N (10) --members N (100000)
  proxy        the proxy (docs/proxy.md): an @discordjs/ws bot's connect → last GUILD_CREATE through it and directly
               at g-fakecord; node CPU per event per bot connection; node memory per idle bot connection
               --shards N (16) --guilds N (5000) --connections N (320) --rate N (1000) --seconds N (10)
  all          every scenario above in turn; the tables also go to bench/results/latest.md with the date,
               the machine and the versions

Prints a Markdown table on stdout.
)";

// A scenario's options come in pairs (--name value); each pair goes to `take`, which throws on a bad one.
template <class Take>
void for_each_option(const std::vector<std::string>& args, Take take) {
  for (std::size_t i = 1; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) throw std::invalid_argument("option " + args[i] + " needs a value");
    take(args[i], args[i + 1]);
  }
}

int bad_usage(const std::exception& e) {
  std::cerr << "g-bench: " << e.what() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string scenario = args[0];
  if (scenario == "decode" || scenario == "sessions") {
    try {
      g::bench::decode_options d;
      g::bench::session_memory_options m;
      d.fakecord = m.fakecord = sibling_binary("g-fakecord");
      for_each_option(args, [&](const std::string& a, const std::string& v) {
        if (a == "--frames" && scenario == "decode") d.frames = std::stoi(v);
        else if (a == "--sessions" && scenario == "sessions") m.sessions = std::stoi(v);
        else if (a == "--compress" && scenario == "sessions") m.compress = v;
        else throw std::invalid_argument("unknown option " + a + " for " + scenario);
      });
      return scenario == "decode" ? g::bench::run_decode_throughput(d) : g::bench::run_session_memory(m);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "sockets") {
    try {
      g::bench::socket_floor_options o = g::bench::shaped_like_g(0, -1);
      o.frame_bytes = 100;
      for_each_option(args, [&](const std::string& a, const std::string& text) {
        const int v = std::stoi(text);
        if (v < (a == "--window-us" ? 0 : 1)) throw std::invalid_argument(a + " is out of range");
        if (a == "--rate") o.rate = v;
        else if (a == "--sockets") o.sockets = v;
        else if (a == "--threads") o.threads = v;
        else if (a == "--window-us") o.window_us = v;
        else if (a == "--frame-bytes") o.frame_bytes = v;
        else if (a == "--seconds") o.seconds = v;
        else throw std::invalid_argument("unknown option " + a + " for sockets");
      });
      g::harness::redis_process redis;
      o.redis_port = redis.port();
      const auto r = g::bench::measure_socket_floor(o);
      if (!r.error.empty()) {
        std::cerr << "g-bench: socket floor: " << r.error << "\n";
        return 1;
      }
      std::cout << "| rate | sockets | threads | window | frame | frames/s read | passes/s | CPU µs per frame |\n"
                << "|---|---|---|---|---|---|---|---|\n| " << o.rate << "/s | " << o.sockets << " | " << o.threads << " | "
                << o.window_us << " µs | " << o.frame_bytes << " B | " << static_cast<long>(r.frames_per_s) << " | "
                << static_cast<long>(r.passes_per_s) << " | " << std::fixed << std::setprecision(2) << r.cpu_per_million << " |\n";
      if (!r.kept_up(o.rate)) {
        std::cerr << "g-bench: socket floor: read " << r.frames_per_s << " frames/s of " << o.rate << "/s\n";
        return 1;
      }
      // Every frame read went to Redis (the readers' last writes may still be on their way: up to 2 s).
      g::net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 2000});
      g::net::redis_reply len;
      g::harness::wait_until([&] { return (len = c.command({"XLEN", "socketfloor"})).number == r.frames_total; },
                             std::chrono::seconds(2));
      if (len.number != r.frames_total) {
        std::cerr << "g-bench: socket floor: read " << r.frames_total << " frames, Redis holds " << len.number << "\n";
        return 1;
      }
      return 0;
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "cache") {
    try {
      g::bench::cache_bench_options o;
      o.g_cache = sibling_binary("g-cache");
      for_each_option(args, [&](const std::string& a, const std::string& text) {
        const int v = std::stoi(text);
        if (v <= 0) throw std::invalid_argument(a + " must be greater than 0");
        if (a == "--events") o.events = v;
        else if (a == "--rate") o.rate = v;
        else if (a == "--seconds") o.seconds = v;
        else if (a == "--members") o.members = v;
        else throw std::invalid_argument("unknown option " + a + " for cache");
      });
      return g::bench::run_cache_bench(o);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "proxy") {
    try {
      g::bench::proxy_bench_options o;
      o.g_actor = sibling_binary("g-actor");
      o.g_cache = sibling_binary("g-cache");
      o.fakecord = sibling_binary("g-fakecord");
      o.source_dir = G_SOURCE_DIR;
      for_each_option(args, [&](const std::string& a, const std::string& text) {
        const int v = std::stoi(text);
        if (v <= 0) throw std::invalid_argument(a + " must be greater than 0");
        if (a == "--shards") o.shards = v;
        else if (a == "--guilds") o.guilds = v;
        else if (a == "--connections") o.connections = v;
        else if (a == "--rate") o.rate = v;
        else if (a == "--seconds") o.seconds = v;
        else throw std::invalid_argument("unknown option " + a + " for proxy");
      });
      return g::bench::run_proxy_bench(o);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "compare") {
    try {
      g::bench::side_by_side_options c;
      c.g_actor = sibling_binary("g-actor");
      c.fakecord = sibling_binary("g-fakecord");
      c.source_dir = G_SOURCE_DIR;
      auto list = [](const std::string& v) {
        std::vector<std::string> out;
        std::string item;
        for (char ch : v + ",") {
          if (ch != ',') item += ch;
          else if (!item.empty()) out.push_back(std::move(item)), item.clear();
        }
        return out;
      };
      for_each_option(args, [&](const std::string& a, const std::string& v) {
        if (a == "--systems") c.systems = list(v);
        else if (a == "--shards") c.shards = std::stoi(v);
        else if (a == "--rates") {
          c.rates.clear();
          for (auto& r : list(v)) c.rates.push_back(std::stoi(r));
        } else if (a == "--window") c.window_seconds = std::stoi(v);
        else if (a == "--memory-shards") c.memory_shards = std::stoi(v);
        else if (a == "--cold-shards") c.cold_shards = std::stoi(v);
        else if (a == "--cold-concurrency") c.cold_concurrency = std::stoi(v);
        else if (a == "--io-threads") c.io_threads = std::stoi(v);
        else if (a == "--io-batch-us") c.io_batch_us = std::stoi(v);
        else if (a == "--only") {
          c.throughput = v == "throughput";
          c.floor = c.throughput;
          c.memory = v == "memory";
          c.cold_start = v == "cold-start";
          if (!c.throughput && !c.memory && !c.cold_start) throw std::invalid_argument("--only takes throughput, memory or cold-start");
        } else throw std::invalid_argument("unknown option " + a + " for compare");
      });
      for (auto& sys : c.systems)
        if (sys != "g" && sys != "discord.js" && sys != "discord.py") throw std::invalid_argument("unknown system " + sys);
      if (c.rates.empty() || c.shards < 1) throw std::invalid_argument("need --rates and --shards >= 1");
      return g::bench::run_side_by_side(c);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "all") return g::bench::run_all(sibling_binary("g-bench"), G_SOURCE_DIR, {args.begin() + 1, args.end()});
  if (scenario == "nemesis") {
    try {
      g::bench::nemesis_options n;
      n.g_actor = sibling_binary("g-actor");
      n.fakecord = sibling_binary("g-fakecord");
      for_each_option(args, [&](const std::string& a, const std::string& v) {
        if (a == "--minutes") n.seconds = std::stod(v) * 60;
        else if (a == "--seconds") n.seconds = std::stod(v);
        else if (a == "--seed") n.seed = static_cast<unsigned>(std::stoul(v));
        else if (a == "--shards") n.shards = std::stoi(v);
        else if (a == "--rate") n.rate = std::stoi(v);
        else if (a == "--bound") n.recovery_bound_s = std::stod(v);
        else if (a == "--slow") n.slow_s = std::stod(v);
        else throw std::invalid_argument("unknown option " + a + " for nemesis");
      });
      if (n.seconds <= 0 || n.shards < n.nodes || n.recovery_bound_s <= 0)
        throw std::invalid_argument("need a positive duration and bound, and --shards >= 3");
      return g::bench::run_nemesis(n);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "scale") {
    try {
      g::bench::scale_options o;
      o.g_actor = sibling_binary("g-actor");
      o.fakecord = sibling_binary("g-fakecord");
      for_each_option(args, [&](const std::string& a, const std::string& v) {
        if (a == "--only") {
          o.part_one = v == "one";
          o.part_many = v == "many";
          if (!o.part_one && !o.part_many) throw std::invalid_argument("--only takes one or many");
          return;
        }
        const int n = std::stoi(v);
        if (n < 1) throw std::invalid_argument(a + " must be at least 1");
        if (a == "--shards-one") o.shards_one = n;
        else if (a == "--shards-many") o.shards_many = n;
        else if (a == "--nodes") o.nodes = n;
        else if (a == "--kills") o.kills = n;
        else if (a == "--rate") o.rate = n;
        else if (a == "--guilds-per-shard") o.guilds_per_shard = n;
        else if (a == "--window") o.window_seconds = n;
        else if (a == "--bound") o.bound_seconds = n;
        else if (a == "--max-moves") o.max_moves = n;
        else if (a == "--lease-ms") o.lease_ms = n;
        else throw std::invalid_argument("unknown option " + a + " for scale");
      });
      if (o.nodes < 2 || o.shards_many < o.nodes) throw std::invalid_argument("need --nodes >= 2 and --shards-many >= --nodes");
      if (o.nodes > 26) throw std::invalid_argument("--nodes is at most 26 (nodes are named a to z)");
      return g::bench::run_scale(o);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario == "failover") {
    try {
      g::bench::failover_options f;
      f.g_actor = sibling_binary("g-actor");
      f.fakecord = sibling_binary("g-fakecord");
      for_each_option(args, [&](const std::string& a, const std::string& v) {
        if (a == "--kills") f.kills = std::stoi(v);
        else if (a == "--shards") f.shards = std::stoi(v);
        else if (a == "--rate") f.rate = std::stoi(v);
        else throw std::invalid_argument("unknown option " + a + " for failover");
      });
      if (f.kills < 1 || f.shards < f.nodes) throw std::invalid_argument("need --kills >= 1 and --shards >= 3");
      return g::bench::run_failover(f);
    } catch (const std::exception& e) {
      return bad_usage(e);
    }
  }
  if (scenario != "fakecord") {
    std::cerr << "g-bench: unknown scenario '" << scenario << "' (see --help)\n";
    return 2;
  }
  g::bench::fakecord_throughput_options o;
  o.fakecord = sibling_binary("g-fakecord");
  try {
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--") {
        o.fakecord_args.assign(args.begin() + static_cast<long>(i) + 1, args.end());
        break;
      }
      if (i + 1 >= args.size()) throw std::invalid_argument("option " + a + " needs a value");
      const std::string& v = args[++i];
      if (a == "--shards") o.shards = std::stoi(v);
      else if (a == "--compress") o.compress = v;
      else if (a == "--rate") o.rate = std::stod(v);
      else if (a == "--seconds") o.seconds = std::stoi(v);
      else if (a == "--fakecord-cpu") o.fakecord_cpu = std::stoi(v);
      else if (a == "--client-cpu") o.client_cpu = std::stoi(v);
      else throw std::invalid_argument("unknown option " + a);
    }
    if (o.compress != "zlib-stream" && o.compress != "zstd-stream" && o.compress != "none")
      throw std::invalid_argument("--compress must be zlib-stream, zstd-stream or none");
    if (o.shards < 1 || o.seconds < 1 || o.rate <= 0) throw std::invalid_argument("--shards, --seconds and --rate must be positive");
    return g::bench::run_fakecord_throughput(o);
  } catch (const std::exception& e) {
    return bad_usage(e);
  }
}
