#pragma once
// Bully election as a pure state machine. Nodes are ranked by (priority, older start, smaller id): the
// highest-ranked live node is master. A node that sees no master challenges every higher-ranked peer (ELECTION);
// if none answers (ALIVE) in time it claims mastership, which the shell confirms by taking the Redis master lease
// and a new epoch, then announces it (COORDINATOR). Only a node of higher priority deposes a healthy master: one of
// equal priority that joins or returns (an older node thawed after a freeze, say) follows it, whatever its age, so
// a returning node costs no new epoch and no moves. Messages and peer liveness come in; messages and role changes go out.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace g::cluster {

struct node_rank {
  std::uint64_t id = 0;
  int priority = 0;
  std::int64_t started_ms = 0;
  // True when this node outranks `o`.
  bool outranks(const node_rank& o) const {
    if (priority != o.priority) return priority > o.priority;
    if (started_ms != o.started_ms) return started_ms < o.started_ms;
    return id < o.id;
  }
};

enum class election_message { election, alive, coordinator };

struct election_output {
  // resign: a higher-ranked node joined; the shell releases the Redis master lease so that it can take over.
  enum kind { send, claim_master, became_follower, master_lost, resign } what;
  std::uint64_t to = 0;  // for send
  election_message message = election_message::election;
  std::uint64_t master = 0;  // for became_follower
  std::uint64_t epoch = 0;
};
using election_outputs = std::vector<election_output>;

class election {
 public:
  static constexpr std::int64_t answer_timeout_ms = 1000;       // ELECTION → ALIVE
  static constexpr std::int64_t coordinator_timeout_ms = 3000;  // ALIVE → COORDINATOR
  // A refused claim (the lease is still held, typically by a master that just died and whose lease the shell may
  // take only once it has gone unrenewed for a while) is tried again this soon: failover time depends on it.
  static constexpr std::int64_t claim_retry_ms = 500;

  election(node_rank self, std::int64_t now_ms);

  election_outputs peer_up(const node_rank& peer, std::int64_t now_ms);
  election_outputs peer_down(std::uint64_t id, std::int64_t now_ms);
  election_outputs receive(std::uint64_t from, election_message m, std::uint64_t epoch, std::int64_t now_ms);
  election_outputs tick(std::int64_t now_ms);
  // Before the first election: there is nobody to wait for (Redis lists no other live node), so it may start at
  // `now_ms` instead of when the wait for peers given at construction ends.
  void no_peers_to_meet(std::int64_t now_ms);
  // The shell's answer to claim_master: the Redis lease and the new epoch, or refused (someone else holds it).
  election_outputs claim_result(bool granted, std::uint64_t epoch, std::int64_t now_ms);
  // The master lost its Redis lease (partitioned from Redis), or gave it up (it sees no majority): it must stop
  // acting as master.
  election_outputs lease_lost(std::int64_t now_ms);

  bool is_master() const { return state_ == state::master; }
  std::optional<std::uint64_t> master() const { return master_; }
  std::uint64_t epoch() const { return epoch_; }
  std::int64_t next_wakeup() const;

 private:
  enum class state { idle, electing, waiting_coordinator, claiming, master, follower };
  election_outputs start_election(std::int64_t now_ms);
  std::vector<std::uint64_t> higher_peers() const;

  node_rank self_;
  std::map<std::uint64_t, node_rank> peers_;
  state state_ = state::idle;
  std::optional<std::uint64_t> master_;
  std::uint64_t epoch_ = 0;
  std::int64_t deadline_ = 0;
};

}  // namespace g::cluster
