#include "actors/shard_actor.hpp"

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <set>
#include <unordered_map>

#include "actors/command_inbox.hpp"
#include "actors/io_threads.hpp"
#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "actors/shard_stream.hpp"
#include "actors/state_writes.hpp"
#include "net/gateway/member_chunking.hpp"
#include "net/json/json_writer.hpp"
#include "net/redis/lease_renewals.hpp"
#include "net/redis/redis_worker.hpp"
#include "net/redis/reshard_store.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"

namespace g::actors {

namespace {

struct shard_state {
  static inline const char* name = "shard";
  node_env* env = nullptr;
  caf::actor node;  // this node's actor
  int total = 0;  // the shard set this shard belongs to
  int id = 0;
  bool in_force = true;  // false while a reshard prepares its set: no board, no status, events held in Redis
  bool leased = false;
  std::int64_t renewed_ms = 0;  // when Redis last confirmed the lease (steady)
  bool stopping = false;
  bool ending = false;  // its set was superseded: the session is closed with 1000 and forgotten
  // Prepared: the session Redis knows it runs live (reshard:live). Unknown at first: a shard that takes over from a
  // dead node must clear what that node left there before it runs the session again.
  std::string live_session = "?";
  std::string opened_session;  // prepared: the session whose guilds have all come (or 15 s passed)
  bool announced = false;  // the node was told that this shard is ready
  bool acquiring = false;  // a lease request is on its way to Redis
  io_lane* lane = nullptr;  // the io thread that runs its connection and commits its events
  std::shared_ptr<shard_stream> stream;  // lives on the lane's thread
  std::unique_ptr<net::shard_connection> conn;
  bool drained = false;  // the stream committed everything (asked for at a graceful finish)
  net::shard_report last;
  // Member chunking: guilds waiting for their op 8, paced to one a second (half the command budget), and when
  // each was last asked for (Discord allows one whole-list request per guild per 30 s).
  std::deque<std::uint64_t> chunk_queue;
  std::set<std::uint64_t> chunk_unsent;  // handed to the connection, not yet confirmed as sent
  std::unordered_map<std::uint64_t, std::int64_t> chunk_asked;
  bool chunk_timer = false;

  ~shard_state() {
    drop_connection();
    update_board([](shard_status& st) { st = shard_status{}; });  // not here any more
  }

  // How log lines name it: a prepared shard with its set's total.
  g::log::shard about() const { return {id, in_force ? 0 : total}; }

  // The board shows the set in force.
  template <class F>
  void update_board(F&& f) {
    if (env && in_force && total == env->shard_total) env->board.update(id, std::forward<F>(f));
  }

  std::int64_t last_committed_seq = 0;  // as of its last stream (or the session record it resumed)
  std::int64_t committed_seq() const { return stream ? stream->committed_seq() : last_committed_seq; }

