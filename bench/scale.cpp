#include "bench/scale.hpp"

#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "bench/figures.hpp"
#include "bench/g_cluster.hpp"
#include "bench/proc_stats.hpp"

namespace g::bench {

namespace {

using namespace std::chrono;

// What g-fakecord has counted so far, from one read of its stats.
struct fakecord_counts {
  std::int64_t identifies = 0, resumes = 0, dispatches = 0;
  std::int64_t beats_on_time = 0, beats_late_under_1s = 0, beats_late_over_1s = 0, worst_overrun_ms = 0;
  std::int64_t heartbeat_timeouts = 0;  // g-fakecord closed a client that stopped beating (4009): a zombie
  std::int64_t node_closes = 0;         // the node closed a connection itself, resumable (4900)
  std::int64_t violations = 0;
  std::int64_t identify_uncertain = 0;  // IDENTIFYs g-fakecord read after the client wrote again (judged from HELLO)
  std::int64_t lag_over_100ms = 0, lag_over_1s = 0, worst_lag_ms = 0;  // g-fakecord's own loop, late (its clock judges the rules)
  std::string violation_kinds;  // "kind n, …"
  std::string violation_details;  // a line per recent violation

  explicit fakecord_counts(const std::string& stats) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(stats).get(doc) != simdjson::SUCCESS) return;
    auto n = [&](const char* pointer) {
      std::int64_t v = 0;
      return doc.at_pointer(pointer).get(v) == simdjson::SUCCESS ? std::max<std::int64_t>(0, v) : 0;
    };
    identifies = n("/identifies");
    resumes = n("/resumes");
    dispatches = n("/dispatches_sent");
    beats_on_time = n("/heartbeat_timing/on_time");
    beats_late_under_1s = n("/heartbeat_timing/late_under_1s");
    beats_late_over_1s = n("/heartbeat_timing/late_over_1s");
    worst_overrun_ms = n("/heartbeat_timing/worst_ms");
    heartbeat_timeouts = n("/violations/heartbeat_timeout");
    // 4900 is the node's code for closes it resumes after: no heartbeat ACK (a zombie), no HELLO, READY or RESUMED
    // in time, and a shard handed over to another node. Which of them the status tells (shard_health).
    node_closes = n("/client_closes/4900");
    identify_uncertain = n("/identify_arrivals_uncertain");
    lag_over_100ms = n("/loop_lag/over_100ms");
    lag_over_1s = n("/loop_lag/over_1s");
    worst_lag_ms = n("/loop_lag/worst_ms");
    simdjson::dom::object v;
    if (doc.at_pointer("/violations").get(v) == simdjson::SUCCESS)
      for (auto field : v) {
        const std::int64_t k = std::max<std::int64_t>(0, field.value.get_int64().value_unsafe());
        violations += k;
        violation_kinds += (violation_kinds.empty() ? "" : ", ") + std::string(field.key) + " " + std::to_string(k);
      }
    // What the client did, each (the last 64): which shard, and by how much, says more than the count.
    simdjson::dom::array recent;
    if (doc.at_pointer("/violations_recent").get(recent) == simdjson::SUCCESS)
      for (auto e : recent) {
        std::string_view kind, detail;
        if (e["kind"].get(kind) == simdjson::SUCCESS && e["detail"].get(detail) == simdjson::SUCCESS)
          violation_details += "  " + std::string(kind) + ": " + std::string(detail) + "\n";
      }
  }
  std::string violations_text() const { return std::to_string(violations) + (violations ? " (" + violation_kinds + ")" : ""); }
  // g-fakecord's protocol check, the IDENTIFYs it could not time exactly, and the lateness of the clock it judges by:
  // three table rows.
  std::string protocol_rows() const {
    return "| g-fakecord's protocol violations | " + violations_text() + " |\n" +
           "| IDENTIFYs g-fakecord read late, after the client wrote again (their bucket judged from HELLO) | " +
           std::to_string(identify_uncertain) + " |\n" +
           "| g-fakecord's own loop (a 100 ms tick): worst lateness, ticks over 100 ms / over 1 s late | " +
           std::to_string(worst_lag_ms) + " ms, " + std::to_string(lag_over_100ms) + " / " + std::to_string(lag_over_1s) + " |\n";
  }
};

