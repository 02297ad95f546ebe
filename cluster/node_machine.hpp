#pragma once
// A node's control decisions as one pure machine, in the shape of etcd raft's RawNode: inputs go in through
// `step` (peers up and down, election messages, what Redis answered, the master's orders, this node's shards'
// reports, ticks with the time given), and one `node_ready` comes out: messages for peers, Redis operations,
// orders for this node's shard actors, log lines. The machine does no I/O and reads no clock; the node actor
// (actors/node_actor.cpp) applies each Ready and feeds the answers back in.
//
// Inside: the bully election (election.hpp), membership (who counts as a member, the majority rule, nodes that
// hold their shards behind a partition or cut off from Redis), the master's placement (assignment.hpp) and its
// reconciliation against the lease holders, fencing of a deposed master's orders by epoch, the drain of a
// stopping node, and the master's part of a reshard (reshard_plan.hpp). Inputs meant for one role go to that
// role's step function (step_master, step_follower), as raft's stepLeader / stepFollower.
//
// What stays in the shell, and why: authenticating links (handshakes are about transport and secrets, and the
// machine trusts the `from` the shell gives it), the actor handles, timers, and reading or writing Redis.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cluster/election.hpp"
#include "cluster/reshard_plan.hpp"
#include "cluster/store_result.hpp"

