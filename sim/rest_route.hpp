#pragma once
// The vocabulary of g-fakecord's REST routes: a route (Discord's method, path template and rate limit bucket) and
// its handler, Discord's JSON errors, and the lookups every route needs. Each group of routes (rest_api.cpp for
// messages, channels and guilds; rest_interactions.cpp for application commands and interactions) lists its own.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/http_api.hpp"

namespace g::sim {

struct rest_call {
  fakecord& fc;
  const http_request_view& req;
  std::vector<std::string_view> params;  // the {…} segments of the route, in order
  std::string_view query;
  millis now;
};

using rest_handler = std::function<http_reply(rest_call&)>;

struct rest_route {
  std::string_view method, pattern;
  route_limit limit;
  rest_handler handler;
};

http_reply discord_error(int status, int code, std::string_view message);
// 50035 Invalid Form Body with one field's error.
http_reply form_error(std::string_view field, std::string_view code, std::string_view message);
http_reply no_content();  // 204
std::string_view query_value(std::string_view query, std::string_view key);
std::int64_t wall_ms(const fakecord& fc);

// The guild and channel (or active thread) of a channel id in a guild the bot is in.
struct channel_at {
  int guild = -1;
  const channel_state* channel = nullptr;
  guild_state scratch;  // a derived guild's state, which `channel` may point into
};
bool find_channel(const world& wd, std::string_view id_text, channel_at& out);
// A guild the bot is in; else `error` is Discord's answer (10004 unknown, 50001 not a member).
std::optional<int> find_guild(const world& wd, std::string_view id_text, http_reply& error);

// The fields Create/Edit Message (and an interaction's message data) take, from a JSON object, validated as
// Discord does (content ≤ 2000, not empty when creating); the error to answer otherwise.
std::optional<http_reply> read_message_fields(std::string_view json, stored_message& m, bool creating);

// A message made, changed or gone through REST, dispatched to the sessions that see its channel.
void dispatch_message(fakecord& fc, std::string_view t, const stored_message& m);

// A stored message as REST answers it; edited (MESSAGE_UPDATE) or deleted (MESSAGE_DELETE) through REST.
http_reply message_reply(fakecord& fc, const stored_message& m);
std::optional<http_reply> edit_stored_message(fakecord& fc, stored_message& m, std::string_view json);
void delete_stored_message(fakecord& fc, const stored_message& m);

// The route groups.
std::vector<rest_route> message_routes();
std::vector<rest_route> interaction_routes();

}  // namespace g::sim
