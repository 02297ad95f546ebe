#pragma once
// The proxy_hub of a proxy node, backed by Redis: one thread reads the events stream once for every bot connected to
// this node (XREAD BLOCK, from the stream's end) and hands each batch to the io thread, which offers each entry to
// the live sessions of its shard; two blocking connections on their own threads do the rest, so a large snapshot
// never delays a bot's commands: `reads` (snapshots, catch-up XRANGEs, resume lookups) and `writes` (commands,
// session records and marks, the shard count).
//
// A session that is behind (after its snapshot, or resuming) catches up with XRANGE rounds at its own pace, then
// joins the live feed. It joins only when a round reached at least the feed's position, so no entry falls between
// the two; entries it sees twice are dropped by its cursor.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <vector>

#include "net/redis/event_stream.hpp"
#include "net/redis/redis_connection.hpp"
#include "net/redis/redis_worker.hpp"
#include "proxy/proxy_hub.hpp"
#include "proxy/proxy_keys.hpp"

namespace g::proxy {

class stream_hub : public proxy_hub {
 public:
  using post_fn = std::function<void(std::function<void()>)>;  // runs a function on the io thread
  using clock_fn = std::function<std::int64_t()>;

  stream_hub(net::redis_endpoint redis, const std::string& group, std::int64_t resume_window_ms, post_fn post,
             clock_fn now);
  ~stream_hub() override;

  // Starts the feed thread.
  void start();
  // Stops the feed and the Redis threads (their answers may still be posted, never run: the io thread must be
  // stopped first). Sessions may still detach afterwards.
  void stop();
  // Every ~100 ms on the io thread: sessions' heartbeats and marks, paused catch-ups, the shard count.
  void tick(std::int64_t now_ms);
  std::size_t sessions() const { return sessions_.size(); }

  std::uint64_t attach(bot_session* s) override;
  void detach(std::uint64_t conn) override;
  int shard_count() const override { return shard_count_; }
  void request_snapshot(std::uint64_t conn, int shard, bool presences) override;
  void request_resume(std::uint64_t conn, std::string session_id, std::int64_t seq) override;
  void follow(std::uint64_t conn, int shard, std::string after_id) override;
  void save_session(std::uint64_t conn, const session_record& r) override;
  void save_mark(std::uint64_t conn, const std::string& session_id, std::int64_t seq, const std::string& entry_id,
                 bool only) override;
  void keep_session(std::uint64_t conn, const std::string& session_id) override;
  void end_session(std::uint64_t conn, const std::string& session_id) override;
  void send_command(int shard, int op, std::string d) override;
  void claim_session(std::uint64_t conn, const std::string& session_id) override;

 private:
  struct follower {
    int shard = 0;
    std::string seen_through;  // every entry up to here was offered
    bool in_flight = false;
  };
  using batch = std::shared_ptr<const std::vector<net::stream_entry>>;

  void read_feed();  // the feed thread
  void on_feed(const batch& entries);
  void next_round(std::uint64_t conn);
  void on_round(std::uint64_t conn, std::optional<std::vector<net::stream_entry>> entries, std::string oldest,
                std::string error);
  void join_live(std::uint64_t conn, int shard);
  void leave_live(std::uint64_t conn);
  void redis_trouble(const std::string& what);
  // One write to a session's keys, made only while `conn` owns the session (see session_script).
  void owned_write(std::uint64_t conn, const std::string& session_id, std::vector<std::string> args);
  bot_session* find(std::uint64_t conn) const;

  net::redis_endpoint endpoint_;
  std::string prefix_;
  proxy_keys keys_;
  std::string events_key_;
  std::string instance_;  // this proxy's random id: owners are "<instance>:<conn>"
  std::int64_t resume_window_ms_;
  post_fn post_;
  clock_fn now_;

  // io thread
  std::uint64_t next_conn_ = 1;
  std::unordered_map<std::uint64_t, bot_session*> sessions_;
  std::unordered_map<std::uint64_t, follower> followers_;  // sessions still catching up
  std::map<int, std::vector<std::uint64_t>> live_;          // shard → sessions fed live
  std::string position_;                                    // the last entry the feed offered; "" until known
  int shard_count_ = 0;
  std::int64_t shard_count_read_at_ = -1000000;
  bool redis_down_ = false;

  std::atomic<bool> stopping_{false};
  std::unique_ptr<net::redis_worker> reads_, writes_;
  std::thread feed_;
};

}  // namespace g::proxy
