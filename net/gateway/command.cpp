#include "net/gateway/command.hpp"

#include <simdjson.h>

namespace g::net {

std::string_view result_name(command_result r) {
  switch (r) {
    case command_result::sent: return "sent";
    case command_result::rejected_unknown_op: return "unknown_op";
    case command_result::rejected_bad_json: return "bad_json";
    case command_result::rejected_too_large: return "too_large";
    case command_result::rejected_queue_full: return "no_budget";
    case command_result::rejected_not_running: return "not_ready";
  }
  return "unknown";
}

bool is_backend_command(int op) { return op == 3 || op == 4 || op == 8 || op == 31 || op == 43; }

command_check check_command(int op, std::string_view d_json) {
  command_check r;
  if (!is_backend_command(op)) {
    r.rejection = command_result::rejected_unknown_op;
    r.error = "op " + std::to_string(op) + " is not a command backends may send (3, 4, 8, 31, 43)";
    return r;
  }
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::element d;
  if (parser.parse(d_json.data(), d_json.size()).get(d) != simdjson::SUCCESS) {
    r.rejection = command_result::rejected_bad_json;
    r.error = "d is not valid JSON";
    return r;
  }
  if (d.type() != simdjson::dom::element_type::OBJECT) {
    r.rejection = command_result::rejected_bad_json;
    r.error = "d must be a JSON object";
    return r;
  }
  std::string payload = "{\"op\":" + std::to_string(op) + ",\"d\":" + std::string(d_json) + "}";
  if (payload.size() > max_gateway_payload) {
    r.rejection = command_result::rejected_too_large;
    r.error = "payload is " + std::to_string(payload.size()) + " bytes; Discord accepts at most 4096";
    return r;
  }
  r.payload = std::move(payload);
  return r;
}

}  // namespace g::net
