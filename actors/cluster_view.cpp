#include "actors/cluster_view.hpp"

#include <simdjson.h>

#include "net/json/json_writer.hpp"
#include "net/redis/shard_store.hpp"

namespace g::actors {

cluster_snapshot read_cluster(net::redis_connection& conn, const std::string& group, int shard_total) {
  cluster_snapshot s;
  net::redis_keys keys(group);
  const std::string nodes = keys.nodes(), master = keys.master(), epoch = keys.epoch(), status = keys.status(),
                    events = keys.events();
  // One round trip for the small keys, one for the lease holders: the Redis thread also carries the commits.
  const std::string count = keys.shard_count(), reshard = keys.reshard();
  auto r = conn.pipeline({{"HGETALL", nodes}, {"GET", master}, {"GET", epoch}, {"HGETALL", status}, {"XINFO", "STREAM", events},
                          {"GET", count}, {"HMGET", reshard, "to", "started"}});
  auto holders = net::shard_store(conn, group, "").lease_holders(shard_total);
  if (r.size() != 7 || r[0].type != net::redis_reply::array || !holders.ok()) return s;
  for (std::size_t i = 0; i + 1 < r[0].elements.size(); i += 2) s.nodes[r[0].elements[i].text] = r[0].elements[i + 1].text;
  if (r[1].type == net::redis_reply::string) s.master = r[1].text;
  if (r[2].type == net::redis_reply::string) s.epoch = std::strtoull(r[2].text.c_str(), nullptr, 10);
  for (std::size_t i = 0; i + 1 < r[3].elements.size(); i += 2)
    s.status[std::atoi(r[3].elements[i].text.c_str())] = r[3].elements[i + 1].text;
  for (std::size_t i = 0; i + 1 < r[4].elements.size(); i += 2)
    if (r[4].elements[i].text == "entries-added") s.entries_added = r[4].elements[i + 1].number;
  if (r[5].type == net::redis_reply::string) s.shard_count = std::atoi(r[5].text.c_str());
  if (r[6].type == net::redis_reply::array && r[6].elements.size() == 2) {
    s.reshard_to = std::atoi(r[6].elements[0].text.c_str());
    s.reshard_started_ms = std::strtoll(r[6].elements[1].text.c_str(), nullptr, 10);
  }
  s.owners = std::move(holders.value);
  if (auto c = net::shard_store(conn, group, "").connected_nodes(); c.ok()) s.connected = std::move(c.value);
  s.ok = true;
  return s;
}

namespace {

// Fields of the small JSON objects G itself wrote (registry entries, shard states).
struct fields {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  bool ok = false;
  bool parse(const std::string& json) { return ok = parser.parse(json).get(doc) == simdjson::SUCCESS; }
  std::string str(const char* k) {
    std::string_view v;
    return ok && doc[k].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
  }
  std::int64_t num(const char* k, std::int64_t fallback = 0) {
    std::int64_t v;
    return ok && doc[k].get(v) == simdjson::SUCCESS ? v : fallback;
  }
};

}  // namespace

std::string render_cluster(const cluster_snapshot& snap, const view_context& ctx) {
  std::map<std::string, int> load;
  for (auto& o : snap.owners)
    if (!o.empty()) ++load[o];
  std::map<std::string, std::string> names;
  fields f;
  for (auto& [id, json] : snap.nodes) {
    f.parse(json);
    names[id] = f.str("name");
  }
  std::string out;
  json::writer w(out);
  w.begin_object()
      .field("group", ctx.group)
      .field("node", ctx.serving_node)
      .field("redis", snap.ok)
      .field("master", snap.master)
      .field("master_name", names.count(snap.master) ? names[snap.master] : std::string())
      .field("epoch", snap.epoch)
      .field("shard_count", ctx.shard_total)
      .field("updated", ctx.now_ms)
      .field("events_per_s", ctx.events_per_s)
      .field("reshard_to", snap.reshard_to)
      .field("reshard_started", snap.reshard_started_ms)
      .key("nodes")
      .begin_array();
  for (auto& [id, json] : snap.nodes) {
    f.parse(json);
    w.begin_object()
        .field("id", id)
        .field("name", f.str("name"))
        .field("host", f.str("host"))
        .field("port", f.num("port"))
        .field("priority", f.num("priority"))
        .field("started", f.num("started"))
        .field("shards", load.count(id) ? load[id] : 0)
        .field("master", id == snap.master)
        .end_object();
  }
  w.end_array().key("shards").begin_array();
  for (int i = 0; i < ctx.shard_total; ++i) {
    auto st = snap.status.find(i);
    bool known = st != snap.status.end() && f.parse(st->second);
    std::string owner = static_cast<std::size_t>(i) < snap.owners.size() ? snap.owners[static_cast<std::size_t>(i)] : "";
    // Without a lease nobody runs the shard, whatever it last reported.
    std::string state = owner.empty() ? "unowned"
                        : !known ? "idle"
                        : owner != f.str("node") ? "moving"  // the new owner has not reported yet
                                                 : f.str("state");
    w.begin_object()
        .field("shard", i)
        .field("owner", owner)
        .field("owner_name", names.count(owner) ? names[owner] : std::string())
        .field("state", state)
        .field("seq", known ? f.num("seq") : 0)
        .field("latency_ms", known ? f.num("latency_ms", -1) : -1)
        .field("updated", known ? f.num("updated") : 0);
    if (known && !f.str("error").empty()) w.field("error", f.str("error"));
    w.end_object();
  }
  w.end_array().end_object();
  return out;
}

std::optional<std::pair<std::string, std::uint16_t>> registry_address(const std::string& entry_json) {
  fields f;
  if (!f.parse(entry_json)) return std::nullopt;
  std::string host = f.str("host");
  std::int64_t port = f.num("port");
  if (host.empty() || port <= 0 || port > 65535) return std::nullopt;
  return std::make_pair(host, static_cast<std::uint16_t>(port));
}

}  // namespace g::actors
