#pragma once
// What a node tells operators over HTTP: Prometheus metrics, a health check, and its view as JSON.
#include <string>

#include "net/http/http_server.hpp"

namespace g::actors {

struct node_env;

net::http_answer metrics_page(const node_env& env);
net::http_answer health_page(const node_env& env);
net::http_answer status_json(const node_env& env);
// Routes /metrics, /healthz, /status.json (anything else: 404).
net::http_answer route_status(const node_env& env, std::string_view method, std::string_view target);

}  // namespace g::actors
