#pragma once
// One bot's gateway connection to the proxy, spoken as Discord speaks it: HELLO, heartbeats, IDENTIFY checked against
// G's token and shard count, READY and GUILD_CREATEs from the cache, then its shard's events from the stream with the
// session's own seq; RESUME replays from the stream. No I/O: bytes arrive through on_message and leave through the
// socket_sink; Redis is behind the proxy_hub; time is passed in.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http/socket_sink.hpp"
#include "net/redis/event_stream.hpp"
#include "proxy/event_gate.hpp"
#include "proxy/proxy_hub.hpp"
#include "proxy/snapshot.hpp"

namespace g::net {
class client_decoder;
struct client_identify;
struct client_resume;
}  // namespace g::net

namespace g::proxy {

struct proxy_settings {
  std::string token;                 // G's [discord] token: the only one a bot may identify with
  std::uint64_t stream_intents = 0;  // G's [discord] intents
  std::string gateway_url;           // the proxy's ws:// or wss:// URL (READY's resume_gateway_url)
  std::int64_t heartbeat_ms = 41250;
  std::size_t client_buffer = 16u << 20;  // bytes queued for one bot before it is closed (resumably)
  std::int64_t mark_interval_ms = 1000;
  std::int64_t resume_window_ms = 300000;
};

class bot_session : public net::socket_handler {
 public:
  static constexpr std::int64_t snapshot_patience_ms = 10000;  // how long a bot waits for its shard's cache

  bot_session(net::socket_sink& sink, net::socket_params params, proxy_hub& hub,
              const proxy_settings& settings, std::int64_t now_ms);
  ~bot_session() override;

  void on_message(std::string_view payload, std::int64_t now_ms) override;
  void on_socket_closed(int client_code, std::int64_t now_ms) override;
  void tick(std::int64_t now_ms);

  // Answers from the hub.
  void on_snapshot(snapshot_result r, std::int64_t now_ms);
  void on_resume_point(std::optional<resume_point> p, std::int64_t now_ms);
  void offer(const net::stream_entry& e);
  void on_caught_up();
  void on_gap();
  // Closed resumably because a RESUME took this session over.
  void close_taken_over();

  // Whether more catch-up entries may be read now (the bot drains what it has).
  bool wants_more() const;
  bool replaying() const { return !closed_ && phase_ == phase::replaying; }
  std::uint64_t conn() const { return conn_; }
  int shard() const { return record_.shard; }
  bool closed() const { return closed_; }
  const std::string& session_id() const { return record_.session_id; }

 private:
  enum class phase { greeting, snapshot, replaying, live };

  void identify(const net::client_identify& id, std::int64_t now_ms);
  void resume(const net::client_resume& r, std::int64_t now_ms);
  void command(std::int64_t op, const std::string& d, const std::string& nonce);  // nonce: op 8's, else ""
  void send(std::string_view payload);
  void close(int code, std::string_view reason, bool ends_session);
  void invalid_session();
  void save_mark(bool only);
  void log(const std::string& what) const;

  std::uint64_t conn_;
  net::socket_sink& sink_;
  net::socket_params params_;
  proxy_hub& hub_;
  const proxy_settings& settings_;
  std::unique_ptr<net::client_decoder> decoder_;
  phase phase_ = phase::greeting;
  bool authenticated_ = false;
  bool closed_ = false;
  bool shard_sent_ = false;
  bool resuming_ = false;
  session_record record_;
  event_gate gate_{0, 0};
  std::int64_t seq_ = 0;            // the last seq this session counted
  std::int64_t replay_target_ = 0;  // RESUME: entries up to this seq were received already
  std::string cursor_ = "0-0";      // the last stream entry looked at
  std::int64_t last_heartbeat_ = 0;
  std::int64_t identified_at_ = 0, retry_snapshot_at_ = 0;
  bool snapshot_waiting_ = false;
  std::int64_t drop_at_ = 0;  // closed for not reading: dropped then if the close did not get through
  struct pending_command {
    std::int64_t op;
    std::string d, nonce;
  };
  std::vector<pending_command> pending_commands_;  // sent during a RESUME's lookup
  std::int64_t marked_seq_ = -1, marked_at_ = 0, kept_at_ = 0;
  std::int64_t now_ = 0;
  std::string frame_;
};

}  // namespace g::proxy
