#include "net/gateway/member_chunking.hpp"

#include <simdjson.h>

#include "net/discord/snowflake.hpp"
#include "net/json/json_writer.hpp"

namespace g::net {

std::optional<std::uint64_t> guild_needing_members(std::string_view d) {
  static thread_local simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(d.data(), d.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::string_view id;
  if (doc["id"].get_string().get(id) != simdjson::SUCCESS) return std::nullopt;
  bool large = false;
  if (doc["large"].get_bool().get(large) != simdjson::SUCCESS) large = false;
  std::int64_t member_count = 0;
  if (doc["member_count"].get_int64().get(member_count) != simdjson::SUCCESS) member_count = 0;
  simdjson::dom::array members;
  std::size_t listed = doc["members"].get_array().get(members) == simdjson::SUCCESS ? members.size() : 0;
  if (!large && member_count <= static_cast<std::int64_t>(listed)) return std::nullopt;
  return discord::parse_snowflake(id);
}

std::optional<std::pair<std::uint64_t, std::int64_t>> rate_limited_member_request(std::string_view d) {
  static thread_local simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(d.data(), d.size()).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::int64_t opcode = 0;
  double retry_after = 0;
  std::string_view id;
  if (doc["opcode"].get_int64().get(opcode) != simdjson::SUCCESS || opcode != 8 ||
      doc["retry_after"].get_double().get(retry_after) != simdjson::SUCCESS ||
      doc["meta"]["guild_id"].get_string().get(id) != simdjson::SUCCESS)
    return std::nullopt;
  auto gid = discord::parse_snowflake(id);
  if (!gid) return std::nullopt;
  return std::make_pair(*gid, static_cast<std::int64_t>(retry_after * 1000));
}

std::string request_all_members(std::uint64_t guild_id, bool presences) {
  std::string d;
  json::writer w(d);
  w.begin_object()
      .id_field("guild_id", guild_id)
      .field("query", "")
      .field("limit", 0)
      .field("presences", presences)
      .field("nonce", "g-" + std::to_string(guild_id % 100000000000ULL))
      .end_object();
  return d;
}

}  // namespace g::net
