#include "actors/shard_stream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <utility>

#include "actors/io_threads.hpp"
#include "actors/messages.hpp"
#include "actors/node_env.hpp"
#include "net/clock.hpp"
#include "net/gateway/member_chunking.hpp"
#include "net/log.hpp"
#include "net/redis/redis_pipe.hpp"

namespace g::actors {

shard_stream::shard_stream(caf::actor shard, io_lane& lane, node_env& env, int total, int id, bool prepared)
    : shard_(std::move(shard)), lane_(lane), env_(env), total_(total), id_(id), prepared_(prepared),
      head_(net::redis_keys(env.cfg->node.group), env.node_id, total, id, env.cfg->cluster.lease_ms) {}

void shard_stream::adopt(const net::session_state& s) {
  if (s.resumable()) tag_ = std::make_shared<net::session_tag>(net::session_tag{s.session_id, s.resume_url});
  committed_seq_ = s.seq;
}

void shard_stream::on_dispatch(const net::gateway_frame& f, std::string_view) {
  if (closed_) return;
  if (!tag_) {
    // READY/RESUMED are reported before they are dispatched, so this would be a bug: say so, loudly.
    LOG_SHARD_ERROR((g::log::shard{id_}), "BUG: dispatch %.*s (seq %lld) before any session report",
                    static_cast<int>(f.t.size()), f.t.data(), static_cast<long long>(f.s));
    return;
  }
  if (f.t == "READY") ++env_.counters.identifies;
  if (f.t == "RESUMED") ++env_.counters.resumes;
  ++received_;
  // A prepared set's READY and initial GUILD_CREATEs move the seq and are not held: the stream has every change
  // since through the set in force, and this older picture written after them would undo some. They tell Redis
  // from when the new session has each guild ("*"), which the switch's matching needs. Filtered events still move
  // the committed seq (an empty t).
  bool opened_now = false;
  std::string_view t, d;
  if (prepared_ && snapshot_.opens_session(f.t, f.d, f.guild_id)) {
    t = "*";
    opened_now = snapshot_.opened();
  } else if (env_.filter.passes(f.t)) {
    t = f.t;
    d = f.d;
  }
  batch_.add(tag_, f.s, t, d, net::wall_ms(), f.guild_id);
  commit_soon();
  pace_reading();
  if (opened_now) {  // the session may carry the stream once these openings are committed
    opened_session_ = tag_->session_id;
    opened_seq_ = f.s;
  }
  const bool chunking = env_.cfg->chunking.enabled && !prepared_;
  if (chunking && f.t == "GUILD_CREATE")
    if (auto gid = net::guild_needing_members(f.d)) caf::anon_send(shard_, chunk_msg{*gid, -1});
  if (chunking && f.t == "RATE_LIMITED")
    if (auto limited = net::rate_limited_member_request(f.d)) caf::anon_send(shard_, chunk_msg{limited->first, limited->second});
}

void shard_stream::on_report(const net::shard_report& r) {
  if (closed_) return;
  const auto& s = r.session;
  if (s.resumable() && (!tag_ || tag_->session_id != s.session_id || tag_->resume_url != s.resume_url))
    tag_ = std::make_shared<net::session_tag>(net::session_tag{s.session_id, s.resume_url});
  caf::anon_send(shard_, report_msg{r});
}

// After the reads already queued on the io loop: the dispatches of one pass go in one commit, and the commits of
// every shard of this thread in one write to Redis.
void shard_stream::commit_soon() {
  if (commit_posted_) return;
  commit_posted_ = true;
  boost::asio::post(lane_.io(), [self = shared_from_this()] {
    self->commit_posted_ = false;
    self->commit();
  });
}

void shard_stream::commit() {
  if (closed_ || retrying_) return;
  if (received_) {
    env_.counters.events += received_;
    received_ = 0;
  }
  const net::commit_segment* segment = batch_.take();
  if (!segment) return;
  // In force or prepared is the node's shard total's to say at each commit: a reshard's switch can come between two.
  auto head = std::make_shared<const std::string>(head_.encode(segment->session->session_id, segment->session->resume_url,
                                                               net::wall_ms(), total_ == env_.shard_total, segment->events));
  lane_.pipe().send({std::move(head), segment->wire},
                    [self = shared_from_this()](net::redis_reply reply) { self->on_commit_answer(reply); });
}

template <class F>
void shard_stream::update_board(F&& f) {
  if (!prepared_ && total_ == env_.shard_total) env_.board.update(id_, std::forward<F>(f));
}

void shard_stream::on_commit_answer(const net::redis_reply& reply) {
  if (closed_) return;
  net::commit_result result = net::read_commit_reply(reply, id_);
  lane_.note_commit(result, failing_);
  if (result.unavailable()) {
    ++env_.counters.redis_errors;
    // Redis forgot the script (a restart, SCRIPT FLUSH): loaded again before the retry.
    if (reply.is_error() && reply.text.rfind("NOSCRIPT", 0) == 0)
      lane_.pipe().command({"SCRIPT", "LOAD", net::commit_script_text()}, [](net::redis_reply) {});
    batch_.failed();
    update_board([&](shard_status& st) {
      st.committing = false;
      st.buffered = batch_.size();
    });
    return retry_later();
  }
  const net::commit_outcome& c = result.value;
  if (c.refused != net::commit_outcome::none) {
    // The actor decides: fenced or superseded ends the shard here; a gap resumes from the committed seq on a new
    // connection (and a new stream).
    net::session_state session;
    if (const net::commit_segment* s = batch_.in_flight_segment()) session = {s->session->session_id, c.committed_seq, s->session->resume_url};
    closed_ = true;
    batch_.clear();
    caf::anon_send(shard_, refused_msg{std::move(result), std::move(session)});
    return;
  }
  ++env_.counters.commits;
  const bool opened = !opened_session_.empty() && batch_.in_flight_segment()->session->session_id == opened_session_ &&
                      c.committed_seq >= opened_seq_;
  batch_.committed();
  committed_seq_ = c.committed_seq;
  if (opened) {
    caf::anon_send(shard_, local{}, opened_atom::value, opened_session_);
    opened_session_.clear();
  }
  update_board([&](shard_status& st) {
    st.committing = true;
    st.seq = c.committed_seq;
    st.events += static_cast<std::uint64_t>(c.appended);
    ++st.commits;
    st.buffered = batch_.size();
  });
  commit();
  pace_reading();
  if (draining_ && batch_.empty()) drain();
}

void shard_stream::retry_later() {
  retrying_ = true;
  auto timer = std::make_shared<boost::asio::steady_timer>(lane_.io(), std::chrono::milliseconds(500));
  timer->async_wait([self = shared_from_this(), timer](boost::system::error_code) {
    self->retrying_ = false;
    self->commit();
  });
}

// Backpressure: a full buffer (Redis slow or down) pauses the socket; half empty, it reads again.
void shard_stream::pace_reading() {
  if (!conn_) return;
  if (!reading_paused_ && batch_.full()) {
    reading_paused_ = true;
    conn_->pause_reading(true);
  } else if (reading_paused_ && batch_.size() < batch_capacity / 2) {
    reading_paused_ = false;
    conn_->pause_reading(false);
  }
}

void shard_stream::drain() {
  if (closed_) return;
  commit();
  if (batch_.empty()) {
    draining_ = false;
    caf::anon_send(shard_, local{}, drained_atom::value);
    return;
  }
  draining_ = true;
}

void shard_stream::close() {
  lane_.forget(failing_);
  closed_ = true;
  conn_ = nullptr;
  batch_.clear();
}

}  // namespace g::actors