// Discord gives large bots a power of two; g-fakecord accepts up to 1024 (--max-concurrency).
int max_concurrency_for(int shards) {
  int mc = 1;
  while (mc * 2 <= std::min(shards, 1024)) mc *= 2;
  return mc;
}

// Rounds of IDENTIFY (5.5 s apart in G) plus a generous margin for the connections and their GUILD_CREATEs.
milliseconds cold_start_bound(int shards, int mc) { return seconds((shards + mc - 1) / mc * 6 + 120); }

// Each poll reads the whole status hash (HVALS of 10,000 fields: 18 ms of Redis, which serves the nodes too).
milliseconds status_poll(int shards) { return milliseconds(shards > 5000 ? 1000 : shards > 1000 ? 250 : 20); }

std::string num(double v, int decimals = 0) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string mib(std::int64_t kib) { return num(static_cast<double>(kib) / 1024.0, 1) + " MiB"; }

g_cluster_options cluster_options(const scale_options& o, int nodes, int shards) {
  g_cluster_options c;
  c.g_actor = o.g_actor;
  c.fakecord = o.fakecord;
  c.nodes = nodes;
  c.shards = shards;
  c.guilds = shards * o.guilds_per_shard;
  c.max_concurrency = max_concurrency_for(shards);
  c.rate = o.rate;
  c.max_moves = o.max_moves;
  c.lease_ms = o.lease_ms;
  // Discord gives a bot of thousands of shards more than 1,000 session starts a day; a cold start and one full
  // re-identify fit, so a failover that fell back to IDENTIFY would show as IDENTIFYs, not as a refusal.
  c.session_limit = 1000 + 2 * shards;
  return c;
}

// Stops the load and waits until the stream holds every session's last seq, then checks it.
stream_check drained_stream(g_cluster& cluster) {
  cluster.fakecord().post("/_fakecord/load", R"({"rate":0})");
  if (!cluster.wait_for([&] { return cluster.caught_up(); }, seconds(60), milliseconds(500)))
    std::cerr << "g-bench: the stream did not catch up with g-fakecord within 60 s\n";
  return cluster.check_stream();
}

// The nodes' logs of a run that failed, kept in a file (at thousands of shards too long for the terminal).
void keep_logs(const g_cluster& cluster) {
  const std::string path = (std::filesystem::temp_directory_path() / ("g-bench-scale-" + std::to_string(::getpid()) + ".log")).string();
  std::ofstream(path) << cluster.logs();
  std::cerr << "g-bench: the nodes' logs are in " << path << "\n";
}

