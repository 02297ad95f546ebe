// g-actor: one G node. `g-actor --config node.toml`.
#include <pthread.h>
#include <signal.h>

#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "actors/cluster_link_config.hpp"
#include "actors/cluster_view.hpp"
#include "actors/io_threads.hpp"
#include "actors/stream_trimmer.hpp"
#include "actors/messages.hpp"
#include "actors/status_client.hpp"
#include "actors/node_actor.hpp"
#include "actors/node_env.hpp"
#include "actors/status_pages.hpp"
#include "net/http/http_server.hpp"
#include "proxy/gateway_proxy.hpp"
#include "cluster/snowflake.hpp"
#include "config/node_config.hpp"
#include "config/redis_endpoint.hpp"
#include "net/json/json_writer.hpp"
#include "net/redis/redis_identify_gate.hpp"
#include "net/log.hpp"
#include "net/redis/lease_renewals.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/rest/gateway_bot.hpp"
#include "net/rest/node_id_service.hpp"
#include "net/clock.hpp"

namespace {

const char* usage = R"(g-actor: one node of a G cluster

Usage:
  g-actor --config FILE.toml     run the node (SIGTERM/SIGINT: hand every shard over, then exit)
  g-actor status --config FILE.toml [--peer HOST:PORT] [--json]
  g-actor status --peer HOST:PORT [--json]      (cookie from NODE_COOKIE)
                                 print the cluster: master, epoch, nodes, every shard's owner, state, seq, latency
  g-actor reshard (--config FILE.toml | --peer HOST:PORT) --shards N|auto
                                 ask the master to reshard with zero downtime: the new set is prepared beside the
                                 one in force, then the stream switches to it once (docs/resharding.md)
  g-actor reshard (--config FILE.toml | --peer HOST:PORT) --cancel
                                 give a preparation up (the shards in force stay)
  g-actor --help

The configuration is described in config/node.example.toml; BOT_TOKEN, NODE_NAME, GROUP_NAME, REDIS_HOST,
REDIS_PORT, REDIS_PASS, NODE_COOKIE and RAINDROP_URL override it.
)";

int fail(const std::string& why, int code = 1) {
  std::cerr << "g-actor: " << why << "\n";
  return code;
}

