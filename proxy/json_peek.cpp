#include "proxy/json_peek.hpp"

#include <simdjson.h>

namespace g::proxy {

std::string json_string_at(std::string_view json, const char* pointer, bool* present) {
  static thread_local simdjson::dom::parser parser;
  if (present) *present = false;
  simdjson::dom::element doc, value;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      doc.at_pointer(pointer).get(value) != simdjson::SUCCESS)
    return {};
  if (present) *present = !value.is_null();
  std::string_view s;
  return value.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

}  // namespace g::proxy
