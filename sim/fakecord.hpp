#pragma once
// The simulator's state: sessions, routing, limits, statistics. No I/O: connections reach the network through
// a connection_sink that the server shell implements, and time is passed in.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/http/socket_sink.hpp"
#include "sim/gateway_rules.hpp"
#include "sim/interactions.hpp"
#include "sim/message_store.hpp"
#include "sim/rest_rate_limits.hpp"
#include "sim/options.hpp"
#include "sim/world.hpp"

namespace g::sim {

using millis = std::int64_t;

class gateway_connection;
class load_generator;

// What the network shell does for a gateway connection.
using connection_sink = net::socket_sink;

struct session {
  std::string id;
  int shard_id = 0;
  int shard_count = 1;
  std::uint64_t intents = 0;
  int large_threshold = 50;
  std::int64_t seq = 0;
  std::deque<std::string> replay;  // full payloads of seq - replay.size() + 1 … seq
  gateway_connection* conn = nullptr;
  millis parked_at = 0;            // when its socket went away (conn == nullptr)
  std::string presence;            // last presence the client set (JSON)

  std::int64_t oldest_replayable() const { return seq - static_cast<std::int64_t>(replay.size()) + 1; }
};

// A REST call as g-fakecord answered it, for assertions (GET /_fakecord/rest).
struct rest_call_record {
  std::string method, route, path;  // route: the template, e.g. /channels/{channel.id}/messages
  std::string body;
  int status = 0;
  millis at = 0;
};

struct received_command {
  int shard_id, shard_count, op;
  std::string session_id;
  std::string d;  // minified JSON
  millis at;
};

// Names of the violations counted in stats, one per rule a client can break.
namespace violation {
inline constexpr std::string_view identify_concurrency = "identify_concurrency";
inline constexpr std::string_view session_limit = "session_limit";
inline constexpr std::string_view rate_limit = "rate_limit";              // 4008
inline constexpr std::string_view payload_too_large = "payload_too_large";  // 4002
inline constexpr std::string_view decode_error = "decode_error";          // 4002
inline constexpr std::string_view unknown_opcode = "unknown_opcode";      // 4001
inline constexpr std::string_view invalid_payload = "invalid_payload";    // 4001 (bad d)
inline constexpr std::string_view not_authenticated = "not_authenticated";  // 4003
inline constexpr std::string_view authentication_failed = "authentication_failed";  // 4004
inline constexpr std::string_view already_authenticated = "already_authenticated";  // 4005
inline constexpr std::string_view invalid_seq = "invalid_seq";            // 4007
inline constexpr std::string_view invalid_shard = "invalid_shard";        // 4010
inline constexpr std::string_view sharding_required = "sharding_required";  // 4011
inline constexpr std::string_view invalid_api_version = "invalid_api_version";  // 4012
inline constexpr std::string_view invalid_intents = "invalid_intents";    // 4013
inline constexpr std::string_view disallowed_intents = "disallowed_intents";  // 4014
inline constexpr std::string_view heartbeat_timeout = "heartbeat_timeout";
inline constexpr std::string_view members_rate_limited = "request_members_rate_limited";
inline constexpr std::string_view resume_url = "resume_not_on_resume_url";
inline constexpr std::string_view slow_consumer = "slow_consumer";
}  // namespace violation

class fakecord {
 public:
  static constexpr int max_guilds_per_shard = 2500;
  static constexpr std::int64_t whole_member_list_interval_ms = 30000;
  static constexpr std::size_t received_limit = 20000;

  fakecord(options opts, millis now);
  ~fakecord();

  const options& opts() const { return opts_; }
  const world& data() const { return world_; }
  world& mutable_data() { return world_; }

  // URLs clients are told about. The port is known only after binding (--listen HOST:0).
  void set_port(std::uint16_t port) { port_ = port; }
  std::string gateway_url() const;  // ws://host:port/
  std::string resume_url() const;   // ws://host:port/resume (no trailing slash, like Discord's)
  static constexpr std::string_view resume_path = "/resume";

  // Connections (registered while their socket is open).
  void add_connection(gateway_connection* c) { connections_.push_back(c); }
  void remove_connection(gateway_connection* c);
  std::size_t connection_count() const { return connections_.size(); }
  std::size_t session_starts_waiting() const { return starts_.size(); }  // identified, READY not sent yet

