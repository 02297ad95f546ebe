#pragma once
// What a bot's proxy session asks of the proxy node it is connected to. Answers come back on the session's io
// thread through the bot_session methods named beside each call, addressed by the session's connection number
// (a session may be gone by then: the hub drops answers for numbers it no longer knows).
#include <cstdint>
#include <string>
#include <vector>

namespace g::proxy {

struct session_record {
  std::string session_id;
  int shard = 0, total = 1;
  std::uint64_t intents = 0;
  std::uint64_t stream_intents = 0;  // G's intents when the session began (the gate depends on them)
  std::vector<std::string> nonces;
};

struct resume_point {
  std::string error;  // set when Redis failed: nothing is known about the session
  session_record record;
  bool found_mark = false;  // false: the bot's seq is older than every mark kept
  std::int64_t seq = 0;     // the mark: after counting `seq`, the cursor was `entry_id`
  std::string entry_id;
};

class bot_session;

class proxy_hub {
 public:
  virtual ~proxy_hub() = default;
  // Connection numbers: a session registers when it is created and leaves when it is destroyed.
  virtual std::uint64_t attach(bot_session* s) = 0;
  virtual void detach(std::uint64_t conn) = 0;
  // G's shard total in force (the `shard_count` key), 0 while unknown.
  virtual int shard_count() const = 0;
  virtual void request_snapshot(std::uint64_t conn, int shard, bool presences) = 0;        // → on_snapshot
  virtual void request_resume(std::uint64_t conn, std::string session_id, std::int64_t seq) = 0;  // → on_resume_point
  // Entries of the stream after `after_id` (offer), read at the session's pace, then live entries of its shard
  // (offer) once it has caught up (on_caught_up); on_gap instead when the stream no longer holds `after_id`'s successor.
  virtual void follow(std::uint64_t conn, int shard, std::string after_id) = 0;
  // Writes to a session's record and marks are made only by the connection that owns it (the one that identified or
  // last resumed it, on any proxy node); a connection whose write finds another owner is closed (close_taken_over).
  virtual void save_session(std::uint64_t conn, const session_record& r) = 0;
  virtual void save_mark(std::uint64_t conn, const std::string& session_id, std::int64_t seq, const std::string& entry_id,
                         bool only) = 0;
  virtual void keep_session(std::uint64_t conn, const std::string& session_id) = 0;  // the resume window starts now
  virtual void end_session(std::uint64_t conn, const std::string& session_id) = 0;   // no RESUME of it will be accepted
  virtual void send_command(int shard, int op, std::string d) = 0;
  // A RESUME took the session: this connection owns it from now on; its other connection on this node is closed.
  virtual void claim_session(std::uint64_t conn, const std::string& session_id) = 0;
};

}  // namespace g::proxy
