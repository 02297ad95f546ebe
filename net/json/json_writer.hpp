#pragma once
// Append-only JSON text writer. Payloads are written straight into a reusable std::string:
// no DOM, no intermediate allocation per field.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace g::json {

class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}

  writer& begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  writer& end_object() { out_ += '}'; first_ = false; return *this; }
  writer& begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  writer& end_array() { out_ += ']'; first_ = false; return *this; }

  // Writes `"name":`; the next value call writes the value without a separator.
  writer& key(std::string_view name) {
    sep();
    append_string(name);
    out_ += ':';
    first_ = true;
    return *this;
  }

  writer& value(std::string_view s) { sep(); append_string(s); return *this; }
  writer& value(const char* s) { return value(std::string_view{s}); }
  writer& value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
  writer& value(std::int64_t n) { sep(); append_number(n); return *this; }
  writer& value(std::uint64_t n) { sep(); append_number(n); return *this; }
  writer& value(int n) { return value(static_cast<std::int64_t>(n)); }
  writer& value(unsigned n) { return value(static_cast<std::uint64_t>(n)); }
  writer& value(double d);
  writer& null() { sep(); out_ += "null"; return *this; }
  // A snowflake: always a JSON string, as Discord sends it.
  writer& id(std::uint64_t snowflake) {
    sep();
    out_ += '"';
    append_number(snowflake);
    out_ += '"';
    return *this;
  }
  // Already-serialised JSON inserted verbatim (the caller vouches for its validity).
  writer& raw(std::string_view json) { sep(); out_ += json; return *this; }

  template <class V>
  writer& field(std::string_view name, V&& v) {
    key(name);
    return value(std::forward<V>(v));
  }
  writer& null_field(std::string_view name) { key(name); return null(); }
  writer& id_field(std::string_view name, std::uint64_t snowflake) { key(name); return id(snowflake); }
  writer& raw_field(std::string_view name, std::string_view json) { key(name); return raw(json); }

  std::string& out() { return out_; }

  static void escape_into(std::string& out, std::string_view s);

 private:
  template <class N>
  void append_number(N n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void append_string(std::string_view s) {
    out_ += '"';
    escape_into(out_, s);
    out_ += '"';
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace g::json
