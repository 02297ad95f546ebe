#include "cluster/election.hpp"

#include <limits>

namespace g::cluster {

namespace {
election_output send(std::uint64_t to, election_message m, std::uint64_t epoch = 0) {
  return {election_output::send, to, m, 0, epoch};
}
}  // namespace

election::election(node_rank self, std::int64_t now_ms) : self_(self) { deadline_ = now_ms; }

std::vector<std::uint64_t> election::higher_peers() const {
  std::vector<std::uint64_t> out;
  for (auto& [id, r] : peers_)
    if (r.outranks(self_)) out.push_back(id);
  return out;
}

election_outputs election::start_election(std::int64_t now_ms) {
  election_outputs out;
  auto higher = higher_peers();
  if (higher.empty()) {
    state_ = state::claiming;
    out.push_back({election_output::claim_master});
    return out;
  }
  state_ = state::electing;
  deadline_ = now_ms + answer_timeout_ms;
  for (auto id : higher) out.push_back(send(id, election_message::election));
  return out;
}

election_outputs election::peer_up(const node_rank& peer, std::int64_t now_ms) {
  peers_[peer.id] = peer;
  election_outputs out;
  if (state_ == state::master) {
    if (peer.priority > self_.priority) {
      // A higher-priority node joined: step down so that it can take the lease.
      state_ = state::waiting_coordinator;
      deadline_ = now_ms + coordinator_timeout_ms;
      master_.reset();
      out.push_back({election_output::master_lost});
      out.push_back({election_output::resign});
    } else {
      out.push_back(send(peer.id, election_message::coordinator, epoch_));  // tell the newcomer who leads
    }
  }
  return out;
}

election_outputs election::peer_down(std::uint64_t id, std::int64_t now_ms) {
  peers_.erase(id);
  election_outputs out;
  if (master_ && *master_ == id && state_ != state::master) {
    master_.reset();
    out.push_back({election_output::master_lost});
    auto more = start_election(now_ms);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

election_outputs election::receive(std::uint64_t from, election_message m, std::uint64_t epoch, std::int64_t now_ms) {
  election_outputs out;
  auto it = peers_.find(from);
  if (it == peers_.end()) return out;  // not an authenticated, known peer: ignored
  const node_rank& peer = it->second;
  switch (m) {
    case election_message::election:
      if (self_.outranks(peer)) {
        if (state_ == state::master) {
          out.push_back(send(from, election_message::coordinator, epoch_));
        } else {
          out.push_back(send(from, election_message::alive));
          if (state_ != state::electing && state_ != state::claiming) {
            auto more = start_election(now_ms);
            out.insert(out.end(), more.begin(), more.end());
          }
        }
      }
      break;
    case election_message::alive:
      if (state_ == state::electing && peer.outranks(self_)) {
        state_ = state::waiting_coordinator;
        deadline_ = now_ms + coordinator_timeout_ms;
      }
      break;
    case election_message::coordinator:
      if (epoch < epoch_) break;  // a stale master
      if (self_.priority > peer.priority) {
        // A node of lower priority leads: it has not seen us yet, or is about to resign. Contend.
        if (state_ != state::master && state_ != state::claiming && state_ != state::electing) {
          auto more = start_election(now_ms);
          out.insert(out.end(), more.begin(), more.end());
        }
        break;
      }
      state_ = state::follower;
      master_ = from;
      epoch_ = epoch;
      out.push_back({election_output::became_follower, 0, election_message::coordinator, from, epoch});
      break;
  }
  return out;
}

election_outputs election::claim_result(bool granted, std::uint64_t epoch, std::int64_t now_ms) {
  election_outputs out;
  if (state_ != state::claiming) return out;
  if (!granted) {
    if (master_ && peers_.count(*master_)) {
      // Contended while following a live master (a lower-ranked node's ELECTION): that master still holds the lease.
      state_ = state::follower;
      return out;
    }
    // Someone holds the master lease (a master we cannot see yet, or one that just died): try again soon.
    state_ = state::waiting_coordinator;
    deadline_ = now_ms + claim_retry_ms;
    return out;
  }
  state_ = state::master;
  master_ = self_.id;
  epoch_ = epoch;
  for (auto& [id, r] : peers_) out.push_back(send(id, election_message::coordinator, epoch_));
  return out;
}

election_outputs election::lease_lost(std::int64_t now_ms) {
  election_outputs out;
  if (state_ != state::master) return out;
  master_.reset();
  out.push_back({election_output::master_lost});
  auto more = start_election(now_ms);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

election_outputs election::tick(std::int64_t now_ms) {
  switch (state_) {
    case state::idle:
      return start_election(now_ms);
    case state::electing:
      if (now_ms >= deadline_) {
        // No higher-ranked peer answered: they are gone or partitioned. Claim (Redis decides).
        state_ = state::claiming;
        return {{election_output::claim_master}};
      }
      return {};
    case state::waiting_coordinator:
      if (now_ms >= deadline_) return start_election(now_ms);
      return {};
    default:
      return {};
  }
}

void election::no_peers_to_meet(std::int64_t now_ms) {
  if (state_ == state::idle && peers_.empty() && now_ms < deadline_) deadline_ = now_ms;
}

std::int64_t election::next_wakeup() const {
  if (state_ == state::idle) return deadline_;
  if (state_ == state::electing || state_ == state::waiting_coordinator) return deadline_;
  return std::numeric_limits<std::int64_t>::max();
}

}  // namespace g::cluster
