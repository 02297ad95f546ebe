#include <doctest/doctest.h>

#include <map>

#include "config/node_config.hpp"

using namespace g::config;

namespace {

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char* minimal = R"(
[discord]
token = "tok"
[security]
cookie = "0123456789abcdef"
)";

std::string error_of(const std::string& toml, std::map<std::string, std::string> env = {}) {
  auto r = parse_node_config(toml, "node.toml", env_of(std::move(env)));
  if (!r.config) CHECK_MESSAGE(r.error.find('\n') == std::string::npos, r.error);  // every mistake is one line
  return r.config ? "" : r.error;
}

}  // namespace

TEST_CASE("config: defaults, values and environment overrides") {
  auto r = parse_node_config(minimal, "node.toml", env_of({}));
  REQUIRE(r.config);
  const node_config& c = *r.config;
  CHECK(c.node.group == "g");
  CHECK(c.node.listen.text() == "127.0.0.1:7400");
  CHECK(c.discord.shards == 0);
  CHECK(c.discord.compress == "zlib-stream");
  CHECK(c.redis.port == 6379);
  CHECK(c.events.stream_maxlen == 1000000);
  CHECK(c.events.stream_maxlen_hard == 2000000);
  CHECK_FALSE(c.events.protect_groups.has_value());  // every group protected
  CHECK(c.redis.sentinels.empty());
  CHECK(c.http.listen.port == 7480);
  CHECK(c.node.io_threads == 0);  // one per core
  CHECK(c.node.io_batch_us == 2000);

  r = parse_node_config(std::string(minimal) + R"(
[node]
name = "a"
io_threads = 3
io_batch_us = 0
listen = "0.0.0.0:7500"
peers = ["10.0.0.2:7400", "[::1]:7401"]
priority = 3
[redis]
host = "redis.internal"
port = 6380
sentinels = ["10.0.0.5:26379", "s2:26380"]
sentinel_master = "g-prod"
[events]
stream_maxlen = 5000
protect_groups = []
)", "node.toml", env_of({{"BOT_TOKEN", "env-token"}, {"NODE_NAME", "b"}, {"GROUP_NAME", "prod"},
                          {"REDIS_HOST", "r2"}, {"REDIS_PORT", "7000"}, {"REDIS_PASS", "pw"},
                          {"NODE_COOKIE", "cookie-from-the-environment"}, {"RAINDROP_URL", "http://ids:8000"}}));
  REQUIRE(r.config);
  CHECK(r.config->discord.token == "env-token");
  CHECK(r.config->node.name == "b");
  CHECK(r.config->node.group == "prod");
  CHECK(r.config->node.priority == 3);
  CHECK(r.config->node.io_threads == 3);
  CHECK(r.config->node.io_batch_us == 0);
  CHECK(r.config->node.peers.size() == 2);
  CHECK(r.config->node.peers[1].host == "::1");
  CHECK(r.config->redis.host == "r2");
  CHECK(r.config->redis.port == 7000);
  CHECK(r.config->redis.password == "pw");
  CHECK(r.config->security.cookie == "cookie-from-the-environment");
  CHECK(r.config->ids.raindrop_url == "http://ids:8000");
  REQUIRE(r.config->redis.sentinels.size() == 2);
  CHECK(r.config->redis.sentinels[1].text() == "s2:26380");
  CHECK(r.config->redis.sentinel_master == "g-prod");
  CHECK(r.config->events.stream_maxlen_hard == 10000);  // twice stream_maxlen
  REQUIRE(r.config->events.protect_groups.has_value());
  CHECK(r.config->events.protect_groups->empty());
}

TEST_CASE("config: presence becomes JSON, shards take a number") {
  auto r = parse_node_config(std::string(minimal) + R"(
[discord]
shards = 16
presence = { status = "idle", afk = false }
)", "n.toml", env_of({}));
  CHECK_FALSE(r.config);  // [discord] twice is a TOML error
  r = parse_node_config(R"(
[discord]
token = "t"
shards = 16
presence = { status = "idle", afk = false }
[security]
cookie = "0123456789abcdef"
)", "n.toml", env_of({}));
  REQUIRE(r.config);
  CHECK(r.config->discord.shards == 16);
  CHECK(r.config->discord.presence.find("\"status\"") != std::string::npos);
  CHECK(r.config->discord.presence.find("\"idle\"") != std::string::npos);
}

