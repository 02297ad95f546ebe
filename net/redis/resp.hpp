#pragma once
// Redis's wire format (RESP2) for requests: an array of bulk strings. Written straight into the buffer a command
// leaves from, so a payload is copied once, from where it arrived to where Redis reads it.
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace g::net::resp {

// "*<count>\r\n": a command of `count` arguments follows.
inline void append_array_header(std::string& out, std::size_t count) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, count).ptr;
  out += '*';
  out.append(digits, end);
  out += "\r\n";
}

// "$<length>\r\n<bytes>\r\n": one argument, binary-safe.
inline void append_bulk(std::string& out, std::string_view bytes) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, bytes.size()).ptr;
  out += '$';
  out.append(digits, end);
  out += "\r\n";
  out.append(bytes);
  out += "\r\n";
}

template <class Integer>
void append_bulk_number(std::string& out, Integer n) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  append_bulk(out, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

// A whole command from its arguments.
template <class Args>
std::string command(const Args& args) {
  std::string out;
  append_array_header(out, args.size());
  for (std::string_view a : args) append_bulk(out, a);
  return out;
}

}  // namespace g::net::resp
