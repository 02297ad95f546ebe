#pragma once
// One string of a JSON document, by JSON pointer (RFC 6901, e.g. "/meta/nonce"), without keeping the document: what
// the proxy needs to look at in a payload it otherwise passes on byte for byte. Reuses one parser per thread.
#include <string>
#include <string_view>

namespace g::proxy {

// "" when the pointer leads nowhere or not to a string; `present` (when given) says whether it leads to a non-null
// value of any type.
std::string json_string_at(std::string_view json, const char* pointer, bool* present = nullptr);

}  // namespace g::proxy
