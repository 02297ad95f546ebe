#include "actors/status_client.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <simdjson.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <random>

#include "actors/cluster_link_config.hpp"
#include "actors/status_protocol.hpp"

namespace g::actors {

namespace {

int fail(const std::string& why) {
  std::cerr << "g-actor status: " << why << "\n";
  return 1;
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

}  // namespace

std::string format_cluster_table(const std::string& view_json) {
  simdjson::dom::parser p;
  simdjson::dom::element v;
  if (p.parse(view_json).get(v) != simdjson::SUCCESS) return {};
  auto str = [](simdjson::dom::element e, const char* k) {
    std::string_view s;
    return e[k].get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
  };
  auto num = [](simdjson::dom::element e, const char* k) {
    std::int64_t n = 0;
    if (e[k].get(n) != simdjson::SUCCESS) {
      double d = 0;
      if (e[k].get(d) == simdjson::SUCCESS) n = static_cast<std::int64_t>(d);
    }
    return n;
  };
  std::string out;
  std::string master = str(v, "master");
  out += "group " + str(v, "group") + "   master " + (master.empty() ? "(none)" : str(v, "master_name") + " (" + master + ")") +
         "   epoch " + std::to_string(num(v, "epoch")) + "   " + std::to_string(num(v, "shard_count")) + " shards   " +
         std::to_string(num(v, "events_per_s")) + " events/s\n";
  if (num(v, "reshard_to") > 0) out += "resharding to " + std::to_string(num(v, "reshard_to")) + " shards (preparing)\n";
  out += "\n";
  out += pad("NODE", 16) + pad("ID", 22) + pad("ADDRESS", 24) + pad("PRIORITY", 10) + "SHARDS\n";
  simdjson::dom::array nodes, shards;
  if (v["nodes"].get(nodes) == simdjson::SUCCESS)
    for (auto n : nodes) {
      bool is_master = false;
      if (n["master"].get(is_master) != simdjson::SUCCESS) is_master = false;
      out += pad(str(n, "name") + (is_master ? " *" : ""), 16) + pad(str(n, "id"), 22) +
             pad(str(n, "host") + ":" + std::to_string(num(n, "port")), 24) + pad(std::to_string(num(n, "priority")), 10) +
             std::to_string(num(n, "shards")) + "\n";
    }
  out += "\n" + pad("SHARD", 8) + pad("STATE", 14) + pad("OWNER", 16) + pad("SEQ", 12) + "LATENCY\n";
  if (v["shards"].get(shards) == simdjson::SUCCESS)
    for (auto s : shards) {
      std::int64_t lat = num(s, "latency_ms");
      std::string owner = str(s, "owner_name").empty() ? str(s, "owner") : str(s, "owner_name");
      out += pad(std::to_string(num(s, "shard")), 8) + pad(str(s, "state"), 14) + pad(owner.empty() ? "-" : owner, 16) +
             pad(std::to_string(num(s, "seq")), 12) + (lat < 0 ? std::string("-") : std::to_string(lat) + " ms") + "\n";
    }
  return out;
}

namespace {

// Connects to the node, gets a challenge, proves the cookie and sends `ask(…, proof parts)`: the node's answer, or
// nothing with `failure` set.
template <class Ask>
std::optional<std::string> ask_node(const status_options& o, std::string& failure, Ask ask) {
  caf::actor_system_config cfg;
  configure_cluster_link(cfg, o.security, o.heartbeat_ms, o.connection_timeout_ms);
  caf::actor_system sys{cfg};
  caf::io::middleman_actor link = o.security.tls() ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  caf::scoped_actor self{sys};
  const auto timeout = std::chrono::seconds(5);
  const std::string where = o.host + ":" + std::to_string(o.port);
  caf::actor node;
  self->request(link, timeout, caf::connect_atom::value, o.host, o.port)
      .receive([&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
                 node = caf::actor_cast<caf::actor>(ptr);
               },
               [&](caf::error& e) { failure = "cannot reach the node at " + where + ": " + sys.render(e); });
  if (!node) {
    if (failure.empty()) failure = "no node published at " + where;
    return std::nullopt;
  }
  std::string hello;
  self->request(node, timeout, status_atom::value)
      .receive([&](std::string& s) { hello = std::move(s); }, [&](caf::error& e) { failure = sys.render(e); });
  auto colon = hello.find(':');
  if (colon == std::string::npos) {
    failure = "the node at " + where + " did not answer: " + failure;
    return std::nullopt;
  }
  std::uint64_t node_id = std::strtoull(hello.substr(0, colon).c_str(), nullptr, 10);
  std::string challenge = hello.substr(colon + 1);
  std::uint64_t me = std::random_device{}() | (static_cast<std::uint64_t>(std::random_device{}()) << 32);
  std::string answer;
  ask(self, node, me, challenge, net::prove(o.cookie, challenge, me, node_id))
      .receive([&](std::string& s) { answer = std::move(s); }, [&](caf::error& e) { failure = sys.render(e); });
  if (answer == status_denied) {
    failure = "the node at " + where + " refused the cookie (NODE_COOKIE / [security] cookie)";
    return std::nullopt;
  }
  if (answer.empty() && !failure.empty()) {
    failure = "the node at " + where + ": " + failure;
    return std::nullopt;
  }
  return answer;
}

}  // namespace

int print_cluster_status(const status_options& o) {
  try {
    const std::string where = o.host + ":" + std::to_string(o.port);
    std::string failure;
    auto view = ask_node(o, failure,
                                [](caf::scoped_actor& self, const caf::actor& node, std::uint64_t me,
                                   const std::string& challenge, const std::string& proof) {
                                  return self->request(node, std::chrono::seconds(5), status_atom::value, me, challenge, proof);
                                });
    if (!view) return fail(failure);
    if (view->empty()) return fail("the node at " + where + " has no cluster view yet");
    if (o.json) {
      std::cout << *view << "\n";
      return 0;
    }
    std::string table = format_cluster_table(*view);
    if (table.empty()) return fail("the node at " + where + " sent an unreadable view");
    std::cout << table;
    return 0;
  } catch (const std::exception& e) {
    return fail(std::string("cluster link: ") + e.what());
  }
}

int request_reshard(const status_options& o, int shards) {
  try {
    std::string failure;
    // The master reads /gateway/bot before it answers (a few seconds at most, retries included).
    auto answer = ask_node(o, failure,
                                  [shards](caf::scoped_actor& self, const caf::actor& node, std::uint64_t me,
                                           const std::string& challenge, const std::string& proof) {
                                    return self->request(node, std::chrono::seconds(40), status_atom::value, me, challenge,
                                                         proof, static_cast<std::int32_t>(shards));
                                  });
    if (!answer || answer->empty()) {
      std::cerr << "g-actor reshard: " << (failure.empty() ? "no answer" : failure) << "\n";
      return 1;
    }
    bool ok = answer->rfind("OK", 0) == 0;
    (ok ? std::cout : std::cerr) << "g-actor reshard: " << *answer << "\n";
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "g-actor reshard: cluster link: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace g::actors
