#pragma once
// A shard's events on their way to Redis: buffered while a commit is in flight, committed in batches of one
// session each (an event belongs to the session it arrived in, even after a new session started), bounded so
// that a Redis outage pushes back on the socket instead of growing without limit. Pure.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "net/redis/shard_store.hpp"

namespace g::cluster {

struct session_tag {
  std::string session_id;
  std::string resume_url;
};

struct tagged_event {
  std::shared_ptr<const session_tag> session;
  net::stream_event event;
};

struct event_batch {
  std::shared_ptr<const session_tag> session;
  std::vector<net::stream_event> events;
  bool empty() const { return events.empty(); }
};

class commit_batch {
 public:
  explicit commit_batch(std::size_t capacity = 50000, std::size_t max_batch = 1000)
      : capacity_(capacity), max_batch_(max_batch) {}

  void add(tagged_event e) { pending_.push_back(std::move(e)); }
  bool full() const { return pending_.size() >= capacity_; }  // stop reading the socket
  bool empty() const { return pending_.empty(); }
  std::size_t size() const { return pending_.size(); }
  bool in_flight() const { return in_flight_; }

  // The next batch (at most max_batch events, all of one session), or an empty one while a batch is in flight.
  event_batch take() {
    event_batch b;
    if (in_flight_ || pending_.empty()) return b;
    b.session = pending_.front().session;
    while (!pending_.empty() && b.events.size() < max_batch_ && pending_.front().session == b.session) {
      b.events.push_back(std::move(pending_.front().event));
      pending_.pop_front();
    }
    in_flight_ = true;
    return b;
  }
  void committed() { in_flight_ = false; }
  // Redis was unreachable: the batch goes back in front, to be retried.
  void failed(event_batch b) {
    for (auto it = b.events.rbegin(); it != b.events.rend(); ++it) pending_.push_front({b.session, std::move(*it)});
    in_flight_ = false;
  }
  void clear() { pending_.clear(); }

 private:
  std::size_t capacity_, max_batch_;
  std::deque<tagged_event> pending_;
  bool in_flight_ = false;
};

}  // namespace g::cluster
