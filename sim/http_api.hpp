#pragma once
// g-fakecord's HTTP surface without the network: Discord's REST endpoints that clients call at start, and the
// admin API under /_fakecord/. Each takes a parsed request and returns the reply.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/fakecord.hpp"

namespace g::sim {

struct http_request_view {
  std::string_view method;
  std::string_view target;  // path + query
  std::string_view authorization;
  std::string_view body;
};

struct http_reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Server and Content-Type
  std::string content_type = "application/json";  // exactly this: discord.py rejects "; charset=…"
};

// Routes /api/… to the REST handlers and /_fakecord/… to the admin API.
http_reply handle_http(fakecord& fc, const http_request_view& req, millis now);

// An admin API error: {"error": message}.
http_reply admin_error(int status, std::string_view message);

http_reply handle_rest(fakecord& fc, const http_request_view& req, std::string_view route, millis now);
http_reply handle_admin(fakecord& fc, const http_request_view& req, std::string_view route, millis now);

}  // namespace g::sim
