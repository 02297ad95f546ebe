#pragma once
// REST requests a bot sends to the proxy's /api, forwarded unchanged to [discord] rest_url and answered unchanged
// (status, headers, body): Discord's rate limits and errors reach the bot as Discord sent them. Connections to the
// upstream are kept alive and reused while fresh; when a reused one fails before any answer, an idempotent request
// is sent again once on a fresh connection, and a POST or PATCH gets a 502 (it may have reached Discord).
// Runs on the proxy's io thread; heavy (Beast): included only by the proxy's shell.
#include <memory>
#include <string>

#include "net/http/gateway_sessions.hpp"
#include "net/url.hpp"

namespace g::proxy {

class rest_forward {
 public:
  // Throws std::runtime_error when `rest_url` is not an http(s) URL or `ca_file` cannot be read.
  rest_forward(boost::asio::io_context& io, const std::string& rest_url, const std::string& ca_file);
  ~rest_forward();

  // `target` is the request's target below the proxy's /api (e.g. "/v10/channels/1/messages?x=1").
  void forward(net::gateway_server::http_request req, std::string target,
               net::gateway_server::http_responder respond);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace g::proxy