TEST_CASE("config: every mistake is one clear line") {
  CHECK(error_of("") == "node.toml: no bot token: set [discord] token or BOT_TOKEN");
  CHECK(error_of("[discord]\ntoken='t'\n").find("no usable cookie") != std::string::npos);
  CHECK(error_of(std::string(minimal) + "[redis]\nport = 99999\n") == "node.toml: [redis] port must be a port number");
  CHECK(error_of(std::string(minimal) + "[redis]\nsentinels = [\"s:1\"]\n").find("sentinels and sentinel_master go together") != std::string::npos);
  CHECK(error_of(std::string(minimal) + "[redis]\nsentinels = [\"s\"]\nsentinel_master = \"m\"\n") ==
        "node.toml: [redis] sentinels = 's' is not HOST:PORT");
  CHECK(error_of(std::string(minimal) + "[events]\nstream_maxlen = 10\nstream_maxlen_hard = 5\n") ==
        "node.toml: [events] stream_maxlen_hard must be at least stream_maxlen");
  CHECK(error_of(std::string(minimal) + "[events]\nprotect_groups = \"cache\"\n") ==
        "node.toml: [events] protect_groups must be an array of strings");
  CHECK(error_of(minimal, {{"REDIS_PORT", "abc"}}) == "node.toml: REDIS_PORT must be a port number");
  CHECK(error_of(std::string(minimal) + "[node]\nlog_level = \"verbose\"\n") ==
        "node.toml: [node] log_level = 'verbose' is not debug, info, warn or error");
  CHECK(error_of(minimal, {{"LOG_LEVEL", "loud"}}) == "node.toml: LOG_LEVEL = 'loud' is not debug, info, warn or error");
  CHECK(error_of(std::string(minimal) + "[node]\nio_threads = 0\n") ==
        "node.toml: [node] io_threads = 0 must be 1 to 256 (leave it out: one per core)");
  CHECK(error_of(std::string(minimal) + "[node]\nio_batch_us = -5\n") == "node.toml: [node] io_batch_us = -5 must be 0 to 100000 (µs)");
  CHECK(error_of(std::string(minimal) + "[node]\nio_threads = \"two\"\n") == "node.toml: [node] io_threads must be an integer");
  CHECK(error_of(std::string(minimal) + "[node]\nlisten = \"nowhere\"\n") ==
        "node.toml: [node] listen = 'nowhere' is not HOST:PORT");
  CHECK(error_of(std::string(minimal) + "[node]\nlisen = \"x\"\n") == "node.toml: unknown key [node] lisen");
  CHECK(error_of(std::string(minimal) + "[nodes]\n") == "node.toml: unknown section [nodes]");
  CHECK(error_of(std::string(minimal) + "[cluster]\nlease_ms = 0\n") == "node.toml: [cluster] lease_ms must be greater than 0");
  CHECK(error_of(std::string(minimal) + "[cluster]\nheartbeat_ms = 3000\n").find("connection_timeout_ms") != std::string::npos);
  CHECK(error_of(std::string(minimal) + "[security]\n").find("cannot redefine existing table 'security'") != std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\ncompress='gzip'\n[security]\ncookie='0123456789abcdef'\n") ==
        "node.toml: [discord] compress must be \"zlib-stream\", \"zstd-stream\" or \"none\"");
  CHECK(error_of("[discord]\ntoken='t'\nintents=131072\n[security]\ncookie='0123456789abcdef'\n").find("4013") != std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\nshards=0\n[security]\ncookie='0123456789abcdef'\n").find("shards") != std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\n[security]\ncookie='0123456789abcdef'\ntls_cert='a'\n").find("go together") != std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\n[security]\ncookie='0123456789abcdef'\n[chunking]\nenabled=true\n").find("GUILD_MEMBERS") != std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\n[events]\ninclude=['A']\nexclude=['B']\n[security]\ncookie='0123456789abcdef'\n") ==
        "node.toml: [events] set include or exclude, not both");
  CHECK(error_of("[discord]\ntoken='t'\nreshard='yes'\n[security]\ncookie='0123456789abcdef'\n") ==
        "node.toml: [discord] reshard must be \"auto\" or \"off\"");
  CHECK(error_of("[discord]\ntoken='t'\nreshard_margin=-1.0\n[security]\ncookie='0123456789abcdef'\n").find("reshard_margin") !=
        std::string::npos);
  CHECK(error_of("[discord]\ntoken='t'\nreshard_check_s=1\n[security]\ncookie='0123456789abcdef'\n").find(">= 10") !=
        std::string::npos);
  CHECK(error_of("[discord\n").rfind("node.toml:1:", 0) == 0);  // TOML syntax errors say where
  auto missing = load_node_config("/nonexistent/node.toml", env_of({}));
  CHECK(missing.error == "cannot read config file /nonexistent/node.toml");
}