// Part A: one node, cold start, a steady window, kill -9 and restart.
bool run_one(const scale_options& o) {
  const int n = o.shards_one;
  const g_cluster_options c = cluster_options(o, 1, n);
  std::cerr << "g-bench: scale A: one node, " << n << " shards, max_concurrency " << c.max_concurrency << "\n";
  const auto spawned = steady_clock::now();
  g_cluster cluster(c);
  if (!cluster.wait_for([&] { return cluster.balanced(); }, cold_start_bound(n, c.max_concurrency), status_poll(n))) {
    auto ready = cluster.ready_by_node();
    std::cerr << "g-bench: scale A: only " << (ready.empty() ? 0 : ready.begin()->second) << " of " << n
              << " shards READY; the rest:\n" << cluster.not_ready_census();
    keep_logs(cluster);
    return false;
  }
  const double ready_s = duration<double>(steady_clock::now() - spawned).count();
  std::cerr << "g-bench: scale A: every shard READY after " << num(ready_s, 1) << " s\n";

  // Steady state: the GUILD_CREATE burst is over and the node's periodic malloc_trim (10 s) has run.
  std::this_thread::sleep_for(seconds(12));
  const pid_t node = cluster.node_pid(0), fc = cluster.fakecord().pid();
  const fakecord_counts f0(cluster.fakecord_counters());
  const double cpu0 = cpu_seconds(node), fc_cpu0 = cpu_seconds(fc);
  const auto w0 = steady_clock::now();
  std::this_thread::sleep_for(seconds(o.window_seconds));
  const fakecord_counts f1(cluster.fakecord_counters());
  const double cpu1 = cpu_seconds(node), fc_cpu1 = cpu_seconds(fc);
  const double window = duration<double>(steady_clock::now() - w0).count();
  const std::int64_t rss = rss_kib(node), fc_rss = rss_kib(fc);
  const double events = static_cast<double>(f1.dispatches - f0.dispatches);
  const std::int64_t on_time = f1.beats_on_time - f0.beats_on_time, late_short = f1.beats_late_under_1s - f0.beats_late_under_1s,
                     late_long = f1.beats_late_over_1s - f0.beats_late_over_1s;
  const std::int64_t beats = on_time + late_short + late_long;
  std::cerr << "g-bench: scale A: window of " << num(window, 1) << " s: node CPU " << num((cpu1 - cpu0) / window * 100, 1)
            << " %, " << num(events / window) << " events/s, " << beats << " heartbeats\n";

  const shard_health steady = cluster.health();
  const kill_outcome k = cluster.kill_awaiting_resumes(0, true, seconds(o.bound_seconds));
  std::cerr << "g-bench: scale A: kill -9 and restart: " << k.resumed << " of " << k.owned << " RESUMED after "
            << fmt_ms(k.ms) << ", " << k.identified << " IDENTIFYs\n";
  const bool back = cluster.wait_for([&] { return cluster.balanced(); }, seconds(o.bound_seconds), status_poll(n));
  const stream_check st = drained_stream(cluster);
  const fakecord_counts f2(cluster.fakecord_counters());
  std::set<std::string> zombies = steady.zombies;
  for (auto& z : cluster.health().zombies) zombies.insert(z);

  std::cout << "## scale, part A: one node, " << n << " shards (" << o.rate << " dispatches/s, " << o.guilds_per_shard
            << " guilds per shard, max_concurrency " << c.max_concurrency
            << (o.lease_ms ? ", [cluster] lease_ms " + std::to_string(o.lease_ms) + ", other node settings default" : ", default node settings")
            << ")\n\n"
            << "| measure | value |\n|---|---|\n"
            << "| spawn → every shard READY (the node's status) | " << num(ready_s, 1) << " s |\n"
            << "| node CPU over " << num(window) << " s of steady state | " << num((cpu1 - cpu0) / window * 100, 1)
            << " % of a core; " << num(events / window) << " events/s, "
            << (events > 0 ? num((cpu1 - cpu0) / events * 1e6, 1) : std::string("-")) << " µs per event |\n"
            << "| node RSS | " << mib(rss) << ", " << num(static_cast<double>(rss) / n, 1) << " KiB per shard |\n"
            << "| heartbeats in the window: on time / late < 1 s / late > 1 s | " << on_time << " / " << late_short << " / "
            << late_long << " (" << (beats > 0 ? num(100.0 * static_cast<double>(on_time) / static_cast<double>(beats), 2) : "-")
            << " % on time) |\n"
            << "| worst heartbeat overrun, the whole part | " << f2.worst_overrun_ms << " ms |\n"
            << "| heartbeat round trip at the end of the window (the node's status): p50 / p99 / max | "
            << fmt_ms(percentile(steady.latency_ms, 0.5)) << " / " << fmt_ms(percentile(steady.latency_ms, 0.99)) << " / "
            << fmt_ms(max_of(steady.latency_ms)) << " |\n"
            << "| zombie closes: by g-fakecord (4009, no heartbeat) / by the node (no ACK) | " << f2.heartbeat_timeouts
            << " / " << zombies.size() << " |\n"
            << "| resumable closes by the node (4900: zombies, no HELLO, READY or RESUMED in time) | " << f2.node_closes
            << " |\n"
            << "| kill -9 and restart → last RESUMED | " << fmt_ms(k.ms) << " (" << k.resumed << " of " << k.owned
            << " RESUMED) |\n"
            << "| IDENTIFYs after the kill, all of part A | " << k.identified << ", " << f2.identifies << " (" << n
            << " shards) |\n"
            << "| stream entries, gaps or duplicates | " << st.entries << ", " << st.breaks << " |\n"
            << "| g-fakecord: CPU in the window, RSS | " << num((fc_cpu1 - fc_cpu0) / window * 100, 1) << " % of a core, "
            << mib(fc_rss) << " (" << num(static_cast<double>(fc_rss) / n, 1) << " KiB per session) |\n"
            << f2.protocol_rows() << "\n";
  const bool ok = k.all_resumed() && back && k.identified == 0 && f2.heartbeat_timeouts == 0 && zombies.empty() && st.breaks == 0 &&
                  f2.identifies == n && f2.violations == 0;
  if (!ok) {
    std::cerr << "g-bench: scale A failed a hard condition\n" << f2.violation_details;
    keep_logs(cluster);
  }
  return ok;
}

