#pragma once
// A stream layer that gathers many small writes into one socket write. Beast writes one WebSocket message per
// async_write; a server sending tens of thousands of small messages a second would otherwise pay one syscall
// (and one wake-up of the peer) per message. Writes complete as soon as their bytes are buffered; once more than
// `high_water` bytes wait, the next write completes only after a flush, so a slow reader still pushes back.
// Include only in .cpp files (Asio/Beast).
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>
#include <string>
#include <utility>

namespace g::net {

template <class NextLayer>
class write_coalescing_stream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;
  static constexpr std::size_t high_water = 1u << 20;

  template <class... Args>
  explicit write_coalescing_stream(Args&&... args) : next_(std::forward<Args>(args)...), state_(std::make_shared<state>()) {}
  write_coalescing_stream(write_coalescing_stream&&) = default;
  ~write_coalescing_stream() {
    if (state_) state_->alive = false;
  }

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return next_.async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_initiate<Handler, void(boost::beast::error_code, std::size_t)>(
        [this](auto h, const ConstBuffers& bufs) { start_write(std::move(h), bufs); }, handler, buffers);
  }

 private:
  // A deferred write completion (Beast issues at most one write at a time, so one slot is enough).
  struct waiter {
    virtual ~waiter() = default;
    virtual void complete(boost::beast::error_code ec) = 0;
  };
  template <class H>
  struct waiter_of : waiter {
    H h;
    std::size_t n;
    waiter_of(H&& handler, std::size_t bytes) : h(std::move(handler)), n(bytes) {}
    void complete(boost::beast::error_code ec) override { std::move(h)(ec, ec ? 0 : n); }
  };
  struct state {
    std::string pending, inflight;
    bool flushing = false;
    bool alive = true;
    boost::beast::error_code error;
    std::unique_ptr<waiter> waiting;
  };

  template <class H, class ConstBuffers>
  void start_write(H&& h, const ConstBuffers& bufs) {
    auto& s = *state_;
    std::size_t n = boost::asio::buffer_size(bufs);
    if (s.error) {
      boost::asio::post(get_executor(), [h = std::move(h), ec = s.error]() mutable { std::move(h)(ec, 0); });
      return;
    }
    std::size_t old = s.pending.size();
    s.pending.resize(old + n);
    boost::asio::buffer_copy(boost::asio::buffer(s.pending.data() + old, n), bufs);
    flush(state_, this);
    if (s.pending.size() > high_water) {
      s.waiting = std::make_unique<waiter_of<H>>(std::move(h), n);
      return;
    }
    boost::asio::post(get_executor(), [h = std::move(h), n]() mutable { std::move(h)(boost::beast::error_code{}, n); });
  }

  static void flush(const std::shared_ptr<state>& st, write_coalescing_stream* self) {
    state& s = *st;
    if (s.flushing || s.pending.empty() || !s.alive) return;
    s.flushing = true;
    s.inflight.swap(s.pending);
    s.pending.clear();
    boost::asio::async_write(self->next_, boost::asio::buffer(s.inflight),
                             [st, self](boost::beast::error_code ec, std::size_t) {
                               state& s = *st;
                               s.flushing = false;
                               s.inflight.clear();
                               if (!s.alive) return;  // the stream is gone; only the state lives on
                               if (ec) s.error = ec;
                               if (!ec) flush(st, self);
                               if (s.waiting && (ec || s.pending.size() <= high_water)) {
                                 auto w = std::move(s.waiting);
                                 w->complete(ec);
                               }
                             });
  }

  NextLayer next_;
  std::shared_ptr<state> state_;
};

// WebSocket teardown passes through to the wrapped stream.
template <class NextLayer>
void teardown(boost::beast::role_type role, write_coalescing_stream<NextLayer>& s, boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class NextLayer, class Handler>
void async_teardown(boost::beast::role_type role, write_coalescing_stream<NextLayer>& s, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

}  // namespace g::net
