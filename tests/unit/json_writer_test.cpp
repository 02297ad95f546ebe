#include <doctest/doctest.h>
#include <simdjson.h>

#include "net/json/json_writer.hpp"

TEST_CASE("json::writer writes valid, escaped JSON") {
  std::string out;
  g::json::writer w(out);
  w.begin_object()
      .field("s", std::string_view("quote\" backslash\\ newline\n ctl\x01"))
      .field("n", 42)
      .field("b", false)
      .null_field("z")
      .id_field("id", 175928847299117063ULL)
      .key("a").begin_array().value(1).begin_object().end_object().begin_array().end_array().end_array()
      .raw_field("raw", R"({"x":[1,2]})")
      .end_object();
  CHECK(out == R"({"s":"quote\" backslash\\ newline\n ctl\u0001","n":42,"b":false,"z":null,"id":"175928847299117063","a":[1,{},[]],"raw":{"x":[1,2]}})");
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(out).get(doc) == simdjson::SUCCESS);
  std::string_view s;
  REQUIRE(doc["s"].get_string().get(s) == simdjson::SUCCESS);
  CHECK(s == "quote\" backslash\\ newline\n ctl\x01");
}
