#include "net/redis/redis_pipe.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>

#include "net/clock.hpp"
#include "net/redis/resp.hpp"

namespace g::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct redis_pipe::impl : std::enable_shared_from_this<impl> {
  // idle: no connection (the next command makes one, unless backing off); locating: asking where the master is;
  // connecting: TCP; ready: commands flow.
  enum class phase { idle, locating, connecting, ready };

  impl(asio::io_context& io_, redis_endpoint ep_, std::vector<std::string> scripts_, locate_fn locate_,
       master_now_fn master_now_)
      : io(io_), socket(io_), resolver(io_), ticker(io_), ep(std::move(ep_)), scripts(std::move(scripts_)),
        locate(std::move(locate_)), master_now(std::move(master_now_)), at{ep.host, ep.port} {}
  ~impl() {
    if (reader) redisReaderFree(reader);
  }

  asio::io_context& io;
  asio::basic_stream_socket<tcp, asio::io_context::executor_type> socket;  // the concrete executor: no polymorphic copy per handler
  tcp::resolver resolver;
  asio::steady_timer ticker;
  redis_endpoint ep;
  std::vector<std::string> scripts;
  locate_fn locate;
  master_now_fn master_now;

  phase state = phase::idle;
  // Which connection attempt a handler belongs to: a resolve or a locate answer that outlived its attempt (it timed
  // out, and getaddrinfo cannot be cancelled once started) must not act on the next one.
  std::uint64_t attempt = 0;
  bool closed = false;
  bool ticking = false;
  redis_address at;
  std::uint64_t connections = 0;
  std::string error;                // why the last connection failed
  std::int64_t started_ms = 0;      // when this connection attempt began
  std::int64_t progress_ms = 0;     // when Redis last answered, or when a command was sent to an idle pipe
  std::int64_t followed_ms = 0;     // when the server was last compared with the control connection's
  std::int64_t retry_after_ms = 0;  // backing off until then
  std::int64_t backoff_ms = 0;

  std::deque<answer> answers;  // one per command written or queued, in order
  std::vector<part> queued;    // to be written next
  std::vector<part> writing;   // being written (kept alive until the write completes)
  std::vector<asio::const_buffer> buffers;
  bool write_busy = false;
  bool write_posted = false;
  bool held = false;  // writes wait for flush() (the io loop calls it once per pass)
  redisReader* reader = nullptr;
  std::array<char, 64 * 1024> in{};

  void send(std::vector<part> parts, answer done) {
    if (closed) return;
    if (state == phase::idle) {
      if (steady_ms() < retry_after_ms) {
        asio::post(io, [done = std::move(done), r = redis_connection::transport_error(error)] { done(r); });
        return;
      }
      start();
    }
    if (answers.empty()) progress_ms = steady_ms();
    for (auto& p : parts) queued.push_back(std::move(p));
    answers.push_back(std::move(done));
    write_soon();
  }

  // After the handlers already queued: the commands of one pass of the io loop go out in one write. Held, the io
  // loop writes them when its pass ends (flush()): a pass's handlers come in several rounds (a read that completes
  // at once queues its handler behind the write posted here), and each round would otherwise write again.
  void write_soon() {
    if (held || write_posted || write_busy || state != phase::ready) return;
    write_posted = true;
    asio::post(io, [self = shared_from_this()] {
      self->write_posted = false;
      self->write();
    });
  }

  // A connection's first commands, answered here: a refusal ends the connection with the reason.
  void prepare(const std::vector<std::string_view>& argv, std::string what) {
    queued.push_back(std::make_shared<const std::string>(resp::command(argv)));
    std::weak_ptr<impl> weak = shared_from_this();
    answers.push_back([weak, what = std::move(what)](redis_reply r) {
      if (!r.is_error() || redis_connection::transport_failure(r)) return;
      if (auto self = weak.lock()) self->fail(what + r.text);
    });
  }

  void start() {
    ++attempt;
    state = phase::locating;
    started_ms = steady_ms();
    if (reader) redisReaderFree(reader);
    reader = redisReaderCreate();
    if (!ep.password.empty()) prepare({"AUTH", ep.password}, "Redis refused AUTH: ");
    const std::string db = std::to_string(ep.db);
    if (ep.db != 0) prepare({"SELECT", db}, "Redis refused SELECT " + db + ": ");
    for (const auto& s : scripts) prepare({"SCRIPT", "LOAD", s}, "Redis refused SCRIPT LOAD: ");
    tick_soon();
    if (!locate) return located(attempt, redis_address{ep.host, ep.port}, {});
    auto self = shared_from_this();
    locate([self, tried = attempt](std::optional<redis_address> where, std::string why) {
      asio::post(self->io, [self, tried, where = std::move(where), why = std::move(why)] { self->located(tried, where, why); });
    });
  }

  void located(std::uint64_t tried, const std::optional<redis_address>& where, const std::string& why) {
    if (tried != attempt || state != phase::locating) return;  // failed meanwhile (timed out)
    if (!where) return fail("no Redis master to connect to: " + why);
    at = *where;
    state = phase::connecting;
    auto self = shared_from_this();
    resolver.async_resolve(at.host, std::to_string(at.port), [self, tried](boost::system::error_code ec, tcp::resolver::results_type found) {
      if (tried != self->attempt || self->state != phase::connecting) return;
      if (ec) return self->fail("cannot resolve Redis at " + self->at.text() + ": " + ec.message());
      asio::async_connect(self->socket, found, [self, tried](boost::system::error_code ec, const tcp::endpoint&) {
        if (tried != self->attempt || self->state != phase::connecting) return;
        if (ec) return self->fail("cannot connect to Redis at " + self->at.text() + ": " + ec.message());
        boost::system::error_code ignored;
        self->socket.set_option(tcp::no_delay(true), ignored);
        self->state = phase::ready;
        ++self->connections;
        self->backoff_ms = 0;
        self->progress_ms = self->followed_ms = steady_ms();
        self->write();
        self->read();
      });
    });
  }

