#pragma once
// A minimal gateway client for g-fakecord's own tests: raw payloads in and out, inflated when the connection
// uses zlib-stream or zstd-stream, with timeouts on every wait. It makes no protocol decisions of its own.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace g::test {

using namespace std::chrono_literals;

class gateway_test_client {
 public:
  // target: path and query, e.g. "/?v=10&encoding=json&compress=zlib-stream".
  gateway_test_client(std::uint16_t port, std::string target = "/?v=10&encoding=json", bool tls = false);
  ~gateway_test_client();

  void send(std::string_view payload);
  // The next gateway message, or nullopt when the connection closed or nothing came in time.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 3s);
  std::optional<std::string> next_where(const std::function<bool(const std::string&)>& pred,
                                        std::chrono::milliseconds timeout = 3s);
  std::optional<std::string> next_op(int op, std::chrono::milliseconds timeout = 3s);
  std::optional<std::string> next_dispatch(std::string_view t, std::chrono::milliseconds timeout = 3s);

  // Waits for the connection to end: the close code from the server's close frame, 0 when the socket ended
  // without one, -1 when it is still open after `timeout`.
  int wait_closed(std::chrono::milliseconds timeout = 3s);
  void close(int code);
  void drop();  // TCP reset without a close frame

  // IDENTIFY and wait for READY; returns READY's payload (empty if it did not come).
  std::string identify(int shard, int shards, std::uint64_t intents = 513 | 32768, std::string_view token = "test-token",
                       std::chrono::milliseconds timeout = 5s);
  std::string resume(std::string_view session_id, std::int64_t seq, std::string_view token = "test-token");

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// Small accessors on a payload's JSON for assertions.
std::int64_t json_int(const std::string& json, std::string_view pointer);  // RFC 6901 pointer, e.g. "/d/seq"
std::string json_str(const std::string& json, std::string_view pointer);
bool json_has(const std::string& json, std::string_view pointer);
std::size_t json_array_size(const std::string& json, std::string_view pointer);

}  // namespace g::test
