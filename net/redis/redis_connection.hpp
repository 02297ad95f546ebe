#pragma once
// A blocking Redis connection (hiredis) with timeouts, AUTH/SELECT, pipelining and reconnect on demand. It is
// meant for a dedicated thread (redis_worker): nothing here may run on an actor or an io thread.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct redisContext;

namespace g::net {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;
  int db = 0;
  std::int64_t timeout_ms = 2000;
};

// A reply, flattened: nil, integer, string (also status), error, or array.
struct redis_reply {
  enum kind { nil, integer, string, status, error, array } type = nil;
  long long number = 0;
  std::string text;
  std::vector<redis_reply> elements;

  bool is_error() const { return type == error; }
  bool ok() const { return type == status && text == "OK"; }
};

class redis_connection {
 public:
  explicit redis_connection(redis_endpoint endpoint);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // Connects (or reconnects) if needed; false with last_error() when Redis cannot be reached.
  bool ensure_connected();
  bool connected() const { return ctx_ != nullptr; }
  const std::string& last_error() const { return error_; }

  // One command; nullopt-like: a reply of type error with the transport's message when the connection failed
  // (the connection is then dropped and the next call reconnects).
  redis_reply command(const std::vector<std::string_view>& argv);
  // Several commands in one round trip.
  std::vector<redis_reply> pipeline(const std::vector<std::vector<std::string_view>>& commands);
  // EVALSHA with a fallback to SCRIPT LOAD when Redis does not know the script (after a restart, say).
  redis_reply eval(const std::string& script, const std::string& sha1, const std::vector<std::string_view>& keys,
                   const std::vector<std::string_view>& args);

  static std::string sha1_hex(std::string_view text);
  // True when the reply means the transport failed (not a Redis-level error like WRONGTYPE).
  static bool transport_failure(const redis_reply& r) { return r.is_error() && r.text.rfind("connection: ", 0) == 0; }

 private:
  void drop(const std::string& why);
  redis_endpoint ep_;
  redisContext* ctx_ = nullptr;
  std::string error_;
};

}  // namespace g::net