// Part B: several nodes, kill -9 of a worker, repeated.
bool run_many(const scale_options& o) {
  const int n = o.shards_many;
  const g_cluster_options c = cluster_options(o, o.nodes, n);
  std::cerr << "g-bench: scale B: " << o.nodes << " nodes, " << n << " shards, max_concurrency " << c.max_concurrency << "\n";
  const auto spawned = steady_clock::now();
  g_cluster cluster(c);
  if (!cluster.wait_for([&] { return cluster.balanced(); }, cold_start_bound(n, c.max_concurrency), status_poll(n))) {
    std::cerr << "g-bench: scale B: the cluster did not come up balanced; ready by node:";
    for (auto& [id, k] : cluster.ready_by_node()) std::cerr << " " << id << "=" << k;
    std::cerr << "\nplacement:\n" << cluster.placement_census() << "not READY:\n" << cluster.not_ready_census();
    keep_logs(cluster);
    return false;
  }
  const double balanced_s = duration<double>(steady_clock::now() - spawned).count();
  std::cerr << "g-bench: scale B: balanced after " << num(balanced_s, 1) << " s\n";
  std::this_thread::sleep_for(seconds(10));
  std::int64_t nodes_rss = 0;
  for (int i = 0; i < cluster.nodes(); ++i) nodes_rss += rss_kib(cluster.node_pid(i));
  const std::int64_t fc_rss = rss_kib(cluster.fakecord().pid());
  const fakecord_counts before(cluster.fakecord_counters());

  std::vector<double> resumed_ms, rebalance_ms;
  std::set<std::string> zombies;  // seen before each kill (a killed node's status goes with it) and at the end
  std::string moved;
  std::int64_t lost = 0, identified = 0;
  bool rebalanced = true;
  for (int k = 0; k < o.kills && rebalanced; ++k) {
    std::this_thread::sleep_for(seconds(2));
    // A worker each time, in turn: each kill is the same experiment (the master's kill is failover's subject).
    const int master = std::max(0, cluster.master_index());
    const int victim = (master + 1 + k % (cluster.nodes() - 1)) % cluster.nodes();
    for (auto& z : cluster.health().zombies) zombies.insert(z);
    const kill_outcome out = cluster.kill_awaiting_resumes(victim, false, seconds(o.bound_seconds));
    std::cerr << "g-bench: scale B: kill " << k + 1 << " (node " << static_cast<char>('a' + victim) << "): " << out.resumed
              << " of " << out.owned << " RESUMED after " << fmt_ms(out.ms) << ", " << out.identified << " IDENTIFYs\n";
    if (out.all_resumed()) resumed_ms.push_back(out.ms);
    lost += std::max<std::int64_t>(0, out.owned - out.resumed);
    identified += out.identified;
    moved += (moved.empty() ? "" : ", ") + std::to_string(out.owned);
    const auto r0 = steady_clock::now();
    rebalanced = cluster.restart_and_rebalance(victim, seconds(300));
    rebalance_ms.push_back(duration<double, std::milli>(steady_clock::now() - r0).count());
    std::cerr << "g-bench: scale B: " << (rebalanced ? "rebalanced" : "NOT rebalanced") << " "
              << fmt_ms(rebalance_ms.back()) << " after the restart\n";
    if (!rebalanced) std::cerr << cluster.placement_census();
  }
  const stream_check st = drained_stream(cluster);
  const fakecord_counts after(cluster.fakecord_counters());
  for (auto& z : cluster.health().zombies) zombies.insert(z);

  std::cout << "## scale, part B: " << o.nodes << " nodes, " << n << " shards, kill -9 of a worker (" << o.rate
            << " dispatches/s, " << o.guilds_per_shard << " guilds per shard, max_concurrency " << c.max_concurrency
            << ", [cluster] max_moves " << o.max_moves
            << (o.lease_ms ? ", lease_ms " + std::to_string(o.lease_ms) : std::string()) << ", other settings default)\n\n"
            << "| measure | value |\n|---|---|\n"
            << "| spawn → balanced (every shard READY) | " << num(balanced_s, 1) << " s |\n"
            << "| RSS of the " << o.nodes << " nodes | " << mib(nodes_rss) << ", "
            << num(static_cast<double>(nodes_rss) / n, 1) << " KiB per shard |\n"
            << "| g-fakecord RSS | " << mib(fc_rss) << ", " << num(static_cast<double>(fc_rss) / n, 1)
            << " KiB per session |\n"
            << "| kills (shards moved each) | " << o.kills << " (" << moved << ") |\n"
            << "| kill -9 → last RESUMED: p50 / p99 / max | " << fmt_ms(percentile(resumed_ms, 0.5)) << " / "
            << fmt_ms(percentile(resumed_ms, 0.99)) << " / " << fmt_ms(max_of(resumed_ms)) << " |\n"
            << "| lost (not RESUMED within " << o.bound_seconds << " s) | " << lost << " |\n"
            << "| IDENTIFYs after the cold start (kills and rebalances) | " << after.identifies - before.identifies
            << " (during the kills' waits: " << identified << ") |\n"
            << "| restart → balanced again: p50 / max | " << fmt_ms(percentile(rebalance_ms, 0.5)) << " / "
            << fmt_ms(max_of(rebalance_ms)) << (rebalanced ? "" : " (the last did not rebalance within 300 s)") << " |\n"
            << "| zombie closes: by g-fakecord (4009, no heartbeat) / by the node (no ACK) | " << after.heartbeat_timeouts
            << " / " << zombies.size() << " |\n"
            << "| resumable closes by the node (4900: zombies, timeouts and handovers) | " << after.node_closes << " |\n"
            << "| stream entries, gaps or duplicates | " << st.entries << ", " << st.breaks << " |\n"
            << after.protocol_rows() << "\n";
  const bool ok = lost == 0 && rebalanced && st.breaks == 0 && after.identifies == before.identifies &&
                  after.heartbeat_timeouts == 0 && zombies.empty() && after.violations == 0;
  if (!ok) {
    std::cerr << "g-bench: scale B failed a hard condition\n" << after.violation_details;
    keep_logs(cluster);
  }
  return ok;
}

