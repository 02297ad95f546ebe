#include "net/gateway/session_snapshot.hpp"

#include <simdjson.h>

#include "net/discord/snowflake.hpp"

namespace g::net {

bool session_snapshot::opens_session(std::string_view t, std::string_view d, std::uint64_t guild_id) {
  if (t == "READY") {
    awaited_.clear();
    ready_seen_ = true;
    static thread_local simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::array guilds;
    if (p.parse(d.data(), d.size()).get(doc) != simdjson::SUCCESS || doc["guilds"].get_array().get(guilds) != simdjson::SUCCESS)
      return true;
    for (auto g : guilds) {
      std::string_view id;
      if (g["id"].get_string().get(id) != simdjson::SUCCESS) continue;
      if (auto gid = discord::parse_snowflake(id)) awaited_.insert(*gid);
    }
    return true;
  }
  return t == "GUILD_CREATE" && guild_id != 0 && awaited_.erase(guild_id) > 0;
}

}  // namespace g::net
