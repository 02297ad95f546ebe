#pragma once
// An integer at a JSON pointer of a small document (g-fakecord's stats): -1 when absent. Benchmarks only.
#include <simdjson.h>

#include <cstdint>
#include <string>

namespace g::bench {

inline std::int64_t json_int(const std::string& json, const char* pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  std::int64_t v = -1;
  if (p.parse(json).get(e) == simdjson::SUCCESS && e.at_pointer(pointer).get(v) == simdjson::SUCCESS) return v;
  return -1;
}

}  // namespace g::bench