// Every socket is a descriptor: g-fakecord holds one per shard, so 10,000 shards need more than the usual soft
// limit of 1024. The children inherit what this process sets.
void raise_descriptor_limit(int shards) {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return;
  if (l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
  // A moving shard briefly holds two connections; Redis, logs and the admin API a few hundred more.
  const rlim_t need = static_cast<rlim_t>(shards) * 3 / 2 + 512;
  if (l.rlim_cur < need)
    std::cerr << "g-bench: the descriptor limit (" << l.rlim_cur << ") is below the " << need << " that " << shards
              << " shards may need; raise the hard limit (ulimit -Hn) or run fewer shards\n";
}

}  // namespace

int run_scale(const scale_options& o) {
  raise_descriptor_limit(std::max(o.part_one ? o.shards_one : 0, o.part_many ? o.shards_many : 0));
  const auto t0 = steady_clock::now();
  bool ok = true;
  if (o.part_one) ok = run_one(o) && ok;
  if (o.part_many) ok = run_many(o) && ok;
  std::cout << "Hard conditions: every shard READY and RESUMED within " << o.bound_seconds
            << " s of a kill, no IDENTIFY after the cold start, no zombie close, no gap or duplicate in the stream,\n"
            << "no protocol violation. Took " << num(duration<double>(steady_clock::now() - t0).count()) << " s.\n";
  return ok ? 0 : 1;
}

}  // namespace g::bench
