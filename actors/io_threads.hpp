#pragma once
// The node's io threads ([node] io_threads; default one per core). Each runs one io_context on one thread and owns
// a set of shards (shard id modulo the count): their gateway connections, their events, and the commits of those
// events through the thread's own Redis connection (a redis_pipe). An event stays on the thread that read it until
// Redis has it, as Seastar keeps data on the core that produced it: nothing on that path is shared between threads.
// The first thread also serves the HTTP endpoints and the identify gate's timers. Lease renewals, registration and
// the master lease go through the control connection (redis_worker), so no commit round delays them.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/redis/shard_store.hpp"

namespace boost::asio {
class io_context;
}

namespace g::net {
class redis_pipe;
class redis_worker;
}  // namespace g::net

namespace g::actors {

struct node_counters;

// Whether Redis takes the node's commits, across its io threads: an outage (refused or unanswered commits) is logged
// once when it starts and once when it ends, and counted once, however many threads see it.
class commit_health {
 public:
  explicit commit_health(node_counters& counters) : counters_(counters) {}
  // A thread's commits started (failing) or stopped (!failing) failing; `why` is the first failure's reason.
  // `left`: not a recovery, the thread's last failing shard left it (moved, stopped) during the outage.
  void note(bool failing, const std::string& why, const std::string& address, bool left = false);
  // A thread connected to `address`: a server other than the last one is logged (a failover).
  void note_server(const std::string& address);

 private:
  node_counters& counters_;
  std::mutex mu_;
  int failing_ = 0;  // threads whose commits fail now
  std::int64_t since_ms_ = 0;
  std::string address_;
};

class io_lane {
 public:
  io_lane(std::size_t index, commit_health& health);
  ~io_lane();
  boost::asio::io_context& io() { return *io_; }
  net::redis_pipe& pipe() { return *pipe_; }
  std::size_t index() const { return index_; }
  // Every commit's answer, on this lane's thread: only a change (failing or not, another server) reaches the
  // node-wide health. `stream_failing` is the committing shard's own mark: the thread fails while any of its
  // shards' last commit failed.
  void note_commit(const net::commit_result& r, bool& stream_failing);
  // A shard's stream closed: if its last commit had failed, the thread stops counting it.
  void forget(bool& stream_failing);
  // The loop's pass is over: the commits it queued go to Redis in one write (the pipe holds them until now).
  void end_pass();

 private:
  friend class io_threads;
  std::size_t index_;
  commit_health& health_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<net::redis_pipe> pipe_;
  std::size_t failing_streams_ = 0;  // shards whose last commit failed
  std::uint64_t connections_ = 0;
};

class io_threads {
 public:
  // `count` 0: one per core. Under load a thread wakes at most once per `batch_us` (0: for every frame). The threads
  // start with run().
  io_threads(std::size_t count, int batch_us, node_counters& counters);
  ~io_threads();  // stop()
  std::size_t size() const { return lanes_.size(); }
  io_lane& lane(std::size_t i) { return *lanes_[i]; }
  io_lane& for_shard(int id) { return *lanes_[static_cast<std::size_t>(id) % lanes_.size()]; }
  boost::asio::io_context& first() { return lanes_.front()->io(); }

  // Each thread's commit connection. With sentinels it goes where `control` (the node's control connection, which
  // asks them) found the master, and follows it.
  void open_pipes(const net::redis_endpoint& endpoint, net::redis_worker& control);
  void run();
  void stop();  // stops the threads (what is still queued on them is dropped) and joins them

 private:
  commit_health health_;
  int batch_us_;
  std::vector<std::unique_ptr<io_lane>> lanes_;
  struct running;
  std::unique_ptr<running> running_;
};

}  // namespace g::actors