TEST_CASE("config: the shipped examples load") {
  auto env = env_of({{"BOT_TOKEN", "t"}, {"NODE_COOKIE", "0123456789abcdef-cookie"}});
  for (const char* file : {G_SOURCE_DIR "/config/node.example.toml", G_SOURCE_DIR "/config/node.fakecord.toml"}) {
    CAPTURE(file);
    auto r = load_node_config(file, env);
    CHECK_MESSAGE(r.config, r.error);
  }
}

TEST_CASE("config: g-cache needs neither the bot token nor the cookie, and reads [cache] as strictly as a node") {
  const char* cache_only = "[redis]\nport = 6380\n[cache]\npresences = true\nconsumer = \"cache-1\"\n";
  auto as_cache = parse_node_config(cache_only, "cache.toml", env_of({}), config_reader::cache_worker);
  REQUIRE_MESSAGE(as_cache.config, as_cache.error);
  CHECK(as_cache.config->redis.port == 6380);
  CHECK(as_cache.config->cache.presences);
  CHECK(as_cache.config->cache.members);  // the default
  CHECK(as_cache.config->cache.consumer == "cache-1");
  CHECK(error_of(cache_only) == "node.toml: no bot token: set [discord] token or BOT_TOKEN");  // a node still needs it
  auto typo = parse_node_config("[cache]\nmembrs = true\n", "cache.toml", env_of({}), config_reader::cache_worker);
  CHECK(typo.error == "cache.toml: unknown key [cache] membrs");
  auto zero = parse_node_config("[cache]\nbatch = 0\n", "cache.toml", env_of({}), config_reader::cache_worker);
  CHECK(zero.error == "cache.toml: [cache] batch must be greater than 0");
}

TEST_CASE("config: [proxy] is off unless listen is set, and its mistakes are one line each") {
  auto r = parse_node_config(minimal, "node.toml", env_of({}));
  REQUIRE(r.config);
  CHECK(!r.config->proxy.listen);
  r = parse_node_config(std::string(minimal) + R"(
[proxy]
listen = "0.0.0.0:7500"
url = "wss://gateway.example.com"
resume_window = 60
client_buffer_kib = 1024
)", "node.toml", env_of({}));
  REQUIRE(r.config);
  CHECK(r.config->proxy.listen->text() == "0.0.0.0:7500");
  CHECK(r.config->proxy.url == "wss://gateway.example.com");
  CHECK(r.config->proxy.resume_window_ms == 60000);
  CHECK(r.config->proxy.client_buffer == 1024 * 1024);
  CHECK(r.config->proxy.heartbeat_ms == 41250);
  CHECK(error_of(std::string(minimal) + "[proxy]\nlisten = \"nowhere\"\n") ==
        "node.toml: [proxy] listen = 'nowhere' is not HOST:PORT");
  CHECK(error_of(std::string(minimal) + "[proxy]\nlisten = \"127.0.0.1:1\"\ntls_cert = \"c.pem\"\n") ==
        "node.toml: [proxy] tls_cert and tls_key go together: set both or neither");
  CHECK(error_of(std::string(minimal) + "[proxy]\nurl = \"http://x\"\n") ==
        "node.toml: [proxy] url = 'http://x' must start with ws:// or wss://");
  CHECK(error_of(std::string(minimal) + "[proxy]\nresume_window = 0\n") ==
        "node.toml: [proxy] resume_window must be greater than 0");
  CHECK(error_of(std::string(minimal) + "[proxy]\nlisen = \"127.0.0.1:1\"\n") == "node.toml: unknown key [proxy] lisen");
}