  // Session starts (a READY and its GUILD_CREATEs, the heaviest work here) wait in line and run one at a time
  // between socket reads: a thousand IDENTIFYs arriving together are each read, and judged, as they arrive, not
  // after the sessions started before them. The server sets `schedule_session_starts` to call
  // start_next_session from its loop until it answers false; unset, a start runs at once.
  void queue_session_start(gateway_connection& c);
  bool start_next_session();  // the oldest waiting start; true while more wait
  std::function<void()> schedule_session_starts;
  std::size_t backlog_bytes() const;  // over all connections

  // Sessions.
  session& start_session(int shard_id, int shard_count, std::uint64_t intents, int large_threshold);
  session* find_session(std::string_view id);
  void end_session(session& s);            // gone for good: RESUME now fails
  void park_session(session& s, millis now);  // socket gone; resumable until the TTL passes
  const std::vector<const session*> sessions() const;

  // Appends a dispatch to the session (next seq, kept for RESUME) and sends it if a socket is attached.
  void dispatch(session& s, std::string_view t, std::string_view d);
  // A guild event goes to every session whose shard holds the guild and whose intents admit it; `d_plain` is
  // `d` as sessions without MESSAGE_CONTENT see it (empty: same as d). guild_id 0: a DM, shard 0 only.
  // Counted once in generated(), however many sessions it went to. Returns how many sessions it went to.
  int dispatch_guild_event(std::uint64_t guild_id, std::string_view t, std::string_view d, std::uint64_t intents,
                            std::string_view d_plain = {});

  // Why dispatch_guild_event(guild_id, …, intents) reached no session: one sentence for the admin API.
  std::string why_undelivered(std::uint64_t guild_id, std::uint64_t intents) const;

  // GUILD_CREATE of `guild` to every session of its shard with GUILDS, each rendered for that session's intents
  // (the bot was added to the guild). Counted once in generated().
  void dispatch_guild_create(int guild);

  // Unique events the world made (generated load, changes, admin dispatches: the two dispatches above), per event
  // name. READY and the GUILD_CREATEs of a session that identifies are not counted.
  const std::map<std::string, std::uint64_t, std::less<>>& generated() const { return generated_; }
  // … of those, the ones no session received (no session of the guild's shard, or none with the intent), per type.
  const std::map<std::string, std::uint64_t, std::less<>>& undelivered() const { return undelivered_; }
  struct undelivered_event {
    std::string t;
    std::uint64_t guild_id;
    std::int64_t at_us;  // wall clock
    std::string why;
  };
  const std::deque<undelivered_event>& undelivered_recent() const { return undelivered_recent_; }  // the last 16

  bool has_sessions_without_message_content() const { return content_blind_sessions_ > 0; }

  // Limits.
  identify_buckets& identify() { return identify_; }
  session_budget& budget() { return budget_; }
  // Whole-member-list requests: 1 per guild per 30 s. Returns 0 if allowed now (and records it), else ms to wait.
  millis take_member_list_slot(std::uint64_t guild_id, millis now);

  // Statistics.
  // A violation counted under its kind; `detail` says what the client did, for `violations_recent`.
  void count_violation(std::string_view kind, std::string detail = {});
  const std::map<std::string, std::uint64_t>& violations() const { return violations_; }
  struct violation_event {
    std::string kind;
    std::int64_t at_us;  // wall clock
    std::string detail;
  };
  const std::deque<violation_event>& violations_recent() const { return violations_recent_; }  // the last 64
  std::uint64_t identifies = 0, resumes = 0, heartbeats = 0, dispatches_sent = 0, bytes_sent = 0;
  // IDENTIFYs read after the client had written again: their bucket counts from the HELLO (gateway_connection.cpp).
  std::uint64_t identify_arrivals_uncertain = 0;
  // A client's punctuality: each heartbeat against the previous one on its connection (the first against HELLO),
  // over the interval HELLO gave. Discord tolerates some lateness; a client that is late has a scheduler falling
  // behind, which is what a benchmark at scale wants to see before it becomes a zombie close.
  struct heartbeat_lateness {
    static constexpr millis on_time_slack_ms = 100;  // loopback and timer jitter
    std::uint64_t on_time = 0, late_under_1s = 0, late_over_1s = 0;
    millis worst_ms = 0;  // the largest overrun seen
  };
  heartbeat_lateness heartbeat_timing;
  // How late its own 100 ms tick ran: what a frame that arrived meanwhile waited before g-fakecord read it. Rules
  // judged by g-fakecord's clock (the identify buckets, heartbeat punctuality) are off by up to that much.
  struct loop_lag {
    std::uint64_t over_100ms = 0, over_1s = 0;
    millis worst_ms = 0;
  };
  loop_lag lag;
  void note_loop_lag(millis late) {
    if (late > 100) ++lag.over_100ms;
    if (late > 1000) ++lag.over_1s;
    lag.worst_ms = std::max(lag.worst_ms, late);
  }
  void note_heartbeat(millis since_previous);
  // Closes the client started, by its close code (0: the TCP connection ended without a close frame).
  std::map<int, std::uint64_t> client_closes;
  void record_command(const session& s, int op, std::string d, millis now);
  const std::deque<received_command>& received() const { return received_; }

