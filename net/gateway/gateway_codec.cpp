#include "net/gateway/gateway_codec.hpp"

#include <simdjson.h>

#include "net/json/json_writer.hpp"

namespace g::net {

namespace {

// One of each per thread: an io thread runs many shards, one message at a time.
frame_scanner& thread_scanner() {
  thread_local frame_scanner scanner;
  return scanner;
}

// HELLO's and READY's d, parsed once per connection (not the hot path) by a parser reused across the thread's
// shards.
class small_object {
 public:
  explicit small_object(std::string_view json) {
    thread_local simdjson::dom::parser parser;
    ok_ = parser.parse(json.data(), json.size()).get(doc_) == simdjson::SUCCESS;
  }
  bool text(const char* key, std::string& out) const {
    std::string_view s;
    if (!ok_ || doc_[key].get_string().get(s) != simdjson::SUCCESS) return false;
    out.assign(s);
    return true;
  }
  bool number(const char* key, std::int64_t& out) const { return ok_ && doc_[key].get(out) == simdjson::SUCCESS; }

 private:
  simdjson::dom::element doc_;
  bool ok_ = false;
};

}  // namespace

bool gateway_codec::decode(const char* data, std::size_t size, std::size_t capacity, gateway_event& out) {
  out.what = gateway_event::unknown;
  out.heartbeat_interval = 0;
  out.resumable = false;
  out.session_id.clear();
  out.resume_gateway_url.clear();
  frame_scanner& scanner = thread_scanner();
  if (!scanner.scan(data, size, capacity, out.frame)) {
    error_ = "undecodable gateway message: " + scanner.error();
    return false;
  }
  const gateway_frame& f = out.frame;
  switch (f.op) {
    case 0:
      if (f.t == "READY") {
        small_object d(f.d);
        if (!d.text("session_id", out.session_id) || out.session_id.empty()) {
          error_ = "READY without session_id";
          return false;
        }
        d.text("resume_gateway_url", out.resume_gateway_url);  // absent: RESUME goes to the bootstrap URL
        out.what = gateway_event::ready;
      } else if (f.t == "RESUMED") {
        out.what = gateway_event::resumed;
      } else {
        out.what = gateway_event::dispatch;
      }
      return true;
    case 1: out.what = gateway_event::heartbeat_request; return true;
    case 7: out.what = gateway_event::reconnect; return true;
    case 9:
      if (f.d != "true" && f.d != "false") {
        error_ = "INVALID_SESSION without a boolean d";
        return false;
      }
      out.what = gateway_event::invalid_session;
      out.resumable = f.d == "true";
      return true;
    case 10:
      if (!small_object(f.d).number("heartbeat_interval", out.heartbeat_interval) || out.heartbeat_interval <= 0) {
        error_ = "HELLO without heartbeat_interval";
        return false;
      }
      out.what = gateway_event::hello;
      return true;
    case 11: out.what = gateway_event::heartbeat_ack; return true;
    default: out.what = gateway_event::unknown; return true;  // Discord may add ops: ignored
  }
}

std::string gateway_codec::heartbeat(std::int64_t seq) {
  return seq < 0 ? R"({"op":1,"d":null})" : R"({"op":1,"d":)" + std::to_string(seq) + "}";
}

std::string gateway_codec::identify(const identify_params& p) {
  std::string out;
  json::writer w(out);
  w.begin_object().field("op", 2).key("d").begin_object()
      .field("token", p.token)
      .field("intents", p.intents)
      .key("properties").begin_object().field("os", "linux").field("browser", "g").field("device", "g").end_object()
      .field("compress", false)  // transport compression (zlib-stream) is negotiated in the URL instead
      .field("large_threshold", p.large_threshold)
      .key("shard").begin_array().value(p.shard_id).value(p.shard_count).end_array();
  if (!p.presence.empty()) w.raw_field("presence", p.presence);
  w.end_object().end_object();
  return out;
}

std::string gateway_codec::resume(const std::string& token, const std::string& session_id, std::int64_t seq) {
  std::string out;
  json::writer w(out);
  w.begin_object().field("op", 6).key("d").begin_object()
      .field("token", token)
      .field("session_id", session_id)
      .field("seq", seq)
      .end_object().end_object();
  return out;
}

}  // namespace g::net