namespace g::cluster {

struct placement_input;
struct placement_plan;

struct node_settings {
  node_rank self;
  std::string group;           // for the log
  std::string redis_endpoint;  // the control connection's server, for the log
  int shard_total = 1;  // the set in force when the node starts
  int max_concurrency = 1;
  std::int64_t lease_ms = 5000;
  bool rebalance = true;
  int max_moves = 2;
  // `[discord]` resharding policy.
  bool reshard_auto = false;
  std::int64_t reshard_check_ms = 3600000;
  double reshard_margin = 0.25;
  int session_reserve = 10;
};

using node_ids = std::vector<std::uint64_t>;

// ---- Inputs. `now` is the steady clock in ms. `from` is a peer the shell authenticated (0: none could be).
namespace node_in {
// Every 250 ms. `redis_answered_ms`: when the control connection last had an answer (0: nothing asked yet).
struct tick { std::int64_t now = 0; std::int64_t redis_answered_ms = 0; };
struct alone { std::int64_t now = 0; };  // Redis lists no other connected node of the group: nobody to wait for
struct peer_up { node_rank peer; std::int64_t now = 0; };  // a link proved the cookie
struct peer_down { std::uint64_t id = 0; std::int64_t now = 0; };
struct election_received { std::uint64_t from = 0; election_message message{}; std::uint64_t epoch = 0; std::int64_t now = 0; };
// Answers to this machine's Redis operations. `connected`: Redis's witness of the live nodes, if it was read.
struct claimed {
  store_result<std::uint64_t> claim;  // the new epoch
  bool majority = true;               // false: not claimed, the node saw `seen` of `members`
  int seen = 0, members = 0;
  std::optional<node_ids> connected;
  std::int64_t now = 0;
};
struct master_kept { store_result<> lease; std::optional<node_ids> connected; std::int64_t now = 0; };
struct connected_read { std::optional<node_ids> connected; std::uint64_t link_down = 0; std::int64_t now = 0; };
struct owners_read { int total = 0; std::optional<node_ids> holders; std::int64_t now = 0; };  // by shard; 0 = none
// Orders from the master.
struct assigned { std::uint64_t from = 0, epoch = 0; int total = 0, shard = 0; bool take_over = false; };
struct released { std::uint64_t from = 0, epoch = 0; int total = 0, shard = 0; };
struct dropped { std::uint64_t from = 0, epoch = 0; int total = 0, shard = 0; };
struct switched { std::uint64_t from = 0, epoch = 0; int to = 0; };
struct abandoned { std::uint64_t from = 0, epoch = 0; int total = 0; };
// Reports to the master.
struct leaving { std::uint64_t from = 0; std::int64_t now = 0; };
struct moved { std::uint64_t from = 0; int total = 0, shard = 0; std::int64_t now = 0; };
struct peer_fenced { std::uint64_t from = 0; int total = 0, shard = 0; std::int64_t now = 0; };
struct redis_reach { std::uint64_t from = 0; bool reachable = true; std::int64_t now = 0; };
// From this node's shard actors.
struct shard_ready { int total = 0, shard = 0; std::int64_t now = 0; };
struct shard_fenced { int total = 0, shard = 0; std::int64_t now = 0; };
struct shard_gone { int total = 0, shard = 0; std::int64_t now = 0; };
// The view round (every second): the live nodes, the set in force and the reshard under way as Redis has them.
struct view_read { std::optional<node_ids> connected; int shard_count = 0; int reshard_to = 0; };
// Resharding: `g-actor reshard` (a count, 0 for auto, -1 to cancel) or the auto policy, and the answers.
struct reshard_requested { int shards = 0; bool by_policy = false; std::int64_t now = 0; };
struct gateway_bot_read { std::string error; int shards = 0, max_concurrency = 1, sessions_left = 0; };
struct reshard_begun { int to = 0; store_result<reshard_switch> result; std::string note; std::int64_t now = 0; };
struct switch_done { int to = 0; store_result<reshard_switch> result; std::int64_t took_us = 0, now = 0; };
struct reshard_read { store_result<std::pair<int, int>> in_force_and_preparing; std::int64_t now = 0; };
struct abandon_done { int to = 0; store_result<reshard_switch> result; };
struct stop { std::int64_t now = 0; };  // SIGTERM: hand the shards over, then leave
}  // namespace node_in

using node_input = std::variant<node_in::tick, node_in::alone, node_in::peer_up, node_in::peer_down,
                                node_in::election_received, node_in::claimed, node_in::master_kept,
                                node_in::connected_read, node_in::owners_read, node_in::assigned, node_in::released,
                                node_in::dropped, node_in::switched, node_in::abandoned, node_in::leaving,
                                node_in::moved, node_in::peer_fenced, node_in::redis_reach, node_in::shard_ready,
                                node_in::shard_fenced, node_in::shard_gone, node_in::view_read,
                                node_in::reshard_requested, node_in::gateway_bot_read, node_in::reshard_begun,
                                node_in::switch_done, node_in::reshard_read, node_in::abandon_done, node_in::stop>;

// ---- Outputs.

// To one peer, over its authenticated link. Every order from a master carries its epoch.
struct peer_message {
  enum kind { elect, assign, release, drop, switched, abandon, leaving, moved, fenced, redis_reach } what = elect;
  std::uint64_t to = 0;
  election_message elect_message = election_message::election;
  std::uint64_t epoch = 0;
  int total = 0, shard = 0;
  bool flag = false;  // assign: take the session over; redis_reach: reachable
};

// A Redis operation; its answer comes back as the input named beside it.
struct redis_op {
  enum kind {
    claim_master,     // → claimed: the master lease and a new epoch, if this node sees a majority
    keep_master,      // → master_kept
    resign_master,    // (none): the lease would expire by itself
    read_owners,      // → owners_read (`total`)
    read_connected,   // → connected_read (`link_down`: the node whose link went down, if that is why)
    unregister,       // (none): `nodes` left the cluster
    read_reshard,     // → reshard_read
    begin_reshard,    // → reshard_begun (`from` → `total`, under `epoch`)
    switch_reshard,   // → switch_done (`total`, under `epoch`)
    abandon_reshard,  // → abandon_done (`total`)
    read_gateway_bot  // → gateway_bot_read (REST, not Redis, but answered the same way)
  } what = claim_master;
  int total = 0, from = 0;
  std::uint64_t epoch = 0;
  std::uint64_t link_down = 0;
  node_ids nodes;  // unregister: who; claim_master: the departed (their master lease may be taken at once)
  // claim_master: the newest epoch known, the nodes this one sees, and those it was ever linked to.
  std::uint64_t known_epoch = 0;
  std::set<std::uint64_t> visible, linked;
  std::string note;  // begin_reshard: what the decision said (a rounded count, say)
};

// To one of this node's shard actors (start spawns one).
struct shard_order {
  enum kind { start, stop, end, drop, promote } what = start;
  int total = 0, shard = 0;
  bool take_over = false;  // start: steal the session of an owner that is gone
};

enum class note_level { debug, info, warn, error };

struct node_note {
  note_level level = note_level::info;
  int total = 0;   // the shard's set when not the one in force
  int shard = -1;  // -1: not about one shard
  std::string text;
};

struct node_ready {
  std::vector<peer_message> messages;
  std::vector<redis_op> redis;
  std::vector<shard_order> shards;
  std::vector<node_note> notes;
  std::optional<int> in_force;                 // a reshard switched the set in force to this many shards
  std::optional<std::string> reply;            // the answer to a reshard request, given at once
  std::vector<std::string> reshard_answers;    // later answers (to the request waiting for one, and the log)
  bool leave = false;                          // the node may stop now
};

class node_machine {
 public:
  node_machine(node_settings s, std::int64_t now);
  node_ready step(const node_input& in);

