#include "sim/options.hpp"

#include <charconv>
#include <functional>
#include <map>

namespace g::sim {

namespace {

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool parse_double(const std::string& s, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(s, &used);
    return used == s.size() && out >= 0;
  } catch (...) {
    return false;
  }
}

bool parse_host_port(const std::string& s, std::string& host, std::uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return parse_number(s.substr(colon + 1), port);
}

}  // namespace

std::string usage() {
  return R"(g-fakecord: a Discord gateway + REST simulator with fault injection

Usage: g-fakecord [options]

  --listen HOST:PORT       where to listen (default 127.0.0.1:7450; port 0 picks a free one).
                           REST under /api/v10/ (so a node's [discord] rest_url is http://HOST:PORT/api),
                           the gateway on /, the admin API under /_fakecord/.
  --advertise HOST         host name put in gateway URLs (default: the listen host)
  --tls-cert FILE          serve wss:// and https:// with this certificate (PEM) ...
  --tls-key FILE           ... and this private key (PEM)
  --guilds N               guilds the bot is in (default 100)
  --shards N               recommended shard count in /gateway/bot (default ceil(guilds/1000))
  --max-concurrency N      identify buckets per 5 s (default 1)
  --session-limit N        daily session start budget (default 1000)
  --session-window-ms N    length of the session budget window (default 86400000)
  --heartbeat-ms N         heartbeat_interval sent in HELLO (default 41250)
  --members N              members per guild besides the bot (default 10)
  --rate N                 generated dispatches per second across all guilds (default 0)
  --seed N                 seed for all generated data (default 1)
  --token T                the only bot token accepted (default: any non-empty token)
  --session-ttl-ms N       how long a session can be resumed after its socket died (default 180000)
  --replay-limit N         dispatches a session keeps for RESUME (default 20000)
  --privileged-intents N   bitmask of privileged intents the bot may use (default 33026: all three)
  --zlib-level N           deflate level of zlib-stream (default 1)
  --zstd-level N           zstd level of zstd-stream (default 1)
  --quiet                  no log lines on stderr
  --help                   this text

On start it prints one line "g-fakecord listening on ws://HOST:PORT/" to stdout.
)";
}

parse_result parse_options(const std::vector<std::string>& args) {
  parse_result r;
  options o;
  using setter = std::function<bool(const std::string&)>;
  auto int_in = [](int& dst, int lo, int hi) {
    return setter([&dst, lo, hi](const std::string& v) { return parse_number(v, dst) && dst >= lo && dst <= hi; });
  };
  auto ms_in = [](std::int64_t& dst, std::int64_t lo) {
    return setter([&dst, lo](const std::string& v) { return parse_number(v, dst) && dst >= lo; });
  };
  std::map<std::string, setter> valued = {
      {"--listen", [&](const std::string& v) { return parse_host_port(v, o.listen_host, o.listen_port); }},
      {"--advertise", [&](const std::string& v) { o.advertise_host = v; return !v.empty(); }},
      {"--tls-cert", [&](const std::string& v) { o.tls_cert = v; return !v.empty(); }},
      {"--tls-key", [&](const std::string& v) { o.tls_key = v; return !v.empty(); }},
      {"--guilds", int_in(o.guilds, 0, 10'000'000)},
      {"--shards", int_in(o.shards, 1, 1'000'000)},
      {"--max-concurrency", int_in(o.max_concurrency, 1, 1024)},
      {"--session-limit", int_in(o.session_limit, 0, 100'000'000)},
      {"--session-window-ms", ms_in(o.session_window_ms, 1)},
      {"--heartbeat-ms", ms_in(o.heartbeat_ms, 10)},
      {"--members", int_in(o.members, 0, 1'000'000)},
      {"--rate", [&](const std::string& v) { return parse_double(v, o.rate); }},
      {"--seed", [&](const std::string& v) { return parse_number(v, o.seed); }},
      {"--token", [&](const std::string& v) { o.token = v; return !v.empty(); }},
      {"--session-ttl-ms", ms_in(o.session_ttl_ms, 0)},
      {"--replay-limit", [&](const std::string& v) { return parse_number(v, o.replay_limit) && o.replay_limit > 0; }},
      {"--privileged-intents", [&](const std::string& v) { return parse_number(v, o.privileged_intents); }},
      {"--zlib-level", int_in(o.zlib_level, 0, 9)},
      {"--zstd-level", int_in(o.zstd_level, -7, 22)},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      r.help = true;
      return r;
    }
    if (a == "--quiet") {
      o.quiet = true;
      continue;
    }
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    auto it = valued.find(name);
    if (it == valued.end()) {
      r.error = "unknown option '" + a + "' (see --help)";
      return r;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        r.error = "option " + name + " needs a value";
        return r;
      }
      value = args[++i];
    }
    if (!it->second(value)) {
      r.error = "invalid value '" + value + "' for " + name;
      return r;
    }
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    r.error = "--tls-cert and --tls-key go together";
    return r;
  }
  r.opts = o;
  return r;
}

}  // namespace g::sim
