#include "actors/io_threads.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <sys/prctl.h>

#include <chrono>
#include <thread>

#include "actors/node_env.hpp"
#include "net/clock.hpp"
#include "net/log.hpp"
#include "net/redis/redis_pipe.hpp"
#include "net/redis/redis_worker.hpp"

namespace g::actors {

void commit_health::note(bool failing, const std::string& why, const std::string& address, bool left) {
  std::lock_guard l(mu_);
  if (failing) {
    if (failing_++ > 0) return;
    since_ms_ = net::steady_ms();
    ++counters_.commit_outages;
    LOG_ERROR("Redis at %s does not take commits (%s): events are buffered and the shards are not ready until it does",
              address.c_str(), why.c_str());
    return;
  }
  if (failing_ == 0 || --failing_ > 0) return;
  if (left) {
    LOG_INFO("no shard of this node waits for Redis at %s to take commits any more (they left it) after %.1f s",
             address.c_str(), static_cast<double>(net::steady_ms() - since_ms_) / 1000.0);
    return;
  }
  LOG_INFO("Redis at %s takes commits again after %.1f s", address.c_str(),
           static_cast<double>(net::steady_ms() - since_ms_) / 1000.0);
}

void commit_health::note_server(const std::string& address) {
  std::lock_guard l(mu_);
  if (address == address_) return;
  if (!address_.empty()) LOG_WARN("commits go to Redis at %s now (before: %s)", address.c_str(), address_.c_str());
  address_ = address;
}

io_lane::io_lane(std::size_t index, commit_health& health)
    : index_(index), health_(health), io_(std::make_unique<boost::asio::io_context>(1)) {}

io_lane::~io_lane() { pipe_.reset(); }  // before its io_context

void io_lane::note_commit(const net::commit_result& r, bool& stream_failing) {
  if (pipe_->connections() != connections_) {
    connections_ = pipe_->connections();
    health_.note_server(pipe_->address());
  }
  const bool failing = r.unavailable();
  if (failing == stream_failing) return;  // the usual case: nothing shared is touched
  stream_failing = failing;
  if (failing ? failing_streams_++ == 0 : --failing_streams_ == 0) health_.note(failing, r.reason, pipe_->address());
}

void io_lane::forget(bool& stream_failing) {
  if (!stream_failing) return;
  stream_failing = false;
  if (--failing_streams_ == 0) health_.note(false, {}, pipe_->address(), true);
}

struct io_threads::running {
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
};

io_threads::io_threads(std::size_t count, int batch_us, node_counters& counters) : health_(counters), batch_us_(batch_us) {
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < count; ++i) lanes_.push_back(std::make_unique<io_lane>(i, health_));
}

io_threads::~io_threads() { stop(); }

void io_threads::open_pipes(const net::redis_endpoint& endpoint, net::redis_worker& control) {
  net::redis_pipe::locate_fn locate;
  net::redis_pipe::master_now_fn master_now;
  if (!endpoint.sentinels.empty()) {
    locate = [&control](std::function<void(std::optional<net::redis_address>, std::string)> found) {
      control.post([found = std::move(found)](net::redis_connection& conn) {
        if (conn.ensure_connected()) return found(conn.master_in_use(), {});
        found(std::nullopt, conn.last_error());
      });
    };
    master_now = [&control] { return control.master_in_use(); };
  }
  // Made on the lane's own thread, like everything that uses it: the thread may already run, and its loop ends
  // each pass with the pipe (end_pass). Shards come to a lane later, by posts behind this one.
  for (auto& lane : lanes_)
    boost::asio::post(lane->io(), [l = lane.get(), endpoint, locate, master_now, held = batch_us_ > 0] {
      l->pipe_ = std::make_unique<net::redis_pipe>(l->io(), endpoint, std::vector<std::string>{net::commit_script_text()},
                                                   locate, master_now);
      if (held) l->pipe_->hold_writes();  // run_in_windows writes a pass's commits when the pass ends
    });
}

void io_lane::end_pass() {
  if (pipe_) pipe_->flush();
}

namespace {

// An io thread's loop. Idle, it sleeps until something is ready. Busy, it handles what is ready, lets `window` pass,
// and handles everything that arrived meanwhile in one pass. A wake-up, and each socket read, costs more than the
// event it brings (several µs per system call on a shared VM, and Asio follows every read with one that finds
// nothing): under load a thread wakes once per window instead of once per frame, a socket's frames of one window
// come in one read, and the commits of one pass go to Redis in one write (the pipe holds them until the pass ends).
// An event waits at most one window and a quarter more (the timer slack below).
void run_in_windows(io_lane& lane, std::chrono::microseconds window) {
  auto& io = lane.io();
  if (window.count() == 0) {
    io.run();
    return;
  }
  // Timer slack of a quarter window lets the kernel end the sleep with a timer interrupt that comes anyway: one
  // interrupt instead of two, each an exit to the hypervisor on a VM (measured: about a tenth less CPU per event at
  // 2,000/s). It cannot fail for a thread's own slack; if it did, the sleep would only be exact.
  ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(window.count()) * 1000 / 4, 0, 0, 0);
  auto pass = [&] {
    const std::size_t handled = io.poll();  // what is ready, and what that queued (the commits of what was read)
    lane.end_pass();
    return handled;
  };
  while (io.run_one() > 0) {
    pass();
    do {
      std::this_thread::sleep_for(window);
    } while (pass() > 0);
  }
}

}  // namespace

void io_threads::run() {
  if (running_) return;
  running_ = std::make_unique<running>();
  for (auto& lane : lanes_) running_->work.push_back(boost::asio::make_work_guard(lane->io()));
  for (auto& lane : lanes_)
    running_->threads.emplace_back([&l = *lane, us = batch_us_] { run_in_windows(l, std::chrono::microseconds(us)); });
}

void io_threads::stop() {
  if (!running_) return;
  running_->work.clear();
  for (auto& lane : lanes_) lane->io().stop();
  for (auto& t : running_->threads) t.join();
  running_.reset();
}

}  // namespace g::actors
