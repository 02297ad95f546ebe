#pragma once
// One shard's live gateway connection: the session_machine driven over a Beast WebSocket (ws:// or wss://),
// with transport decompression and the frame scanner on the hot path. All work runs on the given io_context, which
// one thread must run (an io lane: the thread is the shard's strand); the public functions are thread-safe. No CAF
// here: a G shard actor sits on top of it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/gateway/command.hpp"
#include "net/gateway/frame_scanner.hpp"
#include "net/gateway/session_machine.hpp"

namespace boost::asio {
class io_context;
}

namespace g::net {

class identify_gate;

struct shard_config {
  std::string gateway_url;  // bootstrap URL (from /gateway/bot)
  std::string token;
  int shard_id = 0;
  int shard_count = 1;
  std::uint64_t intents = 0;
  int large_threshold = 250;
  std::string presence;                  // initial presence: a JSON object, or empty
  std::string compress = "zlib-stream";  // zlib-stream | zstd-stream | none
  std::string ca_file;                   // also trust this CA (PEM) for wss://; the system store is always used
  session_timing timing;
  std::size_t max_queued_commands = 256;
  std::uint64_t seed = 0;                // jitter; 0: from the clock
};

struct shard_report {
  session_phase phase = session_phase::idle;
  session_state session;
  millis latency_ms = -1;
  std::string error;  // the last problem, for operators
  bool fatal = false; // stopped for good (bad token, shards, intents …)
};

class shard_listener {
 public:
  virtual ~shard_listener() = default;
  // Every dispatch, READY and RESUMED included, in order, on the io_context's thread. The frame's views point
  // into `message` and are valid only during the call.
  virtual void on_dispatch(const gateway_frame& frame, std::string_view message) = 0;
  // Phase or session changes (not every seq: each dispatch carries its own).
  virtual void on_report(const shard_report& report) = 0;
};


class shard_connection {
 public:
  shard_connection(boost::asio::io_context& io, shard_config config, identify_gate& gate, shard_listener& listener);
  ~shard_connection();
  shard_connection(const shard_connection&) = delete;
  shard_connection& operator=(const shard_connection&) = delete;

  // Starts with a session to resume (from another process, say) or none.
  void start(session_state initial = {});
  // Graceful: closes with a resumable code; the session stays valid for whoever resumes it. With end_session,
  // closes with 1000 instead: the session ends (its shard set was superseded by a reshard).
  void stop(bool end_session = false);
  // Queues a backend command (validated; within the send budget, behind heartbeats). `done` reports the outcome
  // and the reason on rejection; it runs on the io_context's thread.
  void send_command(int op, std::string d_json, std::function<void(command_result, std::string)> done = {});
  // Backpressure: stop reading the socket while the consumer cannot keep up (TCP then holds Discord back).
  // A long pause can cost the connection (no heartbeat ACK is read); the session then resumes from the last
  // sequence received, so nothing is lost.
  void pause_reading(bool paused);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace g::net
