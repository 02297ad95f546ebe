#include "config/node_config.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "net/discord/intents.hpp"

namespace g::config {

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

std::optional<host_port> parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  host_port hp;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
  if (ec != std::errc{} || p != port.data() + port.size() || host.empty()) return std::nullopt;
  hp.host = std::string(host);
  return hp;
}

namespace {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads one section, remembering which keys were used so that typos are reported.
class section {
 public:
  section(const toml::table& root, std::string name) : name_(std::move(name)) {
    if (auto* node = root.get(name_)) {
      table_ = node->as_table();
      if (!table_) throw config_error("[" + name_ + "] must be a table");
    }
  }

  template <class T>
  std::optional<T> get(const std::string& key) {
    used_.insert(key);
    if (!table_) return std::nullopt;
    auto* node = table_->get(key);
    if (!node) return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value<std::string>()) return *v;
      throw config_error(where(key) + " must be a string");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value<bool>()) return *v;
      throw config_error(where(key) + " must be true or false");
    } else if constexpr (std::is_same_v<T, double>) {
      if (auto v = node->value<double>()) return *v;  // toml++ gives integers as doubles too
      throw config_error(where(key) + " must be a number");
    } else {
      if (auto v = node->value<std::int64_t>()) return static_cast<T>(*v);
      throw config_error(where(key) + " must be an integer");
    }
  }
  std::optional<std::vector<std::string>> strings(const std::string& key) {
    used_.insert(key);
    if (!table_) return std::nullopt;
    auto* node = table_->get(key);
    if (!node) return std::nullopt;
    auto* arr = node->as_array();
    if (!arr) throw config_error(where(key) + " must be an array of strings");
    std::vector<std::string> out;
    for (auto& e : *arr) {
      auto v = e.value<std::string>();
      if (!v) throw config_error(where(key) + " must be an array of strings");
      out.push_back(*v);
    }
    return out;
  }
  const toml::node* raw(const std::string& key) {
    used_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }
  void check_unknown() const {
    if (!table_) return;
    for (auto& [k, v] : *table_)
      if (!used_.count(std::string(k.str()))) throw config_error("unknown key " + where(std::string(k.str())));
  }
  std::string where(const std::string& key) const { return "[" + name_ + "] " + key; }

 private:
  std::string name_;
  const toml::table* table_ = nullptr;
  std::set<std::string> used_;
};

template <class T>
void positive(const section& s, const std::string& key, T v) {
  if (v <= 0) throw config_error(s.where(key) + " must be greater than 0");
}

host_port address(section& s, const std::string& key, std::optional<std::string> text, host_port fallback) {
  if (!text) return fallback;
  auto hp = parse_host_port(*text);
  if (!hp) throw config_error(s.where(key) + " = '" + *text + "' is not HOST:PORT");
  return *hp;
}

