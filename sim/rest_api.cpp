// Discord's REST endpoints that client libraries call before they connect (reference: real clients).
#include "net/json/json_writer.hpp"
#include "sim/http_api.hpp"

namespace g::sim {

namespace {

http_reply error_reply(int status, std::string_view message) {
  http_reply r;
  r.status = status;
  json::writer w(r.body);
  w.begin_object().field("message", message).field("code", 0).end_object();
  return r;
}

bool authorized(const fakecord& fc, std::string_view auth) {
  if (auth.rfind("Bot ", 0) != 0) return false;
  auth.remove_prefix(4);
  return !auth.empty() && (fc.opts().token.empty() || auth == fc.opts().token);
}

}  // namespace

http_reply handle_http(fakecord& fc, const http_request_view& req, millis now) {
  std::string_view path = req.target.substr(0, req.target.find('?'));
  for (std::string_view prefix : {"/api/v10", "/api/v9", "/api"}) {
    if (path.rfind(prefix, 0) == 0 && (path.size() == prefix.size() || path[prefix.size()] == '/'))
      return handle_rest(fc, req, path.substr(prefix.size()), now);
  }
  if (path.rfind("/_fakecord/", 0) == 0) return handle_admin(fc, req, path.substr(11), now);
  return error_reply(404, "404: Not Found");
}

http_reply handle_rest(fakecord& fc, const http_request_view& req, std::string_view route, millis now) {
  const bool known = route == "/gateway" || route == "/gateway/bot" || route == "/users/@me" ||
                     route == "/oauth2/applications/@me";
  if (!known) return error_reply(404, "404: Not Found");
  if (req.method != "GET") return error_reply(405, "405: Method Not Allowed");
  if (auto& f = fc.pending_rest_fault(); f.count > 0) {
    --f.count;
    if (f.status == 429) {
      http_reply r;
      r.status = 429;
      json::writer w(r.body);
      w.begin_object().field("message", "You are being rate limited.").field("retry_after", f.retry_after)
          .field("global", false).end_object();
      return r;
    }
    return error_reply(f.status, std::to_string(f.status) + ": injected failure");
  }
  http_reply r;
  json::writer w(r.body);
  if (route == "/gateway") {
    w.begin_object().field("url", fc.gateway_url()).end_object();
    return r;
  }
  if (!authorized(fc, req.authorization)) return error_reply(401, "401: Unauthorized");
  const world& wd = fc.data();
  if (route == "/gateway/bot") {
    auto& b = fc.budget();
    w.begin_object()
        .field("url", fc.gateway_url())
        .field("shards", fc.opts().recommended_shards())
        .key("session_start_limit")
        .begin_object()
        .field("total", b.total())
        .field("remaining", b.remaining(now))
        .field("reset_after", b.reset_after(now))
        .field("max_concurrency", fc.identify().max_concurrency())
        .end_object()
        .end_object();
  } else if (route == "/users/@me") {
    wd.write_bot_user(w);
  } else {
    w.begin_object()
        .id_field("id", wd.application_id())
        .field("name", wd.bot_name())
        .null_field("icon")
        .field("description", "")
        .field("summary", "")
        .field("bot_public", true)
        .field("bot_require_code_grant", false)
        .field("verify_key", "0f2c3e5d7a9b1c4e6f8a0b2d4c6e8f0a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e")
        .field("flags", 41975808)
        .null_field("team")
        .key("owner");
    wd.write_owner_user(w);
    w.key("bot");
    wd.write_bot_user(w);
    w.end_object();
  }
  return r;
}

}  // namespace g::sim