// `g-actor status`: with --config, the cookie and TLS settings come from the node's file and the node asked is
// the master found in Redis (else --peer); with --peer alone, the cookie comes from NODE_COOKIE.
// `status` and `reshard`: both find a node (or are given one) and prove the cookie to it.
int node_command(const std::string& verb, const std::vector<std::string>& args) {
  std::string config_path, peer;
  g::actors::status_options o;
  std::optional<int> shards;  // reshard: 0 = auto
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) config_path = args[++i];
    else if (args[i] == "--peer" && i + 1 < args.size()) peer = args[++i];
    else if (args[i] == "--json" && verb == "status") o.json = true;
    else if (args[i] == "--cancel" && verb == "reshard") shards = -1;
    else if (args[i] == "--shards" && verb == "reshard" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v == "auto") shards = 0;
      else if (!v.empty() && *end == '\0' && n >= 1 && n <= 1'000'000) shards = static_cast<int>(n);
      else return fail("reshard: --shards takes a number of shards >= 1 or auto, not '" + v + "'", 2);
    } else {
      return fail(verb + ": unknown argument '" + args[i] + "' (see --help)", 2);
    }
  }
  if (config_path.empty() && peer.empty()) return fail(verb + ": give --config FILE or --peer HOST:PORT", 2);
  if (verb == "reshard" && !shards) return fail("reshard: give --shards N, --shards auto or --cancel", 2);
  if (!config_path.empty()) {
    // The status command needs no bot token: do not make the operator provide one.
    auto env = [base = g::config::process_environment()](const std::string& name) -> std::optional<std::string> {
      auto v = base(name);
      if (!v && name == "BOT_TOKEN") return std::string("not-needed-for-status");
      return v;
    };
    auto loaded = g::config::load_node_config(config_path, env);
    if (!loaded.config) return fail(loaded.error, 2);
    const auto& cfg = *loaded.config;
    o.cookie = cfg.security.cookie;
    o.security = cfg.security;
    o.heartbeat_ms = cfg.cluster.heartbeat_ms;
    o.connection_timeout_ms = cfg.cluster.connection_timeout_ms;
    if (peer.empty()) {
      g::net::redis_connection conn(g::config::redis_endpoint_of(cfg, 2000));
      g::net::redis_keys keys(cfg.node.group);
      auto nodes = conn.command({"HGETALL", keys.nodes()});
      if (nodes.type != g::net::redis_reply::array)
        return fail(verb + ": Redis at " + conn.address() + ": " +
                    (nodes.text.empty() ? conn.last_error() : nodes.text));
      auto master = conn.command({"GET", keys.master()});
      std::optional<std::pair<std::string, std::uint16_t>> at;
      for (std::size_t i = 0; i + 1 < nodes.elements.size(); i += 2)
        if (!at || nodes.elements[i].text == master.text) at = g::actors::registry_address(nodes.elements[i + 1].text);
      if (!at) return fail(verb + ": no node of group '" + cfg.node.group + "' is registered in Redis", 1);
      o.host = at->first;
      o.port = at->second;
    }
  } else {
    auto cookie = g::config::process_environment()("NODE_COOKIE");
    if (!cookie) return fail(verb + ": set NODE_COOKIE (or use --config)", 2);
    o.cookie = *cookie;
  }
  if (!peer.empty()) {
    auto hp = g::config::parse_host_port(peer);
    if (!hp) return fail(verb + ": --peer '" + peer + "' is not HOST:PORT", 2);
    o.host = hp->host;
    o.port = hp->port;
  }
  if (verb == "reshard") return g::actors::request_reshard(o, *shards);
  return g::actors::print_cluster_status(o);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << usage;
      return 0;
    }
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if ((args[i] == "status" || args[i] == "reshard") && i == 0) {
      return node_command(args[i], {args.begin() + 1, args.end()});
    } else {
      return fail("unknown argument '" + args[i] + "' (see --help)", 2);
    }
  }
  if (config_path.empty()) return fail("missing --config FILE (see --help)", 2);
  auto loaded = g::config::load_node_config(config_path);
  if (!loaded.config) return fail(loaded.error, 2);
  const g::config::node_config cfg = *loaded.config;
  g::log::set_process("g-actor");
  g::log::set_threshold(*g::log::parse_level(cfg.node.log_level));  // the config checked the name

  // Dependencies first: without Redis or Discord there is nothing to do, and the operator should know why.
  g::net::redis_endpoint redis_ep = g::config::redis_endpoint_of(cfg, 2000);
  int in_force = 0;  // the group's shard total in Redis: after a reshard it, not the config, says how many
  {
    g::net::redis_connection probe(redis_ep);
    if (!probe.ensure_connected()) return fail(probe.last_error());
    auto pong = probe.command({"PING"});
    if (pong.is_error()) return fail("Redis at " + probe.address() + ": " + pong.text);
    auto count = probe.command({"GET", g::net::redis_keys(cfg.node.group).shard_count()});
    if (count.type == g::net::redis_reply::string) in_force = std::atoi(count.text.c_str());
  }
  g::net::rest_options rest;
  rest.rest_url = cfg.discord.rest_url;
  rest.token = cfg.discord.token;
  auto info = g::net::fetch_gateway_bot(rest);
  if (auto* err = std::get_if<g::net::rest_error>(&info)) return fail(err->message);
  const auto& bot = std::get<g::net::gateway_bot>(info);

  g::actors::node_env env;
  env.cfg = &cfg;
  env.filter = g::cluster::event_filter(cfg.events.include, cfg.events.exclude);
  env.shard_total = cfg.discord.shards > 0 ? cfg.discord.shards : bot.shards;
  if (in_force > 0 && in_force != env.shard_total) {
    LOG_WARN("group '%s' runs %d shards (shard_count in Redis, set by its first node or a reshard); [discord] shards "
             "gives only a new group's count: running %d", cfg.node.group.c_str(), in_force, in_force);
    env.shard_total = in_force;
  }
  env.max_concurrency = bot.max_concurrency;
  env.gateway_url = cfg.discord.gateway_url.empty() ? bot.url : cfg.discord.gateway_url;
  if (!cfg.ids.raindrop_url.empty()) {
    auto id = g::net::fetch_node_id(cfg.ids.raindrop_url);
    if (auto* err = std::get_if<std::string>(&id)) return fail(*err);
    env.node_id = std::to_string(std::get<std::uint64_t>(id));
  } else {
    std::random_device rd;
    g::cluster::snowflake_generator ids(rd() & 0x3FF);
    env.node_id = std::to_string(ids.next(static_cast<std::uint64_t>(g::net::wall_ms())));
  }
  g::log::set_identity("node", env.node_id);
  const std::string name = cfg.node.name.empty() ? env.node_id : cfg.node.name;
  env.name = name;
  env.started_ms = g::net::wall_ms();
  env.board.resize(env.shard_total);

  // Signals go to the main thread only: block them before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<g::net::identify_gate> gate;  // outlives the Redis thread, whose jobs refer to it
  g::actors::stream_trimmer trimmer(cfg, g::net::redis_keys(cfg.node.group).events());  // so does this
  g::actors::io_threads threads(static_cast<std::size_t>(cfg.node.io_threads), cfg.node.io_batch_us, env.counters);
  boost::asio::io_context& io = threads.first();  // the HTTP endpoints and the identify gate's timers
  threads.run();
  int rc = 0;
  std::unique_ptr<g::net::http_server> http;
  try {
    http = std::make_unique<g::net::http_server>(io, cfg.http.listen.host, cfg.http.listen.port,
                                                 [&env](std::string_view m, std::string_view t) {
                                                   return g::actors::route_status(env, m, t);
                                                 });
  } catch (const std::exception& e) {
    threads.stop();
    return fail(std::string("[http] ") + e.what());
  }
  std::unique_ptr<g::proxy::gateway_proxy> proxy;  // its own io and Redis threads; bots see G through it
  if (cfg.proxy.listen) {
    try {
      proxy = std::make_unique<g::proxy::gateway_proxy>(cfg);
    } catch (const std::exception& e) {
      http.reset();
      threads.stop();
      return fail(std::string("[proxy] ") + e.what());
    }
  }
  {
    // Named, so that Redis witnesses that this node lives (the master tells a dead node from a partitioned one by it).
    redis_ep.client_name = g::net::redis_keys(cfg.node.group).client_name(env.node_id);
    g::net::redis_worker redis(redis_ep);
    g::net::redis_worker control(redis_ep);
    g::net::lease_renewals renewals(redis, cfg.node.group, env.node_id, cfg.cluster.lease_ms);
    g::net::identify_budget budget;
    budget.total = bot.session_total;
    budget.remaining = bot.session_remaining;
    budget.reset_after_ms = bot.reset_after_ms;
    budget.reserve = cfg.discord.session_reserve;
    budget.refused = [&env](const std::string& why) {
      ++env.counters.identify_refused;
      LOG_ERROR("%s", why.c_str());
    };
    if (bot.session_remaining <= cfg.discord.session_reserve)
      LOG_ERROR("only %lld session starts left (reserve %lld): shards without a session to resume will not IDENTIFY",
                static_cast<long long>(bot.session_remaining), static_cast<long long>(cfg.discord.session_reserve));
    gate = g::net::make_redis_identify_gate(io, redis, cfg.node.group, env.node_id, bot.max_concurrency, std::move(budget));
    threads.open_pipes(redis_ep, redis);
    env.threads = &threads;
    env.redis = &redis;
    env.control = &control;
    env.renewals = &renewals;
    env.trimmer = &trimmer;
    env.gate = gate.get();

    try {
      caf::actor_system_config caf_cfg;
      g::actors::configure_cluster_link(caf_cfg, cfg.security, cfg.cluster.heartbeat_ms, cfg.cluster.connection_timeout_ms);
      // The actors' work arrives from the io and Redis threads, one small message at a time: the work-stealing
      // scheduler's idle workers poll (sleep 50 µs, wake, look), which cost more CPU than the events themselves.
      // Workers that block on a condition variable until there is work cost nothing while idle. One is enough:
      // the actors only route (a few µs per batch); inflating, scanning and Redis run on their own threads, and
      // a second worker only added wake-ups (measured with g-bench compare: ~10 % more CPU per event).
      caf_cfg.set("scheduler.policy", caf::atom("sharing"));
      caf_cfg.set("scheduler.max-threads", std::size_t{1});
      env.tls = cfg.security.tls();
      caf::actor_system sys{caf_cfg};
      auto node = g::actors::spawn_node(sys, env);
      auto published = g::actors::publish_node(sys, node, cfg.node.listen.host, cfg.node.listen.port, env.tls);
      if (!published.error.empty()) {
        caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
        throw std::runtime_error("cannot listen on " + cfg.node.listen.text() + ": " + published.error);
      }
      // Registration: peers find this node in `nodes`; workers route by guild with shard_count.
      std::string entry;
      g::json::writer w(entry);
      const auto& adv = cfg.node.advertise ? *cfg.node.advertise : cfg.node.listen;
      w.begin_object().field("name", name).field("host", adv.host)
          .field("port", static_cast<int>(cfg.node.advertise ? adv.port : published.port))
          .field("priority", cfg.node.priority).field("started", env.started_ms).end_object();
      env.registry_entry = entry;
      caf::anon_send(node, g::actors::local{}, g::actors::start_atom::value);
      LOG_INFO("node %s (%s) running %d shards of group '%s'", name.c_str(), env.node_id.c_str(), env.shard_total.load(),
               cfg.node.group.c_str());
      int sig = 0;
      sigwait(&signals, &sig);
      LOG_INFO("stopping: handing the shards over");
      caf::anon_send(node, g::actors::local{}, g::actors::stop_atom::value);
      sys.await_all_actors_done();
    } catch (const std::exception& e) {
      rc = fail(std::string("actor system: ") + e.what());
    }
    redis.post([&cfg, &env](g::net::redis_connection& conn) {
      // Not removed (Redis down): the master removes a registered node without a connection.
      auto r = g::net::shard_store(conn, cfg.node.group, env.node_id).unregister_node();
      if (r.unavailable()) LOG_WARN("unregistering this node failed: %s", r.reason.c_str());
    });
    http.reset();
    threads.stop();  // before the control connection goes: the commit connections ask it where the master is
  }  // the Redis thread finishes its queue
  proxy.reset();
  return rc;
}