node_config build(const toml::table& root, const env_lookup& env, config_reader reader) {
  const bool node_reads = reader == config_reader::node;
  static const std::set<std::string> known = {"node", "discord", "redis", "events", "chunking",
                                              "cluster", "security", "ids", "http", "cache", "proxy"};
  for (auto& [k, v] : root)
    if (!known.count(std::string(k.str()))) throw config_error("unknown section [" + std::string(k.str()) + "]");
  node_config c;
  auto env_or = [&](const char* name, std::optional<std::string> file) { auto e = env(name); return e ? e : file; };

  section node(root, "node");
  c.node.name = env_or("NODE_NAME", node.get<std::string>("name")).value_or("");
  c.node.group = env_or("GROUP_NAME", node.get<std::string>("group")).value_or("g");
  c.node.listen = address(node, "listen", node.get<std::string>("listen"), c.node.listen);
  if (auto adv = node.get<std::string>("advertise")) c.node.advertise = address(node, "advertise", adv, {});
  c.node.priority = node.get<int>("priority").value_or(0);
  c.node.log_level = env_or("LOG_LEVEL", node.get<std::string>("log_level")).value_or("info");
  if (c.node.log_level != "debug" && c.node.log_level != "info" && c.node.log_level != "warn" && c.node.log_level != "error")
    throw config_error((env("LOG_LEVEL") ? std::string("LOG_LEVEL") : node.where("log_level")) + " = '" + c.node.log_level +
                       "' is not debug, info, warn or error");
  if (auto n = node.get<int>("io_threads")) {
    if (*n < 1 || *n > 256) throw config_error(node.where("io_threads") + " = " + std::to_string(*n) + " must be 1 to 256 (leave it out: one per core)");
    c.node.io_threads = *n;
  }
  if (auto n = node.get<int>("io_batch_us")) {
    if (*n < 0 || *n > 100000) throw config_error(node.where("io_batch_us") + " = " + std::to_string(*n) + " must be 0 to 100000 (µs)");
    c.node.io_batch_us = *n;
  }
  if (auto peers = node.strings("peers"))
    for (auto& p : *peers) c.node.peers.push_back(address(node, "peers", p, {}));
  node.check_unknown();
  if (c.node.group.empty() || c.node.group.find_first_of(": ") != std::string::npos)
    throw config_error("[node] group must be a non-empty name without ':' or spaces");

  section discord(root, "discord");
  c.discord.token = env_or("BOT_TOKEN", discord.get<std::string>("token")).value_or("");
  if (node_reads && c.discord.token.empty()) throw config_error("no bot token: set [discord] token or BOT_TOKEN");
  c.discord.rest_url = discord.get<std::string>("rest_url").value_or(c.discord.rest_url);
  c.discord.gateway_url = discord.get<std::string>("gateway_url").value_or("");
  if (auto* shards = discord.raw("shards")) {
    if (auto s = shards->value<std::string>(); s && *s == "auto") {
      c.discord.shards = 0;
    } else if (auto n = shards->value<std::int64_t>(); n && *n >= 1 && *n <= 1'000'000) {
      c.discord.shards = static_cast<int>(*n);
    } else {
      throw config_error("[discord] shards must be \"auto\" or a number of shards >= 1");
    }
  }
  c.discord.intents = discord.get<std::uint64_t>("intents").value_or(c.discord.intents);
  if (c.discord.intents & ~discord::intent::all_valid)
    throw config_error("[discord] intents has bits Discord does not define (it would close with 4013)");
  c.discord.compress = discord.get<std::string>("compress").value_or(c.discord.compress);
  if (c.discord.compress != "zlib-stream" && c.discord.compress != "zstd-stream" && c.discord.compress != "none")
    throw config_error("[discord] compress must be \"zlib-stream\", \"zstd-stream\" or \"none\"");
  c.discord.large_threshold = discord.get<int>("large_threshold").value_or(c.discord.large_threshold);
  if (c.discord.large_threshold < 50 || c.discord.large_threshold > 250)
    throw config_error("[discord] large_threshold must be between 50 and 250");
  c.discord.session_reserve = discord.get<int>("session_reserve").value_or(c.discord.session_reserve);
  if (c.discord.session_reserve < 0) throw config_error("[discord] session_reserve must be >= 0");
  if (auto r = discord.get<std::string>("reshard")) {
    if (*r != "auto" && *r != "off") throw config_error("[discord] reshard must be \"auto\" or \"off\"");
    c.discord.reshard_auto = *r == "auto";
  }
  c.discord.reshard_check_s = discord.get<std::int64_t>("reshard_check_s").value_or(c.discord.reshard_check_s);
  if (c.discord.reshard_check_s < 10) throw config_error("[discord] reshard_check_s must be >= 10 (seconds)");
  c.discord.reshard_margin = discord.get<double>("reshard_margin").value_or(c.discord.reshard_margin);
  if (c.discord.reshard_margin < 0 || c.discord.reshard_margin > 10)
    throw config_error("[discord] reshard_margin must be between 0 and 10 (a share of the current count)");
  if (auto* p = discord.raw("presence")) {
    auto* t = p->as_table();
    if (!t) throw config_error("[discord] presence must be an inline table, e.g. { status = \"online\", afk = false }");
    std::ostringstream os;
    os << toml::json_formatter{*t};
    c.discord.presence = os.str();
  }
  discord.check_unknown();

  section redis(root, "redis");
  c.redis.host = env_or("REDIS_HOST", redis.get<std::string>("host")).value_or(c.redis.host);
  if (auto v = redis.get<std::int64_t>("port")) {
    if (*v < 1 || *v > 65535) throw config_error("[redis] port must be a port number");
    c.redis.port = static_cast<std::uint16_t>(*v);
  }
  if (auto port = env("REDIS_PORT")) {
    std::uint16_t v = 0;
    auto [p, ec] = std::from_chars(port->data(), port->data() + port->size(), v);
    if (ec != std::errc{} || p != port->data() + port->size() || v == 0) throw config_error("REDIS_PORT must be a port number");
    c.redis.port = v;
  }
  c.redis.password = env_or("REDIS_PASS", redis.get<std::string>("password")).value_or("");
  c.redis.db = redis.get<int>("db").value_or(0);
  if (c.redis.db < 0) throw config_error("[redis] db must be >= 0");
  if (auto sentinels = redis.strings("sentinels"))
    for (auto& s : *sentinels) c.redis.sentinels.push_back(address(redis, "sentinels", s, {}));
  c.redis.sentinel_master = redis.get<std::string>("sentinel_master").value_or("");
  if (c.redis.sentinels.empty() != c.redis.sentinel_master.empty())
    throw config_error("[redis] sentinels and sentinel_master go together: the sentinels' addresses and the name they "
                       "monitor the master by");
  redis.check_unknown();

  section events(root, "events");
  c.events.include = events.strings("include").value_or(std::vector<std::string>{});
  c.events.exclude = events.strings("exclude").value_or(std::vector<std::string>{});
  c.events.stream_maxlen = events.get<std::uint64_t>("stream_maxlen").value_or(c.events.stream_maxlen);
  if (c.events.stream_maxlen == 0) throw config_error("[events] stream_maxlen must be greater than 0");
  c.events.protect_groups = events.strings("protect_groups");
  c.events.stream_maxlen_hard = events.get<std::uint64_t>("stream_maxlen_hard").value_or(2 * c.events.stream_maxlen);
  if (c.events.stream_maxlen_hard < c.events.stream_maxlen)
    throw config_error("[events] stream_maxlen_hard must be at least stream_maxlen");
  if (!c.events.include.empty() && !c.events.exclude.empty())
    throw config_error("[events] set include or exclude, not both");
  events.check_unknown();

  section chunking(root, "chunking");
  c.chunking.enabled = chunking.get<bool>("enabled").value_or(false);
  c.chunking.presences = chunking.get<bool>("presences").value_or(false);
  chunking.check_unknown();
  if (c.chunking.enabled && !(c.discord.intents & discord::intent::guild_members))
    throw config_error("[chunking] enabled needs the GUILD_MEMBERS intent (2) in [discord] intents");

  section cluster(root, "cluster");
  c.cluster.lease_ms = cluster.get<std::int64_t>("lease_ms").value_or(c.cluster.lease_ms);
  c.cluster.heartbeat_ms = cluster.get<std::int64_t>("heartbeat_ms").value_or(c.cluster.heartbeat_ms);
  c.cluster.connection_timeout_ms = cluster.get<std::int64_t>("connection_timeout_ms").value_or(c.cluster.connection_timeout_ms);
  c.cluster.rebalance = cluster.get<bool>("rebalance").value_or(c.cluster.rebalance);
  c.cluster.max_moves = cluster.get<int>("max_moves").value_or(c.cluster.max_moves);
  if (c.cluster.max_moves < 1) throw config_error("[cluster] max_moves must be at least 1");
  positive(cluster, "lease_ms", c.cluster.lease_ms);
  positive(cluster, "heartbeat_ms", c.cluster.heartbeat_ms);
  positive(cluster, "connection_timeout_ms", c.cluster.connection_timeout_ms);
  if (c.cluster.connection_timeout_ms <= c.cluster.heartbeat_ms)
    throw config_error("[cluster] connection_timeout_ms must be greater than heartbeat_ms");
  cluster.check_unknown();

  section security(root, "security");
  c.security.cookie = env_or("NODE_COOKIE", security.get<std::string>("cookie")).value_or("");
  if (node_reads && c.security.cookie.size() < 16)
    throw config_error("no usable cookie: set [security] cookie or NODE_COOKIE (at least 16 characters, the same on every node)");
  c.security.tls_cert = security.get<std::string>("tls_cert").value_or("");
  c.security.tls_key = security.get<std::string>("tls_key").value_or("");
  c.security.tls_ca = security.get<std::string>("tls_ca").value_or("");
  int tls_set = !c.security.tls_cert.empty() + !c.security.tls_key.empty() + !c.security.tls_ca.empty();
  if (tls_set != 0 && tls_set != 3)
    throw config_error("[security] tls_cert, tls_key and tls_ca go together (mutual TLS needs all three)");
  for (auto* f : {&c.security.tls_cert, &c.security.tls_key, &c.security.tls_ca})
    if (!f->empty() && !std::ifstream(*f)) throw config_error("[security] cannot read '" + *f + "'");
  security.check_unknown();

  section ids(root, "ids");
  c.ids.raindrop_url = env_or("RAINDROP_URL", ids.get<std::string>("raindrop_url")).value_or("");
  ids.check_unknown();

  section http(root, "http");
  c.http.listen = address(http, "listen", http.get<std::string>("listen"), c.http.listen);
  http.check_unknown();

  section cache(root, "cache");
  c.cache.members = cache.get<bool>("members").value_or(c.cache.members);
  c.cache.presences = cache.get<bool>("presences").value_or(c.cache.presences);
  c.cache.voice_states = cache.get<bool>("voice_states").value_or(c.cache.voice_states);
  c.cache.emojis = cache.get<bool>("emojis").value_or(c.cache.emojis);
  c.cache.consumer_group = cache.get<std::string>("consumer_group").value_or(c.cache.consumer_group);
  c.cache.consumer = cache.get<std::string>("consumer").value_or("");
  c.cache.claim_idle_ms = cache.get<std::int64_t>("claim_idle_ms").value_or(c.cache.claim_idle_ms);
  c.cache.batch = cache.get<int>("batch").value_or(c.cache.batch);
  cache.check_unknown();
  positive(cache, "claim_idle_ms", c.cache.claim_idle_ms);
  positive(cache, "batch", c.cache.batch);
  if (c.cache.consumer_group.empty()) throw config_error("[cache] consumer_group must not be empty");

  section proxy(root, "proxy");
  if (auto listen = proxy.get<std::string>("listen")) c.proxy.listen = address(proxy, "listen", listen, {});
  c.proxy.url = proxy.get<std::string>("url").value_or("");
  c.proxy.tls_cert = proxy.get<std::string>("tls_cert").value_or("");
  c.proxy.tls_key = proxy.get<std::string>("tls_key").value_or("");
  c.proxy.resume_window_ms = proxy.get<std::int64_t>("resume_window").value_or(300) * 1000;
  c.proxy.heartbeat_ms = proxy.get<std::int64_t>("heartbeat_ms").value_or(c.proxy.heartbeat_ms);
  c.proxy.client_buffer = proxy.get<std::int64_t>("client_buffer_kib").value_or(c.proxy.client_buffer >> 10) << 10;
  proxy.check_unknown();
  positive(proxy, "resume_window", c.proxy.resume_window_ms);
  positive(proxy, "heartbeat_ms", c.proxy.heartbeat_ms);
  positive(proxy, "client_buffer_kib", c.proxy.client_buffer);
  if (c.proxy.tls_cert.empty() != c.proxy.tls_key.empty())
    throw config_error("[proxy] tls_cert and tls_key go together: set both or neither");
  if (!c.proxy.url.empty() && c.proxy.url.rfind("ws://", 0) != 0 && c.proxy.url.rfind("wss://", 0) != 0)
    throw config_error("[proxy] url = '" + c.proxy.url + "' must start with ws:// or wss://");
  return c;
}

}  // namespace

config_result parse_node_config(std::string_view toml_text, const std::string& source_name, const env_lookup& env,
                                config_reader reader) {
  config_result r;
  try {
    toml::table root = toml::parse(toml_text, source_name);
    r.config = build(root, env, reader);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    r.error = source_name + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
              std::string(e.description());
  } catch (const config_error& e) {
    r.error = source_name + ": " + e.what();
  }
  return r;
}

config_result load_node_config(const std::string& path, const env_lookup& env, config_reader reader) {
  std::ifstream f(path);
  if (!f) return {std::nullopt, "cannot read config file " + path};
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_node_config(ss.str(), path, env, reader);
}

}  // namespace g::config
