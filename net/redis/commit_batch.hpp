#pragma once
// A shard's events on their way to Redis, kept as the commit's event arguments already in Redis's wire format
// (seq, t, d, ts, guild per event: resp.hpp), so that a dispatch is copied once, from the inflated message into
// the bytes Redis reads. Segments of one session each (an event belongs to the session it arrived in, even after
// a new session started), at most `max_batch` events; one segment in flight at a time; bounded, so that a Redis
// outage pushes back on the socket instead of growing without limit. Pure.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "net/redis/resp.hpp"

namespace g::net {

struct session_tag {
  std::string session_id;
  std::string resume_url;
};

struct commit_segment {
  std::shared_ptr<const session_tag> session;
  std::shared_ptr<std::string> wire;  // shared with the Redis connection while it is written
  std::size_t events = 0;
  std::int64_t first_seq = 0, last_seq = 0;
};

class commit_batch {
 public:
  explicit commit_batch(std::size_t capacity = 50000, std::size_t max_batch = 1000)
      : capacity_(capacity), max_batch_(max_batch) {}

  // An empty t: filtered out (its seq still moves); "*": it opens a prepared session (shard_store.hpp).
  void add(const std::shared_ptr<const session_tag>& session, std::int64_t seq, std::string_view t, std::string_view d,
           std::int64_t ts_ms, std::uint64_t guild_id) {
    // The segment in flight is being written: it takes nothing more.
    bool open = !segments_.empty() && segments_.back().session == session && segments_.back().events < max_batch_ &&
                !(in_flight_ && segments_.size() == 1);
    if (!open) {
      segments_.push_back({session, std::make_shared<std::string>(), 0, seq, seq});
      segments_.back().wire->reserve(t.size() + d.size() + 96);
    }
    commit_segment& s = segments_.back();
    resp::append_bulk_number(*s.wire, seq);
    resp::append_bulk(*s.wire, t);
    resp::append_bulk(*s.wire, d);
    resp::append_bulk_number(*s.wire, ts_ms);
    resp::append_bulk_number(*s.wire, guild_id);
    ++s.events;
    s.last_seq = seq;
    ++events_;
  }
  bool full() const { return events_ >= capacity_; }  // stop reading the socket
  bool empty() const { return events_ == 0; }
  std::size_t size() const { return events_; }
  bool in_flight() const { return in_flight_; }

  // The next segment to commit, or nullptr while one is in flight (or none waits). It stays in front until
  // committed() or failed().
  const commit_segment* take() {
    if (in_flight_ || segments_.empty()) return nullptr;
    in_flight_ = true;
    return &segments_.front();
  }
  const commit_segment* in_flight_segment() const { return in_flight_ ? &segments_.front() : nullptr; }
  void committed() {
    if (!in_flight_) return;
    events_ -= segments_.front().events;
    segments_.pop_front();
    in_flight_ = false;
  }
  // Redis did not answer: the segment stays in front, to be sent again.
  void failed() { in_flight_ = false; }
  void clear() {
    segments_.clear();
    events_ = 0;
    in_flight_ = false;
  }

 private:
  std::size_t capacity_, max_batch_;
  std::deque<commit_segment> segments_;
  std::size_t events_ = 0;
  bool in_flight_ = false;
};

}  // namespace g::net
