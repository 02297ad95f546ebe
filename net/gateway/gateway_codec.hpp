#pragma once
// Gateway messages in Discord's terms, both ways, with no I/O: decode() turns one inflated server message into a
// typed event, the encoders build the client's payloads. The socket code moves bytes and hands events to the
// session machine; it never looks at an opcode.
//
// Decoding locates op, s, t and d with the frame scanner (simdjson On-Demand, d's bytes left in place) and reads
// the few fields G needs from HELLO and READY. The scanner and the parser for those fields are one per thread,
// shared by every shard that thread runs: a shard keeps no parser (and no parser's buffers) of its own.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/gateway/frame_scanner.hpp"

namespace g::net {

struct gateway_event {
  enum kind {
    dispatch,           // op 0 (any t but READY and RESUMED)
    ready,              // op 0 READY: session_id, resume_gateway_url
    resumed,            // op 0 RESUMED
    heartbeat_request,  // op 1: answer with a heartbeat at once
    reconnect,          // op 7
    invalid_session,    // op 9: resumable
    hello,              // op 10: heartbeat_interval
    heartbeat_ack,      // op 11
    unknown,            // an op Discord may add later: ignored
  } what = unknown;
  gateway_frame frame;  // op, s, t, d and the guild: views into the decoded bytes, valid until the next decode
  std::int64_t heartbeat_interval = 0;
  bool resumable = false;
  std::string session_id, resume_gateway_url;

  bool carries_dispatch() const { return what == dispatch || what == ready || what == resumed; }
};

struct identify_params {
  std::string token;
  std::uint64_t intents = 0;
  int shard_id = 0, shard_count = 1;
  int large_threshold = 250;
  std::string presence;  // a JSON object, or empty
};

class gateway_codec {
 public:
  // `capacity`: how many bytes from `data` may be read (>= size; simdjson reads a little past the end). False when
  // the message cannot be trusted (not JSON, no op, HELLO without a positive heartbeat_interval, READY without a
  // session_id, op 9 without a boolean): error() says why, and the caller drops the connection and resumes.
  bool decode(const char* data, std::size_t size, std::size_t capacity, gateway_event& out);
  bool decode(std::string_view text, gateway_event& out) { return decode(text.data(), text.size(), text.size(), out); }
  const std::string& error() const { return error_; }

  static std::string heartbeat(std::int64_t seq);  // seq < 0: null (nothing received yet)
  static std::string identify(const identify_params& p);
  // Whether `payload` is one identify() built (it writes op first).
  static bool is_identify(std::string_view payload) { return payload.rfind(R"({"op":2,)", 0) == 0; }
  static std::string resume(const std::string& token, const std::string& session_id, std::int64_t seq);

 private:
  std::string error_;
};

}  // namespace g::net
