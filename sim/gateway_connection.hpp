#pragma once
// One client's gateway connection as Discord runs it: HELLO, heartbeats, IDENTIFY/RESUME, commands, and every
// close code Discord sends. No I/O: bytes arrive through on_message, leave through the connection_sink.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/fakecord.hpp"

namespace simdjson::dom {
class element;
}
namespace g::net {
class client_decoder;
struct client_identify;
struct client_resume;
}  // namespace g::net

namespace g::sim {

using connection_params = net::socket_params;

class gateway_connection : public net::socket_handler {
 public:
  static constexpr std::int64_t reconnect_close_ms = 5000;
  // A client that does not read its socket is cut off, as Discord does, instead of growing memory without bound.
  static constexpr std::size_t max_queued_bytes = 64u << 20;  // op 7 is followed by a close if the client lingers

  gateway_connection(fakecord& fc, connection_sink& sink, connection_params params);
  ~gateway_connection();

  void on_open(millis now);
  void on_message(std::string_view payload, millis now) override;
  // The socket is gone: `client_code` is the client's close code, 0 when the TCP connection just ended.
  void on_socket_closed(int client_code, millis now) override;
  void tick(millis now);

  // A dispatch of the attached session (already carries its seq).
  void deliver(std::string_view payload);
  bool apply_fault(std::string_view kind, millis now);

  // The IDENTIFY accepted earlier starts its session now: READY, then a GUILD_CREATE per guild (fakecord's line).
  void start_session();

  session* current_session() const { return session_; }
  void forget_session() { session_ = nullptr; }  // the session ended elsewhere
  std::size_t backlog_bytes() const { return sink_.backlog_bytes(); }
  bool open() const { return !closed_; }
  std::string_view transport() const { return params_.compress.empty() ? "none" : params_.compress; }

 private:
  void handle_heartbeat();
  void handle_identify(const net::client_identify& id, millis now);
  void check_identify_arrival(millis now);
  void handle_resume(const net::client_resume& r);
  void handle_command(int op, const simdjson::dom::element& d, millis now);
  void request_guild_members(const simdjson::dom::element& d, millis now);
  void update_voice_state(const simdjson::dom::element& d);
  void request_soundboard_sounds(const simdjson::dom::element& d);
  void request_channel_info(const simdjson::dom::element& d);

  void send_control(std::string_view payload);
  void send_to_socket(std::string_view payload);  // non-dispatch payloads (HELLO, ACK, op 7/9)
  void close_with(int code, std::string_view reason, std::string_view violation_kind);
  void close_with(int code, std::string_view reason);
  void invalid_session(bool resumable);
  void release_session(bool end);  // detach the session: end it or park it for RESUME
  bool guild_on_shard(std::uint64_t guild_id) const;

  fakecord& fc_;
  connection_sink& sink_;
  connection_params params_;
  session* session_ = nullptr;
  // An accepted IDENTIFY whose session waits its turn to start (it counts as identified meanwhile).
  struct identified {
    int shard_id = 0, shard_count = 1, large_threshold = 50;
    std::uint64_t intents = 0;
    bool shard_sent = false;
    std::optional<std::string> presence;  // minified
    std::vector<int> guilds;              // the shard's, as READY lists them
  };
  std::optional<identified> identified_;
  bool closed_ = false;
  bool zombie_ = false;   // fault: heartbeats are no longer ACKed
  bool stalled_ = false;  // fault: nothing is sent any more
  millis now_ = 0;        // time of the event being handled
  millis last_heartbeat_ = 0;
  millis opened_ = 0;     // HELLO sent
  // The IDENTIFY just accepted (shard, arrival as recorded), until the next message says whether it was the newest
  // data on the socket when it was read.
  std::optional<std::pair<int, millis>> identify_arrival_;
  millis close_at_ = 0;   // pending close after op 7
  std::unique_ptr<net::client_decoder> decoder_;  // rate window and parser of this connection
  std::string out_;
};

}  // namespace g::sim
