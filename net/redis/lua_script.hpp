#pragma once
// A Lua script and its SHA-1, computed once: calls go by EVALSHA, and by EVAL only when Redis has lost its
// scripts (redis_connection::eval).
#include <string>

#include "net/redis/redis_connection.hpp"

namespace g::net {

struct lua_script {
  std::string text;
  std::string sha = redis_connection::sha1_hex(text);
};

}  // namespace g::net
