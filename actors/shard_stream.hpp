#pragma once
// The io side of a shard, on its io thread (io_threads.hpp): files every dispatch under the session it arrived in,
// encodes it straight into the commit's wire format, commits it through the thread's Redis connection and handles
// the answer there, and paces the socket by what waits for Redis. Only what the shard's actor decides on crosses
// to it: phase changes, a refused commit (fenced, superseded, a gap), member requests to make, and "drained"
// when it asked. Include only in shard_actor.cpp.
#include <caf/actor.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "net/gateway/session_snapshot.hpp"
#include "net/gateway/shard_connection.hpp"
#include "net/redis/commit_batch.hpp"
#include "net/redis/shard_store.hpp"

namespace g::actors {

struct node_env;
class io_lane;

class shard_stream : public net::shard_listener, public std::enable_shared_from_this<shard_stream> {
 public:
  // `prepared`: its set is one a reshard prepares (not in force yet).
  shard_stream(caf::actor shard, io_lane& lane, node_env& env, int total, int id, bool prepared);

  // Before the connection starts (any thread): a session handed in from Redis; events before RESUMED belong to it.
  void adopt(const net::session_state& s);
  // From here on, on the lane's thread only:
  void attach(net::shard_connection* conn) { conn_ = conn; }  // paced by the stream until close()
  // The shard set became the one in force (a reshard's switch): a session's opening dispatches are written like
  // any other from now on, and guilds are chunked.
  void promote() { prepared_ = false; }
  // The actor hears `drained` once nothing waits for Redis (at once if nothing does).
  void drain();
  // Stops for good: nothing more is committed or reported; what waits is dropped (its next owner resumes).
  void close();

  // The committed seq, for the actor's status (any thread).
  std::int64_t committed_seq() const { return committed_seq_.load(std::memory_order_relaxed); }

  void on_dispatch(const net::gateway_frame& f, std::string_view message) override;
  void on_report(const net::shard_report& r) override;

 private:
  void commit_soon();
  void commit();
  void on_commit_answer(const net::redis_reply& reply);
  void retry_later();
  void pace_reading();
  template <class F>
  void update_board(F&& f);

  static constexpr std::size_t batch_capacity = 50000;

  caf::actor shard_;
  io_lane& lane_;
  node_env& env_;
  const int total_, id_;
  bool prepared_;
  net::commit_head head_;  // the commit's arguments before the events
  // Prepared: the session whose guilds have all come, told to the actor once Redis has their openings ("*"), so that
  // reshard:live never says "live" before reshard:present has every guild.
  std::string opened_session_;
  std::int64_t opened_seq_ = 0;
  net::session_snapshot snapshot_;
  std::shared_ptr<const net::session_tag> tag_;
  net::commit_batch batch_{batch_capacity};
  net::shard_connection* conn_ = nullptr;
  std::uint64_t received_ = 0;  // dispatches not yet added to the node's counter
  bool commit_posted_ = false, retrying_ = false, draining_ = false, closed_ = false, reading_paused_ = false;
  bool failing_ = false;  // its last commit failed (the io lane counts such shards: io_lane::note_commit)
  std::atomic<std::int64_t> committed_seq_{0};
};

}  // namespace g::actors
