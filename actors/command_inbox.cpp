#include "actors/command_inbox.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "actors/node_env.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/shard_store.hpp"

namespace g::actors {

namespace {

// One stream entry, [id, [field, value, …]], as a command.
command command_of(const net::redis_reply& entry) {
  command c;
  c.stream_id = entry.elements[0].text;
  auto& f = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].text == "op") {
      char* end = nullptr;
      long op = std::strtol(f[i + 1].text.c_str(), &end, 10);
      c.op = (end && *end == '\0' && !f[i + 1].text.empty()) ? static_cast<int>(op) : -1;
    } else if (f[i].text == "d") {
      c.d = f[i + 1].text;
    }
  }
  return c;
}

bool is_entry(const net::redis_reply& e) {
  return e.elements.size() == 2 && e.elements[1].type == net::redis_reply::array;
}

void run(net::redis_connection& conn, const std::vector<std::vector<std::string>>& commands) {
  if (commands.empty()) return;
  std::vector<std::vector<std::string_view>> pipeline;
  for (auto& c : commands) pipeline.emplace_back(c.begin(), c.end());
  conn.pipeline(pipeline);
}

}  // namespace

std::map<int, std::vector<command>> take_commands(net::redis_connection& conn, const std::string& group,
                                                  const std::set<int>& shards, int per_shard) {
  std::map<int, std::vector<command>> out;
  if (shards.empty()) return out;
  net::redis_keys keys(group);
  std::vector<std::string> names;
  std::map<std::string, int> shard_of;
  for (int s : shards) {
    names.push_back(keys.commands(s));
    shard_of[names.back()] = s;
  }
  const std::string count = std::to_string(per_shard);
  std::vector<std::string_view> argv = {"XREAD", "COUNT", count, "STREAMS"};
  argv.insert(argv.end(), names.begin(), names.end());
  for (std::size_t i = 0; i < names.size(); ++i) argv.push_back("0");  // handled entries are deleted: read from the start
  auto r = conn.command(argv);
  std::vector<std::vector<std::string>> deletes;
  for (auto& stream : r.elements) {  // [key, [[id, [field, value, …]], …]]
    if (stream.elements.size() != 2) continue;
    auto it = shard_of.find(stream.elements[0].text);
    if (it == shard_of.end()) continue;
    auto& cmds = out[it->second];
    std::vector<std::string> del = {"XDEL", it->first};
    for (auto& entry : stream.elements[1].elements) {
      if (!is_entry(entry)) continue;
      cmds.push_back(command_of(entry));
      del.push_back(cmds.back().stream_id);
    }
    deletes.push_back(std::move(del));
  }
  run(conn, deletes);
  return out;
}

void answer_commands(net::redis_connection& conn, const std::string& group, const std::string& node,
                     const std::vector<command_answer>& answers) {
  const std::string key = net::redis_keys(group).command_results(), now = std::to_string(net::wall_ms());
  std::vector<std::vector<std::string>> adds;
  for (const auto& a : answers)
    adds.push_back({"XADD", key, "MAXLEN", "~", "100000", "*", "id", a.stream_id, "shard", a.shard,
                    "status", a.reason == "sent" ? "sent" : "rejected", "reason", std::string(a.reason), "detail",
                    a.detail, "node", node, "ts", now});
  run(conn, adds);
}

void answer_command(node_env* env, int shard, std::string stream_id, net::command_result r, std::string detail) {
  if (r != net::command_result::sent) {
    ++env->counters.rejected_commands;
    LOG_SHARD_WARN((g::log::shard{shard}), "command %s rejected (%s): %s", stream_id.c_str(),
                   std::string(net::result_name(r)).c_str(), detail.c_str());
  }
  env->redis->post([env, a = command_answer{std::to_string(shard), std::move(stream_id), net::result_name(r), std::move(detail)}](
                       net::redis_connection& conn) { answer_commands(conn, env->cfg->node.group, env->node_id, {a}); });
}

std::size_t reject_unknown_shards(net::redis_connection& conn, const std::string& group, const std::string& node,
                                  int shard_total) {
  const std::string prefix = net::redis_keys(group).prefix + "commands:";
  std::vector<std::string> unknown;
  std::string cursor = "0";
  do {  // SCAN: the keyspace is walked in steps, never blocking Redis
    auto r = conn.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000"});
    if (r.is_error() || r.elements.size() != 2) return 0;
    cursor = r.elements[0].text;
    for (auto& k : r.elements[1].elements) {
      std::string_view id = std::string_view(k.text).substr(prefix.size());
      int n = -1;
      auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
      bool known = ec == std::errc{} && end == id.data() + id.size() && n >= 0 && n < shard_total;
      if (!known) unknown.push_back(k.text);
    }
  } while (cursor != "0");
  std::size_t n = 0;
  for (const auto& key : unknown) {
    auto r = conn.command({"XRANGE", key, "-", "+", "COUNT", "1000"});
    if (r.type != net::redis_reply::array) continue;  // not a stream: not G's to touch
    std::vector<command_answer> answers;
    std::vector<std::string> del = {"XDEL", key};
    const std::string shard_text = key.substr(prefix.size());
    for (auto& entry : r.elements) {
      if (!is_entry(entry)) continue;
      command c = command_of(entry);
      answers.push_back({shard_text, c.stream_id, "unknown_shard",
                         "shard " + shard_text + " does not exist: the shard count is " + std::to_string(shard_total)});
      del.push_back(c.stream_id);
    }
    if (answers.empty()) continue;
    answer_commands(conn, group, node, answers);
    run(conn, {del});
    n += answers.size();
  }
  return n;
}

}  // namespace g::actors
