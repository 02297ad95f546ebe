#pragma once
// A blocking Redis connection (hiredis) with timeouts, AUTH/SELECT, pipelining and reconnect on demand. It is
// meant for a dedicated thread (redis_worker): nothing here may run on an actor or an io thread.
//
// With sentinels the master is found through them (SENTINEL get-master-addr-by-name) and followed: a connection to
// a server that is not (or no longer) the master is dropped when it answers READONLY, when the sentinels name
// another master (asked at most once a second, on use), or when it fails; the next call finds the master again.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct redisContext;
struct redisReply;

namespace g::net {

struct redis_address {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
  bool operator==(const redis_address& o) const { return host == o.host && port == o.port; }
};

struct redis_endpoint {
  redis_endpoint() = default;
  redis_endpoint(std::string host_, std::uint16_t port_, std::string password_ = "", int db_ = 0, std::int64_t timeout = 2000)
      : host(std::move(host_)), port(port_), password(std::move(password_)), db(db_), timeout_ms(timeout) {}

  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;  // for Redis and the sentinels alike
  int db = 0;
  std::int64_t timeout_ms = 2000;
  std::vector<redis_address> sentinels;  // non-empty: host/port are ignored, the sentinels name the master
  std::string sentinel_master;
  std::string client_name;  // CLIENT SETNAME on every connect (a node's: Redis then witnesses that it lives)
  // What logs and errors name: the server, or the sentinels' master name.
  std::string describe() const;
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
  // The server in use (or last tried): for log lines.
  std::string address() const;
  // Counts successful connections: a caller that saw another number before knows the server may have changed.
  std::uint64_t connections() const { return connections_; }
  // When Redis last answered a round trip (steady ms; 0: never). Any thread may read it.
  std::int64_t answered_ms() const { return answered_ms_; }

  // One command; nullopt-like: a reply of type error with the transport's message when the connection failed
  // (the connection is then dropped and the next call reconnects).
  redis_reply command(const std::vector<std::string_view>& argv);
  // Several commands in one round trip.
  std::vector<redis_reply> pipeline(const std::vector<std::vector<std::string_view>>& commands);
  // EVALSHA with a fallback to SCRIPT LOAD when Redis does not know the script (after a restart, say).
  redis_reply eval(const std::string& script, const std::string& sha1, const std::vector<std::string_view>& keys,
                   const std::vector<std::string_view>& args);

  // The master in use (set on each connect; nullopt before the first): connections that follow this one's master
  // (redis_pipe) compare with it. Any thread may call it.
  std::optional<redis_address> master_in_use() const;

  static std::string sha1_hex(std::string_view text);
  static redis_reply from_hiredis(const redisReply* r);
  // A reply standing for a transport failure (transport_failure() is true of it).
  static redis_reply transport_error(const std::string& why);
  // True when the reply means the transport failed (not a Redis-level error like WRONGTYPE).
  static bool transport_failure(const redis_reply& r) { return r.is_error() && r.text.rfind("connection: ", 0) == 0; }

 private:
  void drop(const std::string& why);
  bool connect();   // one attempt: the sentinels (if any), TCP, AUTH, SELECT, ROLE, the name
  void back_off();  // after a failure: calls fail at once for 200 ms, doubling to 1 s while failures go on
  // Sentinel mode: the master the sentinels name now, trying each in turn from the last one that answered.
  std::optional<redis_address> ask_sentinels();
  void drop_sentinel();
  bool moved_by_sentinels();  // the sentinels name another master than the one connected (asked once a second)

  redis_endpoint ep_;
  redisContext* ctx_ = nullptr;
  std::string error_;
  redis_address at_;                 // the server ctx_ is (or was last) connected to
  redisContext* sentinel_ = nullptr; // kept open between questions
  std::size_t sentinel_index_ = 0;
  std::int64_t asked_ms_ = 0;        // when the sentinels were last asked (steady clock)
  std::uint64_t connections_ = 0;
  std::atomic<std::int64_t> answered_ms_{0};
  // After a failed connect, calls fail at once for a moment instead of each waiting out the timeout: a queue of
  // jobs behind an unreachable Redis drains in milliseconds, so the ones that matter (lease renewals) learn soon.
  std::int64_t retry_after_ms_ = 0;
  std::int64_t backoff_ms_ = 0;
  bool sentinels_silent_ = false;  // none answered the last question
  bool name_refused_ = false;
  mutable std::mutex in_use_mu_;
  std::optional<redis_address> in_use_;
};

}  // namespace g::net