  // Read by the shell between steps.
  bool is_master() const { return election_.is_master(); }
  std::optional<std::uint64_t> master() const { return election_.master(); }
  std::uint64_t epoch() const { return election_.epoch(); }
  int total() const { return total_; }
  bool stopping() const { return stopping_; }
  bool in_minority() const { return !sees_majority(); }
  bool redis_reachable() const { return redis_reachable_; }
  const std::set<int>& ready_in_force() const;  // shards whose backend commands this node takes
  int preparing() const { return preparing_; }

 private:
  // This node's shards of one shard total: the set in force, and during a reshard the set being prepared.
  struct shard_set {
    std::set<int> running;                  // an actor exists
    std::set<int> ready;                    // … that are ready (in force: may take backend commands)
    std::set<int> closing;                  // … told to stop, not gone yet
    std::map<int, bool> start_when_closed;  // assigned back while still closing: start (take over?) once gone
  };
  // The master's view of one shard total.
  struct set_placement {
    std::map<int, std::uint64_t> owners;
    // A shard in flight until it is reported ready: assigned (nobody live owned it) or moved (its old owner
    // releases it first), and when to stop waiting for it.
    struct flight {
      std::int64_t until = 0;
      bool assigned = false;
    };
    std::map<int, flight> moving;
    std::map<int, int> leaseless;        // shard → reads in a row that found no lease holder
    std::map<int, std::int64_t> in_flight_leaseless;  // in flight, and no lease holder since
    std::set<int> ready;                              // reported ready (the prepared set switches once all are)
    // Shards whose owner was fenced while the master did not move them: the lease holder is stale (a failover's
    // replica lacked a handover, say), so the shard is placed again as soon as that lease expires.
    std::map<int, std::int64_t> fenced;
    bool loaded = false, loading = false;
    std::int64_t waits_noted_ms = 0;  // when "rebalancing waits" was last written
    void unown(int shard);
  };

  void step_any(const node_input& in);
  void step_master(const node_input& in);
  void step_follower(const node_input& in);

  // Any role.
  void on_tick(const node_in::tick& t);
  void on_peer_up(const node_in::peer_up& p);
  void on_peer_down(const node_in::peer_down& p);
  void on_shard_ready(const node_in::shard_ready& r);
  void on_shard_fenced(const node_in::shard_fenced& f);
  void on_shard_gone(const node_in::shard_gone& g);
  void on_claimed(const node_in::claimed& c);
  void on_view(const node_in::view_read& v);
  void on_stop(const node_in::stop& s);
  void on_reshard_request(const node_in::reshard_requested& r);
  void on_abandon_done(const node_in::abandon_done& a);
  void apply_election(const election_outputs& outs);
  void report_redis_reach(std::int64_t now, std::int64_t answered);

  // The master's.
  void tick_master(std::int64_t now);
  void on_master_kept(const node_in::master_kept& k);
  void on_connected(const std::optional<node_ids>& ids, std::uint64_t link_down, std::int64_t now);
  void on_owners(const node_in::owners_read& o);
  void place(std::int64_t now);
  void place_set(int total, set_placement& p, const std::set<std::uint64_t>& live, std::int64_t now);
  void reconcile_owners(int total, set_placement& p, const node_ids& holders, std::int64_t now);
  void note_rebalance_waits(int total, set_placement& p, const placement_plan& plan, const placement_input& in,
                            std::int64_t now);
  void load_owners(int total);
  void note_fenced(std::uint64_t node, int total, int shard, std::int64_t now);
  void note_ready(int total, int shard, std::int64_t now);
  void decide_reshard(const node_in::gateway_bot_read& g);
  void on_begun(const node_in::reshard_begun& b);
  void begin_preparing(int to, std::int64_t now);
  void step_reshard(std::int64_t now);
  void finish_switch(const node_in::switch_done& d);
  void on_reshard_read(const node_in::reshard_read& r);
  void switch_everywhere(int to);
  void abandon_everywhere(int total);
  void tell_peers(peer_message::kind what, int total);

