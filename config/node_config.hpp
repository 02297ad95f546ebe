#pragma once
// A G node's configuration: node.toml plus the environment names that override it (BOT_TOKEN, NODE_NAME,
// GROUP_NAME, REDIS_HOST, REDIS_PORT, REDIS_PASS, NODE_COOKIE, RAINDROP_URL). Wrong or missing values are one
// clear line each; nothing that matters (a token, an address, the cookie) has a silent default.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace g::config {

struct host_port {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port); }
};

struct node_config {
  struct node_section {
    std::string name;
    std::string group = "g";
    host_port listen{"127.0.0.1", 7400};
    std::optional<host_port> advertise;  // what peers dial; default: listen
    int priority = 0;
    std::string log_level = "info";      // debug | info | warn | error
    int io_threads = 0;                  // threads owning the shards' connections and commits; 0: one per core
    int io_batch_us = 2000;              // under load an io thread wakes at most once per this (0: on every frame)
    std::vector<host_port> peers;        // optional static seeds; Redis is the normal discovery
  } node;
  struct discord_section {
    std::string token;
    std::string rest_url = "https://discord.com/api";
    std::string gateway_url;  // empty: from /gateway/bot
    int shards = 0;           // 0: "auto", the recommended count
    std::uint64_t intents = 513;
    std::string compress = "zlib-stream";
    int large_threshold = 250;
    std::string presence;     // JSON object, or empty
    int session_reserve = 10; // IDENTIFY stops when this few daily session starts remain
    bool reshard_auto = false;       // reshard = "auto": the master reshards when Discord's recommendation outgrows G
    std::int64_t reshard_check_s = 3600;  // … asking /gateway/bot this often
    double reshard_margin = 0.25;    // … when the recommended count exceeds the current one by more than this share
  } discord;
  struct redis_section {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string password;  // also for the sentinels
    int db = 0;
    std::vector<host_port> sentinels;  // Redis Sentinel: the master is found through these (host and port unused)
    std::string sentinel_master;       // … under this name
  } redis;
  struct events_section {
    std::vector<std::string> include, exclude;
    std::uint64_t stream_maxlen = 1'000'000;
    // Trimming waits for these consumer groups (unset: every group; empty: none) up to stream_maxlen_hard.
    std::optional<std::vector<std::string>> protect_groups;
    std::uint64_t stream_maxlen_hard = 2'000'000;  // default: twice stream_maxlen
  } events;
  struct chunking_section {
    bool enabled = false;
    bool presences = false;
  } chunking;
  struct cluster_section {
    std::int64_t lease_ms = 5000;
    std::int64_t heartbeat_ms = 500;
    std::int64_t connection_timeout_ms = 2000;
    bool rebalance = true;
    int max_moves = 2;  // live migrations in flight at once
  } cluster;
  struct security_section {
    std::string cookie;
    std::string tls_cert, tls_key, tls_ca;
    bool tls() const { return !tls_cert.empty(); }
  } security;
  struct ids_section {
    std::string raindrop_url;
  } ids;
  struct http_section {
    host_port listen{"127.0.0.1", 7480};
  } http;
  // What g-cache keeps (docs/cache.md) and how it reads the stream.
  struct cache_section {
    bool members = true;
    bool presences = false;
    bool voice_states = true;
    bool emojis = true;  // emojis and stickers
    std::string consumer_group = "cache";
    std::string consumer;  // empty: host name and pid
    std::int64_t claim_idle_ms = 10000;  // entries a dead g-cache left unapplied are taken over after this
    int batch = 500;
  } cache;
  // The proxy role (proxy/): a Discord-compatible gateway and REST base for unmodified bot libraries.
  struct proxy_section {
    std::optional<host_port> listen;  // unset: the node serves no proxy
    std::string url;                  // the gateway URL bots are told; default ws(s)://listen/
    std::string tls_cert, tls_key;    // wss:// and https:// when both are set
    std::int64_t resume_window_ms = 300000;  // `resume_window` (seconds): how long a bot may RESUME after it left
    std::int64_t heartbeat_ms = 41250;       // HELLO's heartbeat_interval, as Discord's
    std::int64_t client_buffer = 16 << 20;   // `client_buffer_kib`: bytes queued for one bot before a resumable close
    bool tls() const { return !tls_cert.empty(); }
  } proxy;
};

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;
env_lookup process_environment();

struct config_result {
  std::optional<node_config> config;
  std::string error;  // one line naming the problem
};

// Who reads the file: a node needs its bot token and the cluster cookie; a cache worker (g-cache) uses neither,
// so it does not require them (it checks everything else the same way).
enum class config_reader { node, cache_worker };

config_result load_node_config(const std::string& path, const env_lookup& env = process_environment(),
                               config_reader reader = config_reader::node);
config_result parse_node_config(std::string_view toml_text, const std::string& source_name, const env_lookup& env,
                                config_reader reader = config_reader::node);

std::optional<host_port> parse_host_port(std::string_view text);

}  // namespace g::config
