#include "net/gateway/frame_scanner.hpp"

#include <simdjson.h>

#include <cstring>

#include "net/discord/snowflake.hpp"

namespace g::net {

namespace od = simdjson::ondemand;

struct frame_scanner::impl {
  od::parser parser;
  std::string copy;  // for inputs without room for simdjson's padding
};

frame_scanner::frame_scanner() : impl_(std::make_unique<impl>()) {}
frame_scanner::~frame_scanner() = default;

namespace {

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_guild_event(std::string_view t) { return t == "GUILD_CREATE" || t == "GUILD_UPDATE" || t == "GUILD_DELETE"; }

}  // namespace

bool frame_scanner::scan(const char* data, std::size_t size, std::size_t capacity, gateway_frame& out) {
  out = gateway_frame{};
  out.d = "null";
  if (capacity < size + padding) {
    impl_->copy.assign(data, size);
    impl_->copy.resize(size + padding);
    data = impl_->copy.data();
    capacity = impl_->copy.size();
  }
  auto fail = [this](const char* what, simdjson::error_code e) {
    error_ = std::string(what) + ": " + simdjson::error_message(e);
    return false;
  };
  od::document doc;
  if (auto e = impl_->parser.iterate(simdjson::padded_string_view(data, size, capacity)).get(doc)) return fail("not JSON", e);
  od::object top;
  if (auto e = doc.get_object().get(top)) return fail("not a JSON object", e);
  od::object d_object;
  bool d_is_object = false;
  for (auto field : top) {
    std::string_view key;
    od::value v;
    if (auto e = field.unescaped_key().get(key)) return fail("bad key", e);
    if (auto e = field.value().get(v)) return fail("bad value", e);
    if (key == "op") {
      std::int64_t op;
      if (auto e = v.get_int64().get(op)) return fail("op is not an integer", e);
      out.op = static_cast<int>(op);
    } else if (key == "s") {
      std::int64_t s;
      bool null = false;
      if (v.is_null().get(null) == simdjson::SUCCESS && null) continue;
      if (auto e = v.get_int64().get(s)) return fail("s is not an integer", e);
      out.s = s;
    } else if (key == "t") {
      bool null = false;
      if (v.is_null().get(null) == simdjson::SUCCESS && null) continue;
      if (auto e = v.get_string().get(out.t)) return fail("t is not a string", e);
    } else if (key == "d") {
      od::json_type type;
      if (auto e = v.type().get(type)) return fail("bad d", e);
      if (type == od::json_type::object) {
        if (auto e = v.get_object().get(d_object)) return fail("bad d", e);
        if (auto e = d_object.raw_json().get(out.d)) return fail("bad d", e);
        d_is_object = true;
      } else if (type == od::json_type::array) {
        od::array a;
        if (auto e = v.get_array().get(a)) return fail("bad d", e);
        if (auto e = a.raw_json().get(out.d)) return fail("bad d", e);
      } else {
        out.d = trim_right(v.raw_json_token());
      }
    }
    // Other keys (_trace at the top level, say) are skipped.
  }
  if (out.op < 0) {
    error_ = "no op";
    return false;
  }
  if (d_is_object && out.op == 0) {
    // The guild is read after `t` is known, wherever `d` stood in the message.
    if (auto e = d_object.reset().error()) return fail("bad d", e);
    std::string_view id;
    if (d_object.find_field_unordered(is_guild_event(out.t) ? "id" : "guild_id").get_string().get(id) == simdjson::SUCCESS)
      out.guild_id = discord::parse_snowflake(id).value_or(out.guild_id);
  }
  return true;
}

}  // namespace g::net
