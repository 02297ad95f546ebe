#include "bench/cache_worker_bench.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/proc_stats.hpp"
#include "net/redis/redis_connection.hpp"
#include "sim/harness/child_process.hpp"
#include "sim/harness/redis_process.hpp"
#include "sim/harness/wait_until.hpp"

namespace g::bench {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int shards = 16, guilds = 160;

std::string gid(int g) { return std::to_string(81000000000000000ULL + static_cast<unsigned>(g) * 4194304ULL); }
std::string uid(int g, int m) { return std::to_string(90000000000000000ULL + static_cast<unsigned>(g) * 1000000ULL + static_cast<unsigned>(m)); }

std::string member_json(int g, int m, int version) {
  return R"({"user":{"id":")" + uid(g, m) + R"(","username":"user_)" + std::to_string(m) +
         R"(","discriminator":"0","global_name":null,"avatar":null},"roles":[")" + gid(g) + R"("],"nick":)" +
         (version ? "\"nick " + std::to_string(version) + "\"" : "null") +
         R"(,"avatar":null,"joined_at":"2024-01-01T00:00:00.000000+00:00","premium_since":null,"deaf":false,"mute":false,"flags":0,"pending":false})";
}

std::string guild_create(int g, int members) {
  std::string d = R"({"id":")" + gid(g) + R"(","name":"Guild )" + std::to_string(g) +
                  R"(","icon":null,"owner_id":"1","afk_timeout":300,"features":[],"joined_at":"2024-01-01T00:00:00.000000+00:00","large":false,"unavailable":false,"member_count":)" +
                  std::to_string(members) + R"(,"roles":[{"id":")" + gid(g) +
                  R"(","name":"@everyone","permissions":"1071698660929","position":0,"color":0,"hoist":false,"managed":false,"mentionable":false,"flags":0}],"channels":[)";
  for (int c = 0; c < 5; ++c)
    d += std::string(c ? "," : "") + R"({"id":")" + std::to_string(82000000000000000ULL + static_cast<unsigned>(g) * 100 + static_cast<unsigned>(c)) +
         R"(","type":0,"name":"channel-)" + std::to_string(c) + R"(","position":)" + std::to_string(c) +
         R"(,"parent_id":null,"permission_overwrites":[],"nsfw":false,"topic":null})";
  return d + R"(],"members":[],"threads":[],"voice_states":[],"emojis":[],"stickers":[],"presences":[]})";
}

// Writes entries as G's commit script does: per shard, seq counting up and prev naming the previous entry.
struct stream_writer {
  net::redis_connection& c;
  std::map<int, std::string> last;
  std::map<int, long long> seq;
  std::vector<std::vector<std::string>> pending;
  long long last_ms = 0, n = 0;
  // Ids chosen here (wall-clock milliseconds, then a counter), so that a pipelined batch can chain them.
  void add(int shard, const std::string& t, std::string d) {
    long long now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (now <= last_ms) ++n;
    else last_ms = now, n = 0;
    std::string id = std::to_string(last_ms) + "-" + std::to_string(n);
    std::string prev = last.count(shard) ? last[shard] : "0-0";
    last[shard] = id;
    pending.push_back({"XADD", "g:g:events", id, "shard", std::to_string(shard), "seq", std::to_string(++seq[shard]), "t", t,
                       "d", std::move(d), "node", "bench", "ts", "0", "prev", prev});
  }
  void flush() {
    std::vector<std::vector<std::string_view>> cmds;
    for (auto& p : pending) cmds.emplace_back(p.begin(), p.end());
    c.pipeline(cmds);
    pending.clear();
  }
};

std::string config(const std::filesystem::path& dir, std::uint16_t redis_port) {
  auto path = dir / "cache.toml";
  std::ofstream f(path);
  f << "[redis]\nport = " << redis_port << "\n[cache]\nconsumer = \"bench\"\n";  // g-cache needs no token or cookie
  return path.string();
}

bool applied_through(net::redis_connection& c, const std::map<int, std::string>& last) {
  for (auto& [shard, id] : last)
    if (c.command({"HGET", "g:g:cache:applied_id", std::to_string(shard)}).text != id) return false;
  return true;
}