  void write() {
    if (state != phase::ready || write_busy || queued.empty()) return;
    writing.swap(queued);
    buffers.clear();
    for (const auto& p : writing) buffers.push_back(asio::buffer(*p));
    write_busy = true;
    auto self = shared_from_this();
    asio::async_write(socket, buffers, [self](boost::system::error_code ec, std::size_t) {
      self->write_busy = false;
      self->writing.clear();
      if (ec && ec != asio::error::operation_aborted && self->state == phase::ready)
        return self->fail("writing to Redis at " + self->at.text() + ": " + ec.message());
      if (!self->held || ec) self->write();  // what queued meanwhile (also on a new connection made while an aborted write completed)
    });
  }

  void read() {
    auto self = shared_from_this();
    socket.async_read_some(asio::buffer(in), [self](boost::system::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted || self->state != phase::ready) return;
      if (ec) return self->fail(ec == asio::error::eof ? "Redis at " + self->at.text() + " closed the connection"
                                                       : "reading from Redis at " + self->at.text() + ": " + ec.message());
      if (redisReaderFeed(self->reader, self->in.data(), n) != REDIS_OK) return self->fail("unreadable reply from Redis");
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(self->reader, &raw) != REDIS_OK) return self->fail("unreadable reply from Redis");
        if (!raw) break;
        redis_reply r = redis_connection::from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        self->progress_ms = steady_ms();
        if (self->answers.empty()) return self->fail("Redis answered a command that was not sent");
        answer a = std::move(self->answers.front());
        self->answers.pop_front();
        // A master turned replica by a failover refuses writes: the next connection finds the new master.
        const bool read_only = r.is_error() && r.text.rfind("READONLY", 0) == 0;
        a(std::move(r));
        if (self->state != phase::ready) return;  // the answer (a refused AUTH, say) ended the connection
        if (read_only) return self->fail("Redis at " + self->at.text() + " is read-only now");
      }
      self->read();
    });
  }

  void tick_soon() {
    if (ticking || closed) return;
    ticking = true;
    ticker.expires_after(std::chrono::milliseconds(250));
    std::weak_ptr<impl> weak = shared_from_this();
    ticker.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->ticking = false;
      if (ec || self->closed || self->state == phase::idle) return;
      self->tick();
      if (self->state != phase::idle) self->tick_soon();
    });
  }

  void tick() {
    const std::int64_t now = steady_ms();
    if (state != phase::ready) {
      if (now - started_ms >= ep.timeout_ms)
        fail("no connection to Redis at " + at.text() + " within " + std::to_string(ep.timeout_ms) + " ms");
      return;
    }
    if (!answers.empty() && now - progress_ms >= ep.timeout_ms)
      return fail("Redis at " + at.text() + " did not answer within " + std::to_string(ep.timeout_ms) + " ms");
    if (master_now && now - followed_ms >= 1000) {
      followed_ms = now;
      auto named = master_now();
      if (named && !(*named == at)) fail("the sentinels moved the master away from " + at.text());
    }
  }

  void fail(const std::string& why) {
    if (closed) return;
    error = why;
    state = phase::idle;
    boost::system::error_code ignored;
    socket.close(ignored);
    resolver.cancel();
    backoff_ms = backoff_ms ? std::min<std::int64_t>(backoff_ms * 2, 1000) : 200;
    retry_after_ms = steady_ms() + backoff_ms;
    queued.clear();
    auto unanswered = std::move(answers);
    answers.clear();
    const redis_reply r = redis_connection::transport_error(why);
    for (auto& a : unanswered) a(r);  // may send again: answered at once while backing off
  }

  void close() {
    closed = true;
    state = phase::idle;
    answers.clear();
    boost::system::error_code ignored;
    socket.close(ignored);
    resolver.cancel();
    ticker.cancel();
  }
};

redis_pipe::redis_pipe(asio::io_context& io, redis_endpoint endpoint, std::vector<std::string> scripts, locate_fn locate,
                       master_now_fn master_now)
    : impl_(std::make_shared<impl>(io, std::move(endpoint), std::move(scripts), std::move(locate), std::move(master_now))) {}

redis_pipe::~redis_pipe() { impl_->close(); }

void redis_pipe::send(std::vector<part> parts, answer done) { impl_->send(std::move(parts), std::move(done)); }

void redis_pipe::hold_writes() { impl_->held = true; }

void redis_pipe::flush() { impl_->write(); }

void redis_pipe::command(const std::vector<std::string_view>& argv, answer done) {
  impl_->send({std::make_shared<const std::string>(resp::command(argv))}, std::move(done));
}

std::string redis_pipe::address() const {
  const auto& ep = impl_->ep;
  return impl_->at.text() + (ep.sentinels.empty() ? "" : " (master \"" + ep.sentinel_master + "\")");
}
std::uint64_t redis_pipe::connections() const { return impl_->connections; }
std::size_t redis_pipe::waiting() const { return impl_->answers.size(); }

}  // namespace g::net
