#pragma once
// g-fakecord's command line.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace g::sim {

struct options {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 7450;
  std::string advertise_host;  // empty: the listen host
  std::string tls_cert, tls_key;
  int guilds = 100;
  int shards = 0;  // recommended shard count reported by /gateway/bot; 0: ceil(guilds / 1000)
  int max_concurrency = 1;
  int session_limit = 1000;
  std::int64_t session_window_ms = 24LL * 3600 * 1000;
  std::int64_t heartbeat_ms = 41250;
  int members = 10;  // per guild, besides the bot
  double rate = 0;   // generated dispatches per second across all guilds
  std::uint64_t seed = 1;
  std::string token;  // empty: any non-empty token is accepted
  std::int64_t session_ttl_ms = 180000;  // how long a session outlives its socket
  std::size_t replay_limit = 20000;      // dispatches a session keeps for RESUME
  std::uint64_t privileged_intents = (1u << 1) | (1u << 8) | (1u << 15);  // the ones "enabled in the portal"
  int zlib_level = 1;
  int zstd_level = 1;
  bool quiet = false;

  bool tls() const { return !tls_cert.empty(); }
  int recommended_shards() const { return shards > 0 ? shards : (guilds + 999) / 1000 > 0 ? (guilds + 999) / 1000 : 1; }
};

struct parse_result {
  std::optional<options> opts;
  std::string error;  // set when opts is empty and help was not asked for
  bool help = false;
};

parse_result parse_options(const std::vector<std::string>& args);
std::string usage();

}  // namespace g::sim