std::pair<long long, long long> split_id(const std::string& id) {
  auto dash = id.find('-');
  return {std::atoll(id.c_str()), dash == std::string::npos ? 0 : std::atoll(id.c_str() + dash + 1)};
}

}  // namespace

int run_cache_bench(const cache_bench_options& o) {
  auto dir = std::filesystem::temp_directory_path() / ("g-bench-cache-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::printf("| measure | value |\n|---|---|\n");

  {  // Throughput: the stream written first, then g-cache applies it all.
    harness::redis_process redis;
    net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 10000});
    stream_writer w{c, {}, {}, {}};
    for (int g = 0; g < guilds; ++g) w.add(g % shards, "GUILD_CREATE", guild_create(g, 0));
    std::uint64_t r = 7;
    for (int i = 0; i < o.events; ++i) {
      r = r * 6364136223846793005ULL + 1442695040888963407ULL;
      int g = static_cast<int>((r >> 20) % guilds), m = static_cast<int>((r >> 40) % 1000), kind = static_cast<int>((r >> 33) % 10);
      if (kind < 7) w.add(g % shards, "MESSAGE_CREATE", R"({"id":")" + std::to_string(i) + R"(","guild_id":")" + gid(g) + R"(","content":"hello there"})");
      else if (kind < 9) w.add(g % shards, "GUILD_MEMBER_UPDATE", R"({"guild_id":")" + gid(g) + "\"," + member_json(g, m, i).substr(1));
      else w.add(g % shards, "GUILD_MEMBER_ADD", R"({"guild_id":")" + gid(g) + "\"," + member_json(g, m, 0).substr(1));
      if (w.pending.size() >= 1000) w.flush();
    }
    w.flush();
    auto start = clock_type::now();
    harness::child_process cache({o.g_cache, "--config", config(dir, redis.port())}, (dir / "cache.log").string());
    double redis_cpu0 = cpu_seconds(redis.pid());
    bool done = harness::wait_until([&] { return applied_through(c, w.last); }, std::chrono::minutes(5), std::chrono::milliseconds(20));
    double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    double cpu = cpu_seconds(cache.pid()), redis_cpu = cpu_seconds(redis.pid()) - redis_cpu0;
    int total = o.events + guilds;
    std::printf("| events applied (70 %% MESSAGE_CREATE, 20 %% GUILD_MEMBER_UPDATE, 10 %% GUILD_MEMBER_ADD) | %d%s |\n", total,
                done ? "" : " (NOT all within 5 min)");
    std::printf("| wall time | %.2f s (%.0f events/s) |\n", secs, total / secs);
    std::printf("| events applied per CPU-second of g-cache | %.0f |\n", total / std::max(cpu, 1e-9));
    std::printf("| Redis CPU per event (the apply script) | %.1f us |\n", redis_cpu * 1e6 / total);
    cache.signal(SIGTERM);
    cache.wait(std::chrono::seconds(10));
  }

  {  // Memory: one guild of o.members members, by chunks of 1,000.
    harness::redis_process redis;
    net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 10000});
    stream_writer w{c, {}, {}, {}};
    w.add(0, "GUILD_CREATE", guild_create(0, o.members));
    for (int m = 0; m < o.members; m += 1000) {
      std::string d = R"({"guild_id":")" + gid(0) + R"(","members":[)";
      for (int k = m; k < std::min(o.members, m + 1000); ++k) d += (k > m ? "," : "") + member_json(0, k, 0);
      w.add(0, "GUILD_MEMBERS_CHUNK", d + R"(],"chunk_index":0,"chunk_count":1})");
      if (w.pending.size() >= 10) w.flush();
    }
    w.flush();
    harness::child_process cache({o.g_cache, "--config", config(dir, redis.port())}, (dir / "cache.log").string());
    harness::wait_until([&] { return applied_through(c, w.last); }, std::chrono::minutes(5), std::chrono::milliseconds(50));
    auto usage = [&](const std::string& key) { return c.command({"MEMORY", "USAGE", "g:g:cache:guild:" + gid(0) + key, "SAMPLES", "0"}).number; };
    long long members = usage(":members");
    long long guild = usage("") + usage(":channels") + usage(":roles");
    std::printf("| Redis bytes per cached member (%d members, MEMORY USAGE of the hash) | %.0f |\n", o.members,
                static_cast<double>(members) / o.members);
    std::printf("| Redis bytes per guild without members (guild, 5 channels, 1 role) | %lld |\n", guild);
    cache.signal(SIGTERM);
    cache.wait(std::chrono::seconds(10));
  }

  {  // Lag: entries written at o.rate/s while g-cache runs; for each entry, when the marker passed it.
    harness::redis_process redis;
    net::redis_connection c({"127.0.0.1", redis.port(), "", 0, 10000});
    net::redis_connection poll({"127.0.0.1", redis.port(), "", 0, 10000});
    stream_writer w{c, {}, {}, {}};
    for (int g = 0; g < guilds; ++g) w.add(g % shards, "GUILD_CREATE", guild_create(g, 0));
    w.flush();
    harness::child_process cache({o.g_cache, "--config", config(dir, redis.port())}, (dir / "cache.log").string());
    harness::wait_until([&] { return applied_through(c, w.last); }, std::chrono::seconds(30));
    double cpu0 = cpu_seconds(cache.pid());
    // Every entry written, per shard, until the shard's marker passes it: then its lag is the time the marker was
    // seen past it minus the entry's stream time (its id's milliseconds, chosen when it was written).
    std::mutex mu;
    std::map<int, std::deque<std::pair<long long, long long>>> unapplied;  // shard → (ms, n) of each id
    std::atomic<bool> writing{true};
    std::thread writer([&] {
      auto start = clock_type::now();
      long long sent = 0;
      std::uint64_t r = 11;
      while (clock_type::now() - start < std::chrono::seconds(o.seconds)) {
        long long owed = static_cast<long long>(std::chrono::duration<double>(clock_type::now() - start).count() * o.rate);
        for (; sent < owed; ++sent) {
          r = r * 6364136223846793005ULL + 1442695040888963407ULL;
          int g = static_cast<int>((r >> 20) % guilds);
          w.add(g % shards, "GUILD_MEMBER_UPDATE", R"({"guild_id":")" + gid(g) + "\"," + member_json(g, static_cast<int>(sent % 1000), 1).substr(1));
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          for (auto& p : w.pending) unapplied[std::stoi(p[4])].push_back(split_id(p[2]));
        }
        w.flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      writing = false;
    });
    std::vector<double> lags;
    auto wall_ms = [] { return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count(); };
    for (bool more = true; more;) {
      bool was_writing = writing;
      auto r = poll.command({"HGETALL", "g:g:cache:applied_id"});
      long long now = wall_ms();
      std::lock_guard<std::mutex> lock(mu);
      for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
        auto& q = unapplied[std::stoi(r.elements[i].text)];
        auto marker = split_id(r.elements[i + 1].text);
        while (!q.empty() && q.front() <= marker) {
          lags.push_back(static_cast<double>(now - q.front().first));
          q.pop_front();
        }
      }
      more = was_writing;
      for (auto& [shard, q] : unapplied) more |= !q.empty();
      if (more) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    writer.join();
    double cpu = cpu_seconds(cache.pid()) - cpu0;
    std::sort(lags.begin(), lags.end());
    auto pct = [&](double p) { return lags.empty() ? -1.0 : lags[static_cast<std::size_t>(p * (lags.size() - 1))]; };
    std::printf("| lag commit → applied at %d GUILD_MEMBER_UPDATE/s for %d s (%zu entries; marker polled every 2 ms): "
                "p50 / p99 / max | %.0f ms / %.0f ms / %.0f ms |\n",
                o.rate, o.seconds, lags.size(), pct(0.5), pct(0.99), pct(1.0));
    std::printf("| g-cache CPU at %d events/s | %.0f %% of a core |\n", o.rate, cpu * 100 / o.seconds);
    cache.signal(SIGTERM);
    cache.wait(std::chrono::seconds(10));
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace g::bench