  // Faults: applied to every open connection whose session is shard `shard_id`. Returns how many.
  // To every connected session of that shard id, or only those of `shard_count` shards (0: any total).
  int apply_fault(int shard_id, std::string_view kind, millis now, int shard_count = 0);
  static bool valid_fault(std::string_view kind);

  // REST fault injection: the next `count` REST calls answer `status` (429 carries retry_after seconds).
  struct rest_fault {
    int status = 0;
    int count = 0;
    double retry_after = 1.0;
  };
  rest_fault& pending_rest_fault() { return rest_fault_; }

  // REST state: the messages it can find again, its rate limits, and every call it answered.
  message_store& messages() { return messages_; }
  command_registry& commands() { return commands_; }
  // DM channels the bot opened: recipient → channel id, the same one each time (Create DM).
  std::uint64_t open_dm(std::uint64_t recipient, const std::function<std::uint64_t()>& new_id);
  std::uint64_t dm_recipient(std::uint64_t channel_id) const;
  interaction_registry& interactions() { return interactions_; }
  std::map<std::uint64_t, webhook_record>& webhooks() { return webhooks_; }
  rest_rate_limits& rest_limits() { return rest_limits_; }
  static constexpr std::size_t rest_log_limit = 20000;
  void record_rest_call(rest_call_record r);
  const std::deque<rest_call_record>& rest_log() const { return rest_log_; }
  std::uint64_t rest_calls = 0, rest_429s = 0;

  // Load generation.
  load_generator& load() { return *load_; }

  // Timers: heartbeat deadlines, delayed closes, session expiry (generated load ticks on its own, faster).
  void tick(millis now);

  std::string new_hex_id();  // session ids, voice tokens
  std::uint64_t new_snowflake(std::int64_t unix_ms);  // ids of messages made through REST: unique, in time order

  // Set by the shell: the wall clock in microseconds (the `nonce` of generated messages).
  std::int64_t (*wall_clock_us)() = nullptr;

 private:
  void unlink_session(session& s);
  void note_generated(std::string_view t);

  options opts_;
  world world_;
  std::uint16_t port_;
  identify_buckets identify_;
  session_budget budget_;
  std::vector<gateway_connection*> connections_;
  std::deque<gateway_connection*> starts_;  // identified, session not started yet, oldest first
  std::unordered_map<std::string, std::unique_ptr<session>> sessions_;
  // shard_count → shard_id → sessions: routing without scanning every session.
  std::map<int, std::vector<std::vector<session*>>> routes_;
  std::unordered_map<std::uint64_t, millis> member_list_slots_;
  std::map<std::string, std::uint64_t> violations_;
  std::map<std::string, std::uint64_t, std::less<>> generated_;
  std::map<std::string, std::uint64_t, std::less<>> undelivered_;
  std::deque<undelivered_event> undelivered_recent_;
  std::deque<violation_event> violations_recent_;
  std::deque<received_command> received_;
  std::unique_ptr<load_generator> load_;
  rest_fault rest_fault_;
  message_store messages_;
  command_registry commands_;
  std::map<std::uint64_t, std::uint64_t> dm_by_recipient_, dm_recipient_of_;
  interaction_registry interactions_;
  std::map<std::uint64_t, webhook_record> webhooks_;
  rest_rate_limits rest_limits_;
  std::deque<rest_call_record> rest_log_;
  std::uint64_t id_counter_ = 0;
  std::uint64_t snowflake_counter_ = 0;
  std::size_t content_blind_sessions_ = 0;
  std::string scratch_;
};

}  // namespace g::sim