  // The connection and its stream end on their thread: the stream stops committing, the connection's destructor
  // posts its shutdown, and the stream (which a handler queued before that shutdown may still call) is released
  // after them.
  void drop_connection() {
    if (!conn) return;
    last_committed_seq = committed_seq();
    boost::asio::post(lane->io(), [stream = std::move(stream), conn = std::shared_ptr<net::shard_connection>(std::move(conn)),
                                   &io = lane->io()]() mutable {
      stream->close();
      conn.reset();
      boost::asio::post(io, [stream = std::move(stream)] {});
    });
  }
};

using shard_actor_t = caf::stateful_actor<shard_state>;

// A prepared shard (its set not in force yet) is written with its set's total.
void log(const shard_state& s, const std::string& what, g::log::level l = g::log::level::info) {
  G_LOG_AT(l, s.about(), "%s", what.c_str());
}

void start_connection(shard_actor_t* self, net::session_state session) {
  auto& s = self->state;
  node_env& env = *s.env;
  net::shard_config c;
  c.gateway_url = env.gateway_url;
  c.token = env.cfg->discord.token;
  c.shard_id = s.id;
  c.shard_count = s.total;
  c.intents = env.cfg->discord.intents;
  c.large_threshold = env.cfg->discord.large_threshold;
  c.presence = env.cfg->discord.presence;
  c.compress = env.cfg->discord.compress;
  s.drained = false;
  s.stream = std::make_shared<shard_stream>(caf::actor_cast<caf::actor>(self), *s.lane, env, s.total, s.id, !s.in_force);
  s.stream->adopt(session);
  s.conn = std::make_unique<net::shard_connection>(s.lane->io(), c, *env.gate, *s.stream);
  boost::asio::post(s.lane->io(), [stream = s.stream, conn = s.conn.get()] { stream->attach(conn); });
  s.conn->start(std::move(session));
}

void publish_status(shard_actor_t* self) {
  auto& s = self->state;
  if (!s.in_force) return;
  std::string json;
  json::writer w(json);
  w.begin_object()
      .field("node", s.env->node_id)
      .field("state", std::string(net::name(s.last.phase)))
      .field("seq", s.committed_seq())
      .field("latency_ms", s.last.latency_ms)
      .field("updated", g::net::wall_ms());
  if (!s.last.error.empty()) w.field("error", s.last.error);
  w.end_object();
  s.env->renewals->set_status(s.id, std::move(json));
}

// Prepared: Redis learns whether the shard runs its session live, with all its guilds (reshard:live). The switch
// waits for every new shard: one between sessions (op 9), or whose guilds are still coming, would miss events
// that the old set no longer writes after the switch.
void update_live(shard_actor_t* self) {
  auto& s = self->state;
  if (s.in_force) return;
  const std::string& session = s.last.session.session_id;
  std::string live = s.last.phase == net::session_phase::ready && !session.empty() && s.opened_session == session
                         ? session : std::string();
  if (live == s.live_session) return;
  s.live_session = live;
  node_env* env = s.env;
  int id = s.id;
  auto me = caf::actor_cast<caf::actor>(self);
  env->redis->ask<net::store_result<>>([env, id, live](net::redis_connection& conn) {
    return net::reshard_store(conn, env->cfg->node.group, env->node_id).set_live(id, live);
  }, [me](net::store_result<> r) {
    // Not written: the switch would wait for it for good, so it is written again in a second.
    if (!r.ok()) caf::delayed_anon_send(me, std::chrono::seconds(1), local{}, live_atom::value);
  });
}

// Ends the shard on this node: for a graceful stop after everything is committed and the lease released.
void finish(shard_actor_t* self) {
  auto& s = self->state;
  if (s.stream && !s.drained) {
    boost::asio::post(s.lane->io(), [stream = s.stream] { stream->drain(); });  // `drained` calls again
    return;
  }
  if (s.leased) {
    node_env* env = s.env;
    int total = s.total, id = s.id;
    if (!s.chunk_queue.empty() || !s.chunk_unsent.empty()) {
      // The next owner sends the member requests this one had still to send (written before the lease goes),
      // and those handed to the connection that it has not confirmed as sent (it may close first).
      std::vector<std::uint64_t> pending(s.chunk_queue.begin(), s.chunk_queue.end());
      for (auto g : s.chunk_unsent)
        if (std::find(pending.begin(), pending.end(), g) == pending.end()) pending.push_back(g);
      write_state(env, "handing over pending member requests", [total, id, pending](net::shard_store& store) {
        return store.save_chunk_pending(total, id, pending);
      }, s.about());
    }
    // Not released (Redis down): the lease expires by itself, lease_ms later; the next owner waits that long.
    write_state(env, "releasing the lease", [total, id](net::shard_store& store) { return store.release_lease(total, id); },
                s.about());
    s.leased = false;
  }
  self->quit();
}

// Its set was superseded by a reshard: what it has not committed is refused (the new set has it), the session is
// closed with 1000, and its lease and record go.
void end_session(shard_actor_t* self, const std::string& why) {
  auto& s = self->state;
  if (!s.ending) log(s, "ending the session: " + why);
  s.ending = s.stopping = true;
  if (s.stream) boost::asio::post(s.lane->io(), [stream = s.stream] { stream->close(); });
  if (s.conn && s.last.phase != net::session_phase::stopped) {
    s.conn->stop(true);  // the report (stopped) comes back here
    self->delayed_send(self, std::chrono::seconds(10), quit_atom::value);
    return;
  }
  node_env* env = s.env;
  int total = s.total, id = s.id;
  // Not forgotten (Redis down): the lease expires by itself, and the record of a superseded set is never read.
  write_state(env, "forgetting the session", [total, id, sid = s.last.session.session_id](net::shard_store& store) {
    return store.forget_session(total, id, sid);
  }, s.about());
  s.leased = false;
  self->quit();
}

// The shard stops here at once, without committing or closing its session: another node runs (or is about to run)
// it and resumes the session from the committed seq.
void let_go(shard_actor_t* self, std::atomic<std::uint64_t>& counter, const std::string& why) {
  auto& s = self->state;
  ++counter;
  log(s, why, g::log::level::warn);
  s.leased = false;
  s.drop_connection();  // no graceful close, nothing more committed: the new owner resumes the session
  self->quit();
}

// The master hears of it: when it did not move the shard itself, the lease holder is stale (a failover's replica
// lacked a handover) and the shard is placed again as soon as that lease expires.
void fenced(shard_actor_t* self, const std::string& why) {
  auto& s = self->state;
  if (s.node) self->send(s.node, local{}, fenced_atom::value, static_cast<std::int32_t>(s.total), static_cast<std::int32_t>(s.id));
  let_go(self, s.env->counters.fenced, "fenced, stopping: " + why);
}

// Cut off from Redis past its lease: whatever it buffered is Discord's to replay to the next owner.
void give_up(shard_actor_t* self, const std::string& why) {
  let_go(self, self->state.env->counters.given_up, "giving the shard up (" + why + "): its next owner resumes the session");
}

caf::behavior shard_behavior(shard_actor_t* self, node_env* env, int total, int id, bool take_over, caf::actor node) {
  self->state.env = env;
  self->state.lane = &env->threads->for_shard(id);
  self->state.node = node;
  self->state.total = total;
  self->state.id = id;
  self->state.in_force = total == env->shard_total;
  self->state.update_board([](shard_status& st) { st.here = true; });
  const std::int64_t lease_ms = env->cfg->cluster.lease_ms;
  self->send(self, acquire_atom::value);
  return {
      [=](acquire_atom) {
        if (self->state.stopping) return;
        self->state.acquiring = true;
        auto me = caf::actor_cast<caf::actor>(self);
        env->redis->ask<lease_msg>(
            [=](net::redis_connection& conn) {
              net::shard_store store(conn, env->cfg->node.group, env->node_id);
              lease_msg m;
              if (take_over) {
                auto r = store.take_over_lease(total, id, lease_ms);
                m.lease = {r.outcome, 0, r.reason};
              } else {
                m.lease = store.acquire_lease(total, id, lease_ms);
              }
              if (!m.lease.ok()) return m;
              // Held: the session to resume comes with it. Unreadable: asked for again (acquire renews a lease
              // already held), so the shard never starts without knowing its session.
              auto loaded = store.load_session(total, id);
              if (!loaded.ok()) return lease_msg::failed("session record: " + loaded.reason);
              m.session = std::move(loaded.value);
              return m;
            },
            [me](lease_msg m) { caf::anon_send(me, std::move(m)); });
      },
      [=](lease_msg& m) {
        auto& s = self->state;
        s.acquiring = false;
        if (s.stopping) {  // told to stop while asking: a lease that was granted is given back at once
          s.leased = m.lease.ok();
          return finish(self);
        }
        if (!m.lease.ok()) {
          if (m.lease.unavailable()) {
            ++env->counters.redis_errors;
            LOG_SHARD_DEBUG(s.about(), "lease not taken (%s): asking again in 1 s",
                            m.lease.reason.c_str());
          }
          // A migrating shard's lease is released as soon as its old owner has committed: look again soon
          // rather than waiting out the whole lease.
          auto wait = m.lease.lost() ? std::min<std::int64_t>(m.lease.value + 10, 200) : 1000;
          self->delayed_send(self, std::chrono::milliseconds(wait), acquire_atom::value);
          return;
        }
        s.leased = true;
        s.renewed_ms = net::steady_ms();
        net::session_state session;
        if (m.session) {
          session = {m.session->session_id, m.session->seq, m.session->resume_url};
          s.last_committed_seq = m.session->seq;
          log(s, "resuming session from seq " + std::to_string(m.session->seq));
          // Member requests its previous owner had still to send (their GUILD_CREATEs are not replayed).
          if (env->cfg->chunking.enabled && s.in_force)
            for (auto guild : m.session->chunk_pending) self->send(self, chunk_msg{guild, -1});
        }
        start_connection(self, std::move(session));
        self->delayed_send(self, std::chrono::milliseconds(lease_ms / 3), renew_atom::value);
      },
      [=](refused_msg& m) {
        auto& s = self->state;
        const net::commit_outcome& c = m.result.value;
        switch (c.refused) {
          case net::commit_outcome::fenced:
            return fenced(self, m.result.reason);
          case net::commit_outcome::superseded:
            return end_session(self, m.result.reason);
          default:
            // A gap: events went missing between what was committed and this batch. Resume from the committed
            // seq and let Discord replay them.
            log(s, "commit refused (" + m.result.reason + "), resuming from seq " + std::to_string(c.committed_seq), g::log::level::warn);
            s.drop_connection();
            if (s.stopping) return finish(self);  // the next owner resumes from the committed seq
            start_connection(self, std::move(m.session));
            return;
        }
      },
      [=](local, drained_atom) {
        self->state.drained = true;
        if (self->state.stopping) finish(self);
      },
      [=](chunk_msg m) {
        auto& s = self->state;
        // Refused for the whole-member-list limit (another node asked, or this one before a restart): asked again
        // once Discord allows it.
        if (m.retry_after_ms >= 0) s.chunk_asked[m.guild_id] = g::net::wall_ms() - 30000 + m.retry_after_ms + 100;
        if (s.chunk_unsent.erase(m.guild_id)) s.chunk_asked.erase(m.guild_id);  // never sent: not asked at all
        s.chunk_queue.push_back(m.guild_id);
        if (!s.chunk_timer) {
          s.chunk_timer = true;
          self->send(self, chunk_atom::value);
        }
      },
      [=](local, chunked_atom, std::uint64_t guild) { self->state.chunk_unsent.erase(guild); },
      [=](chunk_atom) {
        auto& s = self->state;
        const std::int64_t now = g::net::wall_ms();
        for (std::size_t tries = s.chunk_queue.size(); tries > 0 && s.conn; --tries) {
          std::uint64_t gid = s.chunk_queue.front();
          s.chunk_queue.pop_front();
          auto it = s.chunk_asked.find(gid);
          if (it != s.chunk_asked.end() && now - it->second < 30000) {
            s.chunk_queue.push_back(gid);  // asked recently: Discord would refuse; asked once the 30 s have passed
            continue;
          }
          s.chunk_asked[gid] = now;
          s.chunk_unsent.insert(gid);
          auto me = caf::actor_cast<caf::actor>(self);
          s.conn->send_command(8, net::request_all_members(gid, env->cfg->chunking.presences),
                               [me, id, gid](net::command_result r, std::string why) {
                                 if (r == net::command_result::sent) return caf::anon_send(me, local{}, chunked_atom::value, gid);
                                 LOG_SHARD_WARN((g::log::shard{id}), "member request not sent: %s", why.c_str());
                                 caf::anon_send(me, chunk_msg{gid, -1});  // asked again (or handed over)
                               });
          break;
        }
        if (s.chunk_queue.empty()) {
          s.chunk_timer = false;
          return;
        }
        self->delayed_send(self, std::chrono::seconds(1), chunk_atom::value);
      },
      [=](report_msg& m) {
        auto& s = self->state;
        bool phase_changed = m.report.phase != s.last.phase;
        s.last = m.report;
        if (m.report.fatal) log(s, "stopped: " + m.report.error, g::log::level::error);
        s.update_board([&](shard_status& st) {
          st.state = std::string(net::name(m.report.phase));
          st.latency_ms = m.report.latency_ms;
          st.error = m.report.error;
          st.fatal = m.report.fatal;
        });
        if (phase_changed) publish_status(self);
        if (!s.in_force && m.report.phase == net::session_phase::ready && phase_changed) {
          // A resumed session gets no READY to count its guilds by: 15 s in ready, as clients wait for guilds.
          self->delayed_send(self, std::chrono::seconds(15), local{}, opened_atom::value, m.report.session.session_id);
        }
        update_live(self);
        if (!s.announced && m.report.phase == net::session_phase::ready) {
          s.announced = true;
          self->send(node, local{}, ready_atom::value, static_cast<std::int32_t>(total), static_cast<std::int32_t>(id));
        }
        if (s.ending && m.report.phase == net::session_phase::stopped) return end_session(self, "closed");
        if (s.stopping && m.report.phase == net::session_phase::stopped) finish(self);
      },
      [=](renew_atom) {
        auto& s = self->state;
        if (!s.leased) return;
        publish_status(self);  // keeps latency and seq in `status` fresh
        auto me = caf::actor_cast<caf::actor>(self);
        env->renewals->renew(total, id, [me](net::store_result<> r) { caf::anon_send(me, renew_msg{std::move(r)}); });
        self->delayed_send(self, std::chrono::milliseconds(lease_ms / 3), renew_atom::value);
      },
      [=](renew_msg m) {
        auto& s = self->state;
        if (m.lease.unavailable()) {
          ++env->counters.redis_errors;
          // Redis down for everyone: nobody can take the lease either, so the session stays. But a node that sees
          // less than half of the cluster is the one cut off: once its lease expired, the majority places the shard.
          if (env->minority && net::steady_ms() - s.renewed_ms >= lease_ms)
            give_up(self, "its lease expired while this node could reach neither Redis nor most of the cluster");
          return;
        }
        if (m.lease.lost()) return fenced(self, "the lease is held by another node");
        s.renewed_ms = net::steady_ms();
      },
      [=](local, drop_atom) { give_up(self, "the master moved it: its lease expired while this node could not reach Redis"); },
      [=](commands_msg& m) {
        auto& s = self->state;
        for (auto& c : m.commands) {
          if (!s.conn) {
            answer_command(env, id, c.stream_id, net::command_result::rejected_not_running, "the shard is stopping");
            continue;
          }
          node_env* e = env;
          int shard = id;
          s.conn->send_command(c.op, c.d, [e, shard, stream_id = c.stream_id](net::command_result r, std::string why) {
            answer_command(e, shard, stream_id, r, std::move(why));
          });
        }
      },
      [=](stop_atom) {
        auto& s = self->state;
        s.stopping = true;
        if (!s.conn) {
          if (s.acquiring) return;  // the lease answer finishes the shard (and releases a lease just granted)
          return finish(self);
        }
        s.conn->stop();  // closes with a resumable code; the report (stopped) finishes the shard
        self->delayed_send(self, std::chrono::seconds(10), quit_atom::value);
      },
      [=](local, opened_atom, const std::string& session) {  // prepared: all its guilds came, or 15 s passed
        auto& s = self->state;
        if (session.empty() || session != s.last.session.session_id) return;
        s.opened_session = session;
        update_live(self);
      },
      [=](local, live_atom) {  // writing reshard:live failed: again
        self->state.live_session = "?";
        update_live(self);
      },
      [=](local, promote_atom) {  // the reshard switched to this shard's set
        auto& s = self->state;
        if (s.in_force) return;
        s.in_force = true;
        log(s, "in force");
        if (s.stream) boost::asio::post(s.lane->io(), [stream = s.stream] { stream->promote(); });
        s.update_board([&](shard_status& st) {
          st.here = true;
          st.state = std::string(net::name(s.last.phase));
          st.seq = s.committed_seq();
          st.latency_ms = s.last.latency_ms;
        });
        publish_status(self);
      },
      [=](local, end_atom) { end_session(self, "its shard set was superseded by a reshard"); },
      [=](quit_atom) {
        log(self->state, "stop timed out; leaving the lease to expire", g::log::level::warn);
        self->quit();
      },
  };
}

}  // namespace

caf::actor spawn_shard(caf::actor_system& sys, node_env& env, int total, int shard_id, bool take_over, const caf::actor& node) {
  return sys.spawn(shard_behavior, &env, total, shard_id, take_over, node);
}

}  // namespace g::actors
