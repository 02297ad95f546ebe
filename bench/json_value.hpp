#pragma once
// Integers of a small JSON document (g-fakecord's stats). Benchmarks only.
#include <simdjson.h>

#include <cstdint>
#include <string>

namespace g::bench {

// An integer at a JSON pointer: -1 when absent.
inline std::int64_t json_int(const std::string& json, const char* pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  std::int64_t v = -1;
  if (p.parse(json).get(e) == simdjson::SUCCESS && e.at_pointer(pointer).get(v) == simdjson::SUCCESS) return v;
  return -1;
}

// The sum of the integer fields of the object at a JSON pointer (g-fakecord's `violations`): -1 when absent.
inline std::int64_t json_sum(const std::string& json, const char* pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  simdjson::dom::object o;
  if (p.parse(json).get(e) != simdjson::SUCCESS || e.at_pointer(pointer).get(o) != simdjson::SUCCESS) return -1;
  std::int64_t n = 0;
  for (auto field : o) {
    std::int64_t k = 0;
    if (field.value.get(k) == simdjson::SUCCESS) n += k;
  }
  return n;
}

}  // namespace g::bench
