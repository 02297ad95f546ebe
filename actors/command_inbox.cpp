#include "actors/command_inbox.hpp"

#include <cstdlib>

#include "net/redis/shard_store.hpp"

namespace g::actors {

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
      if (entry.elements.size() != 2) continue;
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
      del.push_back(c.stream_id);
      cmds.push_back(std::move(c));
    }
    deletes.push_back(std::move(del));
  }
  if (!deletes.empty()) {
    std::vector<std::vector<std::string_view>> pipeline;
    for (auto& d : deletes) pipeline.emplace_back(d.begin(), d.end());
    conn.pipeline(pipeline);
  }
  return out;
}

}  // namespace g::actors
