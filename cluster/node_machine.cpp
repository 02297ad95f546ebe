#include "cluster/node_machine.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "cluster/assignment.hpp"

namespace g::cluster {

namespace {

constexpr std::int64_t move_timeout_ms = 30000;     // a migration not reported ready by then stops counting
constexpr std::int64_t assign_timeout_ms = 600000;  // an assignment may wait minutes for its identify slot
constexpr std::int64_t drain_timeout_ms = 30000;    // a stopping node waits this long for the master's handover
constexpr std::int64_t lost_assignment_ms = 10000;  // in flight with no lease holder this long: the order was lost
constexpr int leaseless_reads = 3;                  // owner reads (5 s apart) with no lease holder before re-placing
constexpr int owner_read_ticks = 20;                // the master reads the lease holders every 20 ticks (5 s)
constexpr int minority_rounds = 4;                  // rounds seeing no majority before a master gives up
constexpr std::size_t departed_kept = 64;

std::string format(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* f, ...) {
  char buf[512];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof buf, f, args);
  va_end(args);
  return buf;
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

}  // namespace

using level = note_level;

void node_machine::set_placement::unown(int shard) {
  owners.erase(shard);
  leaseless.erase(shard);
  ready.erase(shard);
}

node_machine::node_machine(node_settings s, std::int64_t now)
    : settings_(std::move(s)), election_(settings_.self, now + 1500), total_(settings_.shard_total) {}  // 1.5 s to meet the peers

void node_machine::note(level l, std::string text, int total, int shard) {
  ready_.notes.push_back({l, total, shard, std::move(text)});
}

void node_machine::send(peer_message::kind what, std::uint64_t to, int total, int shard, bool flag) {
  peer_message m;
  m.what = what;
  m.to = to;
  m.total = total;
  m.shard = shard;
  m.flag = flag;
  ready_.messages.push_back(m);
}

void node_machine::order_peer(peer_message::kind what, std::uint64_t to, int total, int shard, bool flag) {
  send(what, to, total, shard, flag);
  ready_.messages.back().epoch = election_.epoch();
}

redis_op& node_machine::ask(redis_op::kind what) {
  ready_.redis.emplace_back();
  ready_.redis.back().what = what;
  return ready_.redis.back();
}

void node_machine::order(shard_order::kind what, int total, int shard, bool take_over) {
  shard_order o;
  o.what = what;
  o.total = total;
  o.shard = shard;
  o.take_over = take_over;
  ready_.shards.push_back(o);
}

node_ready node_machine::step(const node_input& in) {
  if (!left_) {
    step_any(in);
    if (is_master()) step_master(in);
    else step_follower(in);
  }
  node_ready out = std::move(ready_);
  ready_ = node_ready{};
  return out;
}

// ---- Any role.

void node_machine::step_any(const node_input& in) {
  std::visit(overloaded{
                 [&](const node_in::tick& t) { on_tick(t); },
                 [&](const node_in::alone& a) {
                   election_.no_peers_to_meet(a.now);
                   if (election_.next_wakeup() <= a.now) apply_election(election_.tick(a.now));
                 },
                 [&](const node_in::peer_up& p) { on_peer_up(p); },
                 [&](const node_in::peer_down& p) { on_peer_down(p); },
                 [&](const node_in::election_received& e) {
                   apply_election(election_.receive(e.from, e.message, e.epoch, e.now));
                 },
                 [&](const node_in::claimed& c) { on_claimed(c); },
                 [&](const node_in::shard_ready& r) { on_shard_ready(r); },
                 [&](const node_in::shard_fenced& f) { on_shard_fenced(f); },
                 [&](const node_in::shard_gone& g) { on_shard_gone(g); },
                 [&](const node_in::view_read& v) { on_view(v); },
                 [&](const node_in::stop& s) { on_stop(s); },
                 [&](const node_in::reshard_requested& r) { on_reshard_request(r); },
                 // Answers to what a master asked: they come back whatever the role is now, and must be answered.
                 [&](const node_in::gateway_bot_read& g) { decide_reshard(g); },
                 [&](const node_in::reshard_begun& b) { on_begun(b); },
                 [&](const node_in::switch_done& d) { finish_switch(d); },
                 [&](const node_in::abandon_done& a) { on_abandon_done(a); },
                 [&](const node_in::master_kept& k) {
                   // Not renewed, for whatever reason: another node may act as master once it expires.
                   if (!k.lease.ok())
                     note(level::warn, format("the master lease was not renewed (%s: %s)", outcome_name(k.lease.outcome),
                                              k.lease.reason.c_str()));
                 },
                 [&](const auto&) {},
             },
             in);
}

void node_machine::on_tick(const node_in::tick& t) {
  if (election_.next_wakeup() <= t.now) apply_election(election_.tick(t.now));
  if (is_master()) tick_master(t.now);
  report_redis_reach(t.now, t.redis_answered_ms);
  if (stopping_ && runs_no_shard()) leave_when_settled(t.now);  // waiting for the last moves
  if (stopping_ && drain_deadline_) {
    if (t.now > drain_deadline_) {
      note(level::info, "the handover through the master timed out; stopping the shards here");
      stop_every_shard();
    } else if (!is_master()) {
      tell_master_leaving();
    }
  }
}

void node_machine::on_peer_up(const node_in::peer_up& p) {
  const std::uint64_t peer = p.peer.id;
  peers_[peer] = p.peer;
  ever_linked_.insert(peer);
  departed_.erase(std::remove(departed_.begin(), departed_.end(), peer), departed_.end());
  apply_election(election_.peer_up(p.peer, p.now));
  place(p.now);
}

void node_machine::on_peer_down(const node_in::peer_down& p) {
  if (!peers_.erase(p.id)) return;
  note(level::info, format("node %llu is gone (link down)", ull(p.id)));
  draining_.erase(p.id);
  cut_off_.erase(p.id);
  unlisted_.insert(p.id);
  departed_.push_back(p.id);
  if (departed_.size() > departed_kept) departed_.pop_front();
  if (leaving_told_ == p.id) leaving_told_ = 0;
  apply_election(election_.peer_down(p.id, p.now));
  // Dead, or behind a partition? Redis saw a dead process's connection close: its shards go to the living at once
  // (session stealing). A node still connected keeps its shards while it renews their leases.
  if (is_master()) ask(redis_op::read_connected).link_down = p.id;
}

void node_machine::on_claimed(const node_in::claimed& c) {
  if (c.connected) note_connected(*c.connected);
  if (c.claim.unavailable() && c.majority) note(level::debug, "claiming the master lease failed: " + c.claim.reason);
  if (!c.majority) {
    if (!claim_refusal_logged_)
      note(level::warn, format("sees %d of %d nodes: not claiming mastership without a majority", c.seen, c.members));
    claim_refusal_logged_ = true;
  } else {
    claim_refusal_logged_ = false;
  }
  const bool was_master = is_master();
  apply_election(election_.claim_result(c.claim.ok(), c.claim.value, c.now));
  if (!is_master() || was_master) return;
  note(level::info, format("master of group '%s', epoch %llu", settings_.group.c_str(), ull(c.claim.value)));
  epoch_seen_ = c.claim.value;
  master_seen_ = id();
  ask(redis_op::read_reshard);  // a reshard the previous master began (or finished) goes on from Redis
  load_owners(total_);
  // Nodes that died before this one became master (the old master, say) cannot unregister themselves.
  if (!departed_.empty()) ask(redis_op::unregister).nodes.assign(departed_.begin(), departed_.end());
}

void node_machine::apply_election(const election_outputs& outs) {
  for (auto& o : outs) {
    switch (o.what) {
      case election_output::send:
        send(peer_message::elect, o.to);
        ready_.messages.back().elect_message = o.message;
        ready_.messages.back().epoch = o.epoch;
        break;
      case election_output::claim_master: {
        auto& op = ask(redis_op::claim_master);
        op.nodes.assign(departed_.begin(), departed_.end());
        op.known_epoch = epoch_seen_;
        op.visible.insert(id());
        for (auto& [peer, rank] : peers_) op.visible.insert(peer);
        op.linked = ever_linked_;
        break;
      }
      case election_output::resign:
        ask(redis_op::resign_master);
        break;
      case election_output::became_follower:
        if (o.epoch >= epoch_seen_) {  // a deposed master's orders are refused from now on
          epoch_seen_ = o.epoch;
          master_seen_ = o.master;
        }
        [[fallthrough]];
      case election_output::master_lost:
        cut_off_.clear();  // the next master hears it again from the nodes themselves
        unlisted_.clear();
        minority_ticks_ = 0;
        placements_.clear();
        draining_.clear();
        preparing_ = 0;
        switching_ = false;
        reread_reshard_ms_ = 0;
        break;
    }
  }
}

// A node that cannot reach Redis tells its master (again each second while it lasts, and to a new master), so that
// nothing new is placed here and the shards move once their leases expire. "Cannot reach": no answer for as long
// as a lease lasts, or 1.5 s (a node renews its leases three times per lease).
void node_machine::report_redis_reach(std::int64_t now, std::int64_t answered) {
  const bool reachable = answered == 0 || now - answered < std::min<std::int64_t>(settings_.lease_ms, 1500);
  if (reachable && !redis_reachable_)
    note(level::info, format("Redis (%s) answers again", settings_.redis_endpoint.c_str()));
  else if (!reachable && redis_reachable_)
    note(level::warn, format("Redis (%s) has not answered for %.1f s: telling the master", settings_.redis_endpoint.c_str(),
                             static_cast<double>(now - answered) / 1000.0));
  const bool changed = reachable != redis_reachable_;
  redis_reachable_ = reachable;
  auto m = master();
  if (is_master() || !m || !peers_.count(*m)) return;
  // On a change, to a master not told yet (a new master starts with no list), and each second while cut off.
  if (!changed && reach_told_ == *m && (reachable || now - reach_told_ms_ < 1000)) return;
  reach_told_ = *m;
  reach_told_ms_ = now;
  send(peer_message::redis_reach, *m, 0, 0, reachable);
}

void node_machine::on_shard_ready(const node_in::shard_ready& r) {
  sets_[r.total].ready.insert(r.shard);
  if (is_master()) return note_ready(r.total, r.shard, r.now);
  if (auto m = master(); m && peers_.count(*m)) send(peer_message::moved, *m, r.total, r.shard);
}

void node_machine::on_shard_fenced(const node_in::shard_fenced& f) {
  if (is_master()) return note_fenced(id(), f.total, f.shard, f.now);
  if (auto m = master(); m && peers_.count(*m)) send(peer_message::fenced, *m, f.total, f.shard);
}

void node_machine::on_shard_gone(const node_in::shard_gone& g) {
  auto it = sets_.find(g.total);
  if (it == sets_.end() || !it->second.running.erase(g.shard)) return;
  auto& set = it->second;
  set.ready.erase(g.shard);
  set.closing.erase(g.shard);
  if (auto again = set.start_when_closed.find(g.shard); again != set.start_when_closed.end()) {
    const bool take_over = again->second;
    set.start_when_closed.erase(again);
    start_shard(g.total, g.shard, take_over);
  }
  if (stopping_ && runs_no_shard()) leave_when_settled(g.now);
}

void node_machine::on_view(const node_in::view_read& v) {
  if (v.connected && !is_master()) note_connected(*v.connected);
  // Redis says which set is in force: a node that missed the master's word (or whose master died right after the
  // switch) follows it here.
  if (v.shard_count > 0 && v.shard_count != total_ && !v.reshard_to) apply_switch(v.shard_count);
}

void node_machine::on_stop(const node_in::stop& s) {
  stopping_ = true;
  if (runs_no_shard()) return leave();
  if (live_nodes().size() <= 1) return stop_every_shard();
  // Hand the shards over through the master, one bucket-safe move at a time (zero identifies).
  drain_deadline_ = s.now + drain_timeout_ms;
  if (is_master()) place(s.now);
  else tell_master_leaving();
}

// ---- The master's step: what only a master acts on.

void node_machine::step_master(const node_input& in) {
  std::visit(overloaded{
                 [&](const node_in::master_kept& k) {
                   if (!k.lease.ok()) {
                     note(level::info, "lost the master lease; stepping down");
                     return apply_election(election_.lease_lost(k.now));
                   }
                   on_connected(k.connected, 0, k.now);
                 },
                 [&](const node_in::connected_read& c) { on_connected(c.connected, c.link_down, c.now); },
                 [&](const node_in::owners_read& o) { on_owners(o); },
                 [&](const node_in::leaving& l) {
                   note(level::info, format("node %llu is leaving: moving its shards", ull(l.from)));
                   draining_.insert(l.from);
                   place(l.now);
                 },
                 [&](const node_in::moved& m) {
                   if (m.from) note_ready(m.total, m.shard, m.now);  // the next migration may start
                 },
                 [&](const node_in::peer_fenced& f) { note_fenced(f.from, f.total, f.shard, f.now); },
                 [&](const node_in::redis_reach& r) {
                   if (r.reachable ? cut_off_.erase(r.from) == 0 : !cut_off_.insert(r.from).second) return;
                   if (r.reachable)
                     note(level::info, format("node %llu reaches Redis again", ull(r.from)));
                   else
                     note(level::info, format("node %llu cannot reach Redis: nothing new goes to it, and its shards "
                                              "move as their leases expire", ull(r.from)));
                   place(r.now);
                 },
                 [&](const node_in::reshard_read& r) { on_reshard_read(r); },
                 [&](const auto&) {},
             },
             in);
}

void node_machine::tick_master(std::int64_t now) {
  ask(redis_op::keep_master);  // keep the master lease; losing it means another node may act as master
  // The first read, retried while Redis is down; then every 5 s, to catch what a lost message hid; every tick
  // while a node holds shards it cannot renew (their leases expiring is the signal to move them).
  placements_[total_];
  bool fenced = false;
  for (auto& [total, p] : placements_) fenced = fenced || !p.fenced.empty();
  const bool again = ++ticks_since_owners_ >= owner_read_ticks || fenced || !holding_nodes(live_nodes()).empty();
  if (again) ticks_since_owners_ = 0;
  for (auto& [total, p] : placements_)
    if (!p.loaded || again) load_owners(total);
  place(now);
  step_reshard(now);
  if (reread_reshard_ms_ && now >= reread_reshard_ms_) {
    reread_reshard_ms_ = 0;
    ask(redis_op::read_reshard);
  }
}

// Redis's witness of the live nodes, read with each renewal of the master lease and when a link goes down.
void node_machine::on_connected(const std::optional<node_ids>& ids, std::uint64_t link_down, std::int64_t now) {
  if (ids) note_connected(*ids);
  if (link_down && ids && connected_.count(link_down))
    note(level::info, format("node %llu lost its link but is still connected to Redis: its shards stay with it while "
                             "it renews their leases", ull(link_down)));
  // A node that died cannot unregister itself: once Redis shows it gone (or cannot tell), the master does.
  node_ids gone;
  for (auto it = unlisted_.begin(); it != unlisted_.end();) {
    if (peers_.count(*it) || (ids && connected_.count(*it))) {
      it = peers_.count(*it) ? unlisted_.erase(it) : std::next(it);
      continue;
    }
    gone.push_back(*it);
    it = unlisted_.erase(it);
  }
  if (!gone.empty()) ask(redis_op::unregister).nodes = std::move(gone);
  if (sees_majority()) {
    minority_ticks_ = 0;
    return place(now);  // a node whose connection closed is dead: its shards go to the living now
  }
  // Cut off from most of the cluster (but not from Redis): give mastership up after a second (a node that just
  // started may be connected to Redis before it is linked), so that the majority elects a master.
  if (++minority_ticks_ < minority_rounds) return;
  note(level::warn, format("sees %zu of %zu nodes: giving mastership up for the majority to elect one", peers_.size() + 1,
                           member_count()));
  minority_ticks_ = 0;
  ask(redis_op::resign_master);
  apply_election(election_.lease_lost(now));
}

void node_machine::on_owners(const node_in::owners_read& o) {
  auto it = placements_.find(o.total);
  if (it == placements_.end()) return;  // a set that is gone (switched away from, or given up)
  auto& p = it->second;
  p.loading = false;
  if (!o.holders) return;  // Redis did not answer: the next tick asks again
  if (!p.loaded) {         // the map a new master starts from
    p.owners.clear();
    for (std::size_t i = 0; i < o.holders->size(); ++i)
      if ((*o.holders)[i]) p.owners[static_cast<int>(i)] = (*o.holders)[i];
    p.loaded = true;
    p.leaseless.clear();
  } else {
    reconcile_owners(o.total, p, *o.holders, o.now);
  }
  place(o.now);
}

void node_machine::load_owners(int total) {
  auto& p = placements_[total];
  if (p.loading) return;
  p.loading = true;
  ask(redis_op::read_owners).total = total;
}

void node_machine::place(std::int64_t now) {
  if (!is_master()) return;
  if (!sees_majority()) return;  // about to give mastership up: assign nothing meanwhile
  const auto live = live_nodes();
  for (auto& [total, p] : placements_)
    if (p.loaded) place_set(total, p, live, now);
}

// The master's placement round for one shard set: every shard owned by a live node, leaving nodes emptied, then
// rebalanced. During a reshard the prepared set is placed by the same rules, beside the set in force.
void node_machine::place_set(int total, set_placement& p, const std::set<std::uint64_t>& live, std::int64_t now) {
  for (auto it = p.moving.begin(); it != p.moving.end();) {
    auto owner = p.owners.find(it->first);
    const bool lost = owner == p.owners.end() || !live.count(owner->second);
    it = (lost || it->second.until < now) ? p.moving.erase(it) : std::next(it);
  }
  placement_input in;
  in.total = total;
  in.max_concurrency = settings_.max_concurrency;
  in.live_nodes.assign(live.begin(), live.end());
  for (auto n : draining_)
    if (live.count(n)) in.draining.insert(n);
  if (stopping_) in.draining.insert(id());
  in.owners = p.owners;
  in.holding = holding_nodes(live);
  for (auto& [shard, flight] : p.moving) in.moving.insert(shard);
  in.rebalance = settings_.rebalance;
  in.max_moves = settings_.max_moves;
  if (in.draining.size() == in.live_nodes.size()) {
    // Every node is leaving: nowhere to move anything. Each stops its shards (commit, resumable close, lease
    // released), and whoever runs them next resumes the sessions.
    for (auto it = p.owners.begin(); it != p.owners.end();) {
      if (it->second != id() && live.count(it->second)) order_peer(peer_message::release, it->second, total, it->first);
      it = live.count(it->second) ? p.owners.erase(it) : std::next(it);
    }
    if (stopping_) stop_every_shard();
    return;
  }
  auto plan = plan_placement(in);
  if (plan.assigns.empty() && plan.moves.empty()) note_rebalance_waits(total, p, plan, in, now);
  auto tell = [&](std::uint64_t node, int shard, bool take_over) {
    if (node == id()) start_shard(total, shard, take_over);
    else order_peer(peer_message::assign, node, total, shard, take_over);
  };
  for (auto& a : plan.assigns) {
    auto prev = p.owners.find(a.shard);
    const bool take_over = prev != p.owners.end() && !live.count(prev->second);  // its owner is gone: steal the session
    p.owners[a.shard] = a.node;
    p.ready.erase(a.shard);
    // In flight until ready, like a migration: a shard still identifying is never moved (its new owner would have
    // no session to resume and would IDENTIFY again), so rebalancing waits for a cold start to finish.
    p.moving[a.shard] = {now + assign_timeout_ms, true};
    tell(a.node, a.shard, take_over);
  }
  for (auto& m : plan.moves) {
    // Live migration: the old owner commits, closes with a resumable code and releases the lease; the new owner
    // takes the released lease and resumes.
    p.owners[m.shard] = m.to;
    p.ready.erase(m.shard);
    p.moving[m.shard] = {now + move_timeout_ms, false};
    if (m.from == id()) stop_shard(total, m.shard);
    else order_peer(peer_message::release, m.from, total, m.shard);
    tell(m.to, m.shard, false);
  }
}

// Unbalanced, and nothing placed or moved: say once a minute what the placement waits for (shards in flight until
// ready, at most max_moves at a time), so an operator sees a rebalance that does not progress, and why.
void node_machine::note_rebalance_waits(int total, set_placement& p, const placement_plan& plan,
                                        const placement_input& in, std::int64_t now) {
  if (p.moving.empty() || now - p.waits_noted_ms < 60000 || plan.most.shards - plan.least.shards <= 1) return;
  p.waits_noted_ms = now;
  auto oldest = std::min_element(p.moving.begin(), p.moving.end(), [](auto& a, auto& b) { return a.second.until < b.second.until; });
  auto owner = p.owners.find(oldest->first);
  note(level::warn, format("set %d is unbalanced (node %llu: %d shards, node %llu: %d) and waits for %zu shards in flight "
                           "(at most %d): the first to time out, shard %d on node %llu, in %lld s; %zu nodes hold theirs",
                           total, ull(plan.most.node), plan.most.shards, ull(plan.least.node), plan.least.shards,
                           p.moving.size(), in.max_moves,
                           oldest->first, ull(owner == p.owners.end() ? 0 : owner->second),
                           static_cast<long long>((oldest->second.until - now) / 1000), in.holding.size()));
}

// The master's map against the lease holders in Redis, for shards not in flight: a shard held by another live
// node than the map says is recorded as that node's; one that nobody has held for three reads (15 s) is handed
// out again. Messages are not lost between live nodes in normal operation, but a node that ignored an assignment
// (it was stopping, say) would otherwise leave its shard unowned for good.
void node_machine::reconcile_owners(int total, set_placement& p, const node_ids& holders, std::int64_t now) {
  const auto live = live_nodes();
  const auto holding = holding_nodes(live);
  for (std::size_t i = 0; i < holders.size(); ++i) {
    const int shard = static_cast<int>(i);
    const std::uint64_t holder = holders[i];
    if (auto f = p.fenced.find(shard); f != p.fenced.end() && now - f->second > 2 * settings_.lease_ms)
      p.fenced.erase(f);  // held (or placed) again meanwhile
    if (p.moving.count(shard)) {
      p.fenced.erase(shard);  // the master moves it anyway
      p.leaseless.erase(shard);
      auto owner = p.owners.find(shard);
      const bool assigned = p.moving.at(shard).assigned;
      if (holder && assigned && live.count(holder) && owner != p.owners.end() && owner->second != holder) {
        // Assigned while its lease looked free (read mid-failover, say), but a live node holds it: an order of the
        // previous master, or a renewal that came late. That node runs it; the assignee would wait for the lease
        // for good, and the assignment would hold a place in flight for minutes. The holder keeps it.
        shard_note(level::warn, total, shard, format("assigned to node %llu, but node %llu holds its lease: it stays there",
                                                     ull(owner->second), ull(holder)));
        if (owner->second == id()) stop_shard(total, shard);
        else if (live.count(owner->second)) order_peer(peer_message::release, owner->second, total, shard);
        p.in_flight_leaseless.erase(shard);
        p.moving.erase(shard);
        owner->second = holder;
        continue;
      }
      // A shard in flight takes its lease within a second (before any identify slot). None for 10 s: the
      // assignment was lost (its node was gone, or ignored it); place the shard again rather than wait minutes.
      if (holder) {
        p.in_flight_leaseless.erase(shard);
      } else if (now - p.in_flight_leaseless.emplace(shard, now).first->second > lost_assignment_ms) {
        shard_note(level::warn, total, shard, "assigned, but nobody took its lease in 10 s: assigning it again");
        p.in_flight_leaseless.erase(shard);
        p.moving.erase(shard);
        p.unown(shard);
      }
      continue;
    }
    p.in_flight_leaseless.erase(shard);
    if (auto f = p.fenced.find(shard); f != p.fenced.end() && !holder) {
      shard_note(level::warn, total, shard, "its owner was fenced by a stale lease, which expired: assigning it again");
      p.fenced.erase(f);
      p.unown(shard);
      continue;
    }
    if (holder) {
      p.leaseless.erase(shard);
      if (live.count(holder)) p.owners[shard] = holder;
      continue;
    }
    auto owner = p.owners.find(shard);
    if (owner == p.owners.end()) continue;  // unowned already: placement assigns it
    if (holding.count(owner->second)) {
      // Its owner cannot renew (cut off from Redis, or behind a partition and frozen): the lease expired, so the
      // shard is placed now. A linked owner is told to let it go; one behind a partition is fenced if it returns.
      shard_note(level::warn, total, shard,
                 format("the lease of node %llu expired while it could not renew it: moving the shard", ull(owner->second)));
      if (live.count(owner->second) && owner->second != id())
        order_peer(peer_message::drop, owner->second, total, shard);
      p.owners.erase(owner);
      p.leaseless.erase(shard);
      p.ready.erase(shard);
      continue;
    }
    if (++p.leaseless[shard] < leaseless_reads) continue;
    shard_note(level::warn, total, shard, "no lease holder for 15 s: assigning it again");
    p.unown(shard);
  }
}

// A node's shard was fenced. Only where the master still counts that node as the owner (it did not move the shard
// itself) is the lease holder stale; the shard is then placed again once that lease expires.
void node_machine::note_fenced(std::uint64_t node, int total, int shard, std::int64_t now) {
  auto it = placements_.find(total);
  if (it == placements_.end()) return;
  auto& p = it->second;
  if (p.moving.count(shard)) return;
  auto owner = p.owners.find(shard);
  if (owner != p.owners.end() && owner->second != node) return;  // moved on purpose (a takeover): not stale
  p.fenced[shard] = now;
}

// The master learns a shard is ready: a migration landed; for the prepared set, once all are, the switch is tried.
void node_machine::note_ready(int total, int shard, std::int64_t now) {
  auto it = placements_.find(total);
  if (it == placements_.end()) return;
  it->second.moving.erase(shard);
  it->second.ready.insert(shard);
  if (total == preparing_ && static_cast<int>(it->second.ready.size()) >= total) next_switch_ms_ = 0;
  place(now);
}

// ---- Resharding (the master's part). The set in force keeps committing while the new set is placed, identifies
// and has its events held in Redis; once every new shard holds a session, one atomic switch in Redis moves the
// stream over (reshard_store.hpp), and the old set closes its sessions with 1000.

void node_machine::answer_reshard(std::string text) {
  answer_awaited_ = false;
  ready_.reshard_answers.push_back(std::move(text));
}

// The decision's end: the next request may come (a request stays "being decided" until its begin is answered).
void node_machine::decided(std::string answer) {
  reshard_asked_ = false;
  if (!answer.empty()) answer_reshard(std::move(answer));
}

// `g-actor reshard` on the master (a count, 0 for auto, -1 to cancel), or the auto policy (by_policy).
void node_machine::on_reshard_request(const node_in::reshard_requested& r) {
  auto refuse = [&](std::string why) {
    if (!r.by_policy) ready_.reply = "REFUSED: " + why;
  };
  if (!is_master()) return refuse("this node is not the master");
  if (r.shards == -1 && !r.by_policy) {  // --cancel: the preparation is given up; the set in force stays
    if (!preparing_) return refuse("no reshard is in progress");
    if (switching_) return refuse("the switch to " + std::to_string(preparing_) + " shards is under way");
    if (answer_awaited_ || reshard_asked_) return refuse("another reshard request is being decided");
    ask(redis_op::abandon_reshard).total = preparing_;
    answer_awaited_ = true;
    return;
  }
  if (preparing_) return refuse("a reshard to " + std::to_string(preparing_) + " shards is in progress");
  if (reshard_asked_ || answer_awaited_) return refuse("another reshard request is being decided");
  if (r.shards < 0) return refuse("the shard count must be a positive number or auto");
  reshard_asked_ = true;
  reshard_requested_ = r.shards;
  reshard_by_policy_ = r.by_policy;
  answer_awaited_ = !r.by_policy;
  ask(redis_op::read_gateway_bot);
}

void node_machine::decide_reshard(const node_in::gateway_bot_read& g) {
  if (!reshard_asked_) return;
  if (!is_master()) return decided("REFUSED: this node is no longer the master");
  if (!g.error.empty()) return decided("REFUSED: /gateway/bot: " + g.error);
  reshard_input in;
  in.requested = reshard_requested_;
  in.current = total_;
  in.preparing = preparing_;
  in.recommended = g.shards;
  in.max_concurrency = g.max_concurrency;
  in.sessions_left = g.sessions_left;
  in.reserve = settings_.session_reserve;
  if (reshard_by_policy_) {
    in.requested = auto_reshard_target(total_, g.shards, g.max_concurrency, settings_.reshard_margin);
    if (in.requested == 0) return decided("");  // nothing outgrown
  }
  auto d = plan_reshard(in);
  if (!d.to) return decided("REFUSED: " + d.reason);
  auto& op = ask(redis_op::begin_reshard);
  op.from = total_;
  op.total = d.to;
  op.epoch = election_.epoch();
  op.note = d.reason;
}

void node_machine::on_begun(const node_in::reshard_begun& b) {
  if (!b.result.ok()) return decided("REFUSED: " + b.result.reason);
  if (!is_master())  // deposed meanwhile: the begin was refused unless this was still the master
    return decided("OK: preparing " + std::to_string(b.to) + " shards (the master changed; it goes on)");
  begin_preparing(b.to, b.now);
  const std::string why = b.result.reason.empty() ? b.note : b.result.reason;
  decided("OK: preparing " + std::to_string(b.to) + " shards beside the " + std::to_string(total_) + " in force" +
          (why.empty() ? "" : " (" + why + ")") + "; the switch follows once every new shard runs its session");
}

void node_machine::begin_preparing(int to, std::int64_t now) {
  preparing_ = to;
  preparing_since_ = now;
  switching_ = false;
  next_switch_ms_ = 0;
  auto& p = placements_[to];
  p = set_placement{};
  p.loaded = true;  // a new set: nobody holds any of it
  place(now);
}

// Tried when every new shard reported ready, and every 2 s anyway (a new master does not know who reported): the
// switch script itself checks that every shard of the new set holds a session.
void node_machine::step_reshard(std::int64_t now) {
  if (!preparing_) {
    if (settings_.reshard_auto && now >= next_auto_check_ms_ && !reshard_asked_) {
      next_auto_check_ms_ = now + settings_.reshard_check_ms;
      on_reshard_request({0, true, now});
    }
    return;
  }
  if (switching_ || now < next_switch_ms_) return;
  switching_ = true;
  next_switch_ms_ = now + 2000;
  auto& op = ask(redis_op::switch_reshard);
  op.total = preparing_;
  op.epoch = election_.epoch();
}

void node_machine::finish_switch(const node_in::switch_done& d) {
  switching_ = false;
  if (d.to != preparing_ || !d.to) return;
  const auto& r = d.result;
  if (r.ok()) {
    note(level::info, format("reshard: switched to %d shards in %.1f ms after %.1f s of preparation: marker %s, %lld held "
                             "events written, %lld already in the stream, %lld expected from the new set's next commits",
                             d.to, static_cast<double>(d.took_us) / 1000.0,
                             static_cast<double>(d.now - preparing_since_) / 1000.0, r.value.marker_id.c_str(),
                             static_cast<long long>(r.value.appended), static_cast<long long>(r.value.skipped),
                             static_cast<long long>(r.value.left_out)));
    return switch_everywhere(d.to);
  }
  if (r.lost() && r.value.not_ready < 0) {
    // The record is gone: this switch's own earlier try may have gone through with its answer lost (a Redis
    // timeout), or Redis lost the preparation. Redis says which: read it again (the answer applies it).
    note(level::info, "reshard: switch refused: " + r.reason);
    if (r.reason.rfind("no reshard", 0) == 0) ask(redis_op::read_reshard);
  }
  // Not ready yet, or Redis did not answer: tried again on a later tick.
}

// A new master reads what its predecessor left: a switch already made, or a preparation under way.
void node_machine::on_reshard_read(const node_in::reshard_read& r) {
  if (!r.in_force_and_preparing.ok()) {  // an unread preparation could be neither finished nor cancelled
    reread_reshard_ms_ = r.now + 1000;
    return;
  }
  const auto [in_force, to] = r.in_force_and_preparing.value;
  if (in_force > 0 && in_force != total_) switch_everywhere(in_force);
  if (to == 0 && preparing_ && preparing_ != total_)  // Redis lost the preparation: the new set is retired
    abandon_everywhere(preparing_);
  if (to > 0 && to != total_ && preparing_ != to) {
    note(level::info, format("reshard: going on with the preparation of %d shards", to));
    preparing_ = to;
    preparing_since_ = r.now;
    placements_[to];  // loaded from the lease holders on the next tick
  }
}

void node_machine::on_abandon_done(const node_in::abandon_done& a) {
  if (!a.result.ok()) return answer_reshard("REFUSED: " + a.result.reason);
  const int in_force = total_;
  if (is_master()) abandon_everywhere(a.to);
  else abandon_preparation(a.to);
  answer_reshard("OK: the preparation of " + std::to_string(a.to) + " shards was given up; " + std::to_string(in_force) +
                 " stay in force");
}

// The master tells every node what it did to a shard set (switch, abandon), under its epoch.
void node_machine::tell_peers(peer_message::kind what, int total) {
  for (auto& [peer, rank] : peers_) order_peer(what, peer, total);
}

void node_machine::switch_everywhere(int to) {
  apply_switch(to);
  tell_peers(peer_message::switched, to);
}

void node_machine::abandon_everywhere(int total) {
  abandon_preparation(total);
  tell_peers(peer_message::abandon, total);
}

// ---- A follower's step: the master's orders, acted on only from the master this node follows.

void node_machine::step_follower(const node_input& in) {
  std::visit(overloaded{
                 [&](const node_in::assigned& a) {
                   if (!from_master(a.from, a.epoch) || a.total <= 0 || a.shard < 0 || a.shard >= a.total) return;
                   start_shard(a.total, a.shard, a.take_over);
                 },
                 [&](const node_in::released& r) {
                   if (from_master(r.from, r.epoch)) stop_shard(r.total, r.shard);
                 },
                 [&](const node_in::dropped& d) {
                   if (!from_master(d.from, d.epoch)) return;
                   auto set = sets_.find(d.total);
                   if (set == sets_.end() || !set->second.running.count(d.shard)) return;
                   set->second.ready.erase(d.shard);
                   set->second.closing.insert(d.shard);  // an assignment back before it is gone starts it again afterwards
                   order(shard_order::drop, d.total, d.shard);
                 },
                 [&](const node_in::switched& s) {
                   if (from_master(s.from, s.epoch)) apply_switch(s.to);
                 },
                 [&](const node_in::abandoned& a) {
                   if (from_master(a.from, a.epoch)) abandon_preparation(a.total);
                 },
                 [&](const auto&) {},
             },
             in);
}

// Never from a deposed master: only the master this node follows, at an epoch no older than the newest it saw.
bool node_machine::from_master(std::uint64_t from, std::uint64_t epoch) {
  if (!from || epoch < epoch_seen_) return false;
  if (auto m = master(); m && *m != from) return false;  // not the master this node follows
  if (epoch == epoch_seen_ && master_seen_ && from != master_seen_) return false;
  epoch_seen_ = epoch;
  master_seen_ = from;
  return true;
}

// A stopping worker tells the current master, again after every change of master, until its shards are gone.
void node_machine::tell_master_leaving() {
  auto m = master();
  if (!m || *m == id() || *m == leaving_told_ || !peers_.count(*m)) return;
  send(peer_message::leaving, *m);
  leaving_told_ = *m;
}

// ---- This node's shards.

void node_machine::start_shard(int total, int shard, bool take_over) {
  if (stopping_) return;
  auto& set = sets_[total];
  if (set.running.count(shard)) {
    // The actor of an earlier stint is still here: handing over, or left from before a freeze (the shard was taken
    // over meanwhile, and the actor is about to be fenced). Run the shard again once it is gone, rather than
    // ignoring an assignment the master counts on (it would wait minutes for the shard to become ready).
    set.start_when_closed[shard] = take_over;
    return;
  }
  set.running.insert(shard);
  order(shard_order::start, total, shard, take_over);
}

void node_machine::stop_shard(int total, int shard) {
  auto& set = sets_[total];
  set.ready.erase(shard);  // its commands stay in Redis for the next owner
  set.start_when_closed.erase(shard);
  if (set.running.count(shard)) {
    set.closing.insert(shard);
    order(shard_order::stop, total, shard);
  }
}

// A superseded or given-up set: its shards end their sessions (close 1000) and are not started again.
void node_machine::end_shards(int total, shard_set& set) {
  set.ready.clear();
  set.start_when_closed.clear();
  for (int shard : set.running) {
    set.closing.insert(shard);
    order(shard_order::end, total, shard);
  }
}

// No master to hand the shards over through: each closes with a resumable code, commits and releases its lease;
// whoever gets it next resumes the session.
void node_machine::stop_every_shard() {
  drain_deadline_ = 0;
  if (shards_stopped_) return;
  shards_stopped_ = true;
  if (runs_no_shard()) return leave();
  for (auto& [total, set] : sets_) {
    set.ready.clear();
    for (int shard : set.running) order(shard_order::stop, total, shard);
  }
}

// A reshard switched the cluster to `to` shards (this node's master did, or another's, or this node read it in
// Redis): the prepared set is in force and takes the backend commands; the superseded set closes its sessions
// with 1000 (its commits are refused in Redis from the switch on, so it could not write anyway).
void node_machine::apply_switch(int to) {
  if (to == total_ || to <= 0) return;
  note(level::info, format("the cluster runs %d shards now (resharded from %d)", to, total_));
  total_ = to;
  ready_.in_force = to;
  for (auto it = sets_.begin(); it != sets_.end();) {
    auto& [total, set] = *it;
    if (total == to) {  // ready shards of the new set stay ready: they take the backend commands from now on
      ++it;
      continue;
    }
    end_shards(total, set);
    it = set.running.empty() ? sets_.erase(it) : std::next(it);
  }
  for (int shard : sets_[to].running) order(shard_order::promote, to, shard);
  for (auto it = placements_.begin(); it != placements_.end();) it = it->first == to ? std::next(it) : placements_.erase(it);
  if (preparing_ == to) {
    preparing_ = 0;
    switching_ = false;
  }
}

// The prepared set is given up (Redis lost the preparation, or it cannot finish): its shards end their sessions.
void node_machine::abandon_preparation(int total) {
  if (total == total_) return;
  if (auto it = sets_.find(total); it != sets_.end()) end_shards(total, it->second);
  placements_.erase(total);
  if (preparing_ == total) {
    note(level::info, format("the reshard to %d shards was given up; %d stay in force", total, total_));
    preparing_ = 0;
    switching_ = false;
  }
}

// The end of a stop: the shards are handed over (or stopped); a master gives its lease up so that another node
// need not wait for it.
void node_machine::leave() {
  if (is_master()) ask(redis_op::resign_master);
  ready_.leave = true;
  left_ = true;
}

// A stopping master leaves once the moves it started have landed (or timed out), so that the next master does not
// find shards with no lease and hand them out a second time.
void node_machine::leave_when_settled(std::int64_t now) {
  bool moving = false;
  for (auto& [total, p] : placements_) moving = moving || !p.moving.empty();
  if (is_master() && moving && now < drain_deadline_) return;
  leave();
}

bool node_machine::runs_no_shard() const {
  for (auto& [total, set] : sets_)
    if (!set.running.empty()) return false;
  return true;
}

const std::set<int>& node_machine::ready_in_force() const {
  static const std::set<int> none;
  auto it = sets_.find(total_);
  return it == sets_.end() ? none : it->second.ready;
}

// ---- Membership.

std::set<std::uint64_t> node_machine::live_nodes() const {
  std::set<std::uint64_t> live{id()};
  for (auto& [peer, rank] : peers_) live.insert(peer);
  return live;
}

void node_machine::note_connected(const node_ids& ids) {
  connected_ = std::set<std::uint64_t>(ids.begin(), ids.end());
  for (auto it = ever_linked_.begin(); it != ever_linked_.end();)  // gone for good: forgotten
    it = connected_.count(*it) || peers_.count(*it) ? std::next(it) : ever_linked_.erase(it);
}

// The cluster's members: every node this one is linked to, and every node it was linked to that Redis still sees
// connected. A named connection alone does not make a member: a node still joining (linked within a second) or one
// that never proved the cookie must not tip a master into the minority.
std::size_t node_machine::member_count() const {
  auto members = live_nodes();
  for (auto n : connected_)
    if (ever_linked_.count(n)) members.insert(n);
  return members.size();
}

// At least half of the members, this node included. A tie keeps the master it has (two nodes whose link broke:
// the one holding the Redis master lease stays master, the other cannot take the lease from it).
bool node_machine::sees_majority() const { return 2 * (peers_.size() + 1) >= member_count(); }

// Nodes that keep the shards they own and get nothing more: linked nodes that cannot reach Redis, and nodes whose
// link is down but whose Redis connection lives (a partition between nodes: they still renew their leases, and a
// master that merely lost its link to them must not take their shards).
std::set<std::uint64_t> node_machine::holding_nodes(const std::set<std::uint64_t>& live) const {
  std::set<std::uint64_t> out;
  for (auto n : cut_off_)
    if (live.count(n)) out.insert(n);
  for (auto n : connected_)
    if (!live.count(n)) out.insert(n);
  return out;
}

}  // namespace g::cluster