  // A follower's (and the master's own shards).
  bool from_master(std::uint64_t from, std::uint64_t epoch);
  void tell_master_leaving();

  // This node's shards.
  void start_shard(int total, int shard, bool take_over);
  void stop_shard(int total, int shard);
  void end_shards(int total, shard_set& set);
  void stop_every_shard();
  void apply_switch(int to);
  void abandon_preparation(int total);
  void leave();
  void leave_when_settled(std::int64_t now);
  bool runs_no_shard() const;

  // Membership.
  std::set<std::uint64_t> live_nodes() const;
  void note_connected(const node_ids& ids);
  std::size_t member_count() const;
  bool sees_majority() const;
  std::set<std::uint64_t> holding_nodes(const std::set<std::uint64_t>& live) const;

  // Output.
  void send(peer_message::kind what, std::uint64_t to, int total = 0, int shard = 0, bool flag = false);
  // An order of the master's, under its epoch.
  void order_peer(peer_message::kind what, std::uint64_t to, int total, int shard = 0, bool flag = false);
  redis_op& ask(redis_op::kind what);
  void order(shard_order::kind what, int total, int shard, bool take_over = false);
  void note(note_level l, std::string text, int total = 0, int shard = -1);
  void shard_note(note_level l, int total, int shard, std::string text) {
    note(l, std::move(text), total == total_ ? 0 : total, shard);
  }
  void answer_reshard(std::string text);
  void decided(std::string answer);

  std::uint64_t id() const { return settings_.self.id; }

  node_settings settings_;
  election election_;
  node_ready ready_;
  std::map<std::uint64_t, node_rank> peers_;  // linked, authenticated
  int total_ = 1;                             // the set in force
  std::map<int, shard_set> sets_;
  std::deque<std::uint64_t> departed_;  // peers whose link went down: their master lease may be taken at once
  // Membership. Redis witnesses which nodes live (a named connection each); with the links this node sees, that
  // gives the majority rule and tells a node behind a partition (connected, link down) from a dead one.
  std::set<std::uint64_t> connected_;
  std::set<std::uint64_t> ever_linked_;  // only nodes this one has been linked to count as members
  int minority_ticks_ = 0;               // the master's view rounds in a row seeing less than half of the members
  std::set<std::uint64_t> cut_off_;      // the master's: nodes that report they cannot reach Redis
  std::set<std::uint64_t> unlisted_;     // the master's: links down, still registered until Redis shows them gone
  bool redis_reachable_ = true;          // what this node last told its master
  std::uint64_t reach_told_ = 0;         // … which master
  std::int64_t reach_told_ms_ = 0;       // … and when
  bool claim_refusal_logged_ = false;
  // The master's view: the set in force and, during a reshard, the set being prepared.
  std::map<int, set_placement> placements_;
  std::set<std::uint64_t> draining_;  // nodes handing their shards over before they stop
  int ticks_since_owners_ = 0;
  // A reshard (the master's): the total being prepared, whether a switch is on its way, when to try it next.
  int preparing_ = 0;
  std::int64_t preparing_since_ = 0;
  bool switching_ = false;
  std::int64_t next_switch_ms_ = 0;
  bool reshard_asked_ = false;       // a request's /gateway/bot read is under way
  bool answer_awaited_ = false;      // a `g-actor reshard` waits for the answer
  int reshard_requested_ = 0;        // what was asked: a count, 0 for auto
  bool reshard_by_policy_ = false;
  std::int64_t next_auto_check_ms_ = 0;
  std::int64_t reread_reshard_ms_ = 0;  // Redis did not answer the read of a reshard under way: read again then
  // As a follower: the newest master heard from (orders of an older epoch are refused).
  std::uint64_t epoch_seen_ = 0;
  std::uint64_t master_seen_ = 0;
  // Stopping.
  bool stopping_ = false;
  std::uint64_t leaving_told_ = 0;  // the master told that this node is leaving
  std::int64_t drain_deadline_ = 0;
  bool shards_stopped_ = false;     // every shard was told to stop here
  bool left_ = false;
};

}  // namespace g::cluster
