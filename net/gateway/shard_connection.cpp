#include "net/gateway/shard_connection.hpp"

#include "net/compression/message_buffer.hpp"

#include <utility>  // before Asio (Boost 1.74 with C++20)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>

#include "net/compression/zlib_stream.hpp"
#include "net/compression/zstd_stream.hpp"
#include "net/gateway/command.hpp"
#include "net/gateway/gateway_codec.hpp"
#include "net/gateway/identify_gate.hpp"
#include "net/gateway/send_budget.hpp"
#include "net/json/json_writer.hpp"
#include "net/url.hpp"
#include "net/clock.hpp"

namespace g::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// One TLS context per trusted-CA set, shared by every shard: loading the system store per shard would cost
// hundreds of kilobytes each.
std::shared_ptr<ssl::context> tls_context(const std::string& ca_file) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ssl::context>> contexts;
  std::lock_guard lock(mu);
  if (auto existing = contexts[ca_file].lock()) return existing;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_default_verify_paths();
  if (!ca_file.empty()) ctx->load_verify_file(ca_file);
  ctx->set_verify_mode(ssl::verify_peer);
  contexts[ca_file] = ctx;
  return ctx;
}

// A shard's io_context is run by one thread (its io lane), so every handler of a shard already runs in order, on
// that thread: an implicit strand, in Asio's terms. A strand object would add a lock, a shared count and a second
// queueing to every completion; the concrete executor type (not any_io_executor) spares a polymorphic call and a
// copy per handler. Together they were about a third of the node's user-space time per event.
using executor = asio::io_context::executor_type;
using tcp_socket_stream = beast::basic_stream<tcp, executor, beast::unlimited_rate_policy>;
using plain_ws = websocket::stream<tcp_socket_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<tcp_socket_stream>>;

}  // namespace

// One WebSocket connection to the gateway, from resolve to close: its socket, its read buffer and inflater, its
// heartbeats and IDENTIFY/RESUME (never carried over to the next connection), its send budget. As Beast's
// advanced_server_flex, one small object per connection, plain and TLS sharing one path (CRTP): its handlers keep
// it alive, and it reports to the shard only while attached. A replaced connection is detached and its socket
// closed, so its late handlers end here instead of acting on its successor.
struct gateway_link {
  virtual ~gateway_link() = default;
  virtual void send_critical(std::string payload, bool first) = 0;
  virtual void flush() = 0;
  virtual void close(int code) = 0;
  virtual void read_again() = 0;  // reading was paused: go on
  virtual bool is_open() const = 0;
  virtual void detach() = 0;
};

// One shard: its session machine, the identify slot, the backend commands waiting for READY, and the current
// connection. Everything runs on the one thread that runs `ex`'s io_context.
struct shard_connection::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, shard_config c, identify_gate& g, shard_listener& l)
      : ex(io.get_executor()),
        cfg(std::move(c)),
        gate(g),
        listener(l),
        machine(cfg.gateway_url, cfg.timing,
                cfg.seed ? cfg.seed : static_cast<std::uint64_t>(std::random_device{}()) ^ static_cast<std::uint64_t>(steady_ms())),
        timer(ex) {}
  // Destroyed without shutdown (its io_context stopped first): the connection must not outlive it attached.
  ~impl() { drop_link(); }

  executor ex;
  shard_config cfg;
  identify_gate& gate;
  shard_listener& listener;
  session_machine machine;
  gateway_codec codec;
  gateway_event event;  // the message being handled (reused: its strings keep their capacity)
  asio::steady_timer timer;
  std::atomic<bool> dead{false};
  std::shared_ptr<ssl::context> tls_ctx;
  std::shared_ptr<gateway_link> link;  // the current connection, if any
  bool paused = false;
  bool read_wanted = false;  // a read is due but reading is paused
  struct queued_command {
    std::string payload;
    std::function<void(command_result, std::string)> done;
  };
  std::deque<queued_command> commands;
  std::optional<identify_gate::ticket> slot;
  identify_gate::ticket identify_grant = 0;  // the grant whose IDENTIFY is queued: the gate hears when it left

  // ---- the machine's actions ------------------------------------------------------------------------------
  void apply(const session_actions& actions) {
    for (const auto& a : actions) {
      switch (a.what) {
        case session_action::connect: connect(a.url); break;
        case session_action::close: close(a.code); break;
        case session_action::send_heartbeat:
          // A heartbeat jumps the queue: it must never wait behind commands.
          if (link) link->send_critical(gateway_codec::heartbeat(a.seq), true);
          break;
        case session_action::send_identify:
          if (link)
            link->send_critical(gateway_codec::identify({cfg.token, cfg.intents, cfg.shard_id, cfg.shard_count,
                                                          cfg.large_threshold, cfg.presence}), false);
          break;
        case session_action::send_resume:
          if (link) link->send_critical(gateway_codec::resume(cfg.token, machine.state().session_id, a.seq), false);
          break;
        case session_action::request_identify_slot: request_slot(); break;
        case session_action::cancel_identify_slot:
          if (slot) gate.cancel(*slot);
          slot.reset();
          break;
        case session_action::report: report(false); break;
        case session_action::fatal: report(true); break;
      }
    }
    if (link && machine.phase() == session_phase::ready) link->flush();
    arm_timer();
  }

  // The session as the machine sees it; `error` replaces the machine's last error when given.
  void report(bool fatal, std::string error = {}) {
    if (dead) return;
    shard_report r;
    r.phase = machine.phase();
    r.session = machine.state();
    r.latency_ms = machine.latency_ms();
    r.error = error.empty() ? machine.last_error() : std::move(error);
    r.fatal = fatal;
    listener.on_report(r);
  }

  void arm_timer() {
    millis at = machine.next_wakeup();
    if (at == INT64_MAX) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::milliseconds(std::max<millis>(0, at - steady_ms())));
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->dead) return;
      self->apply(self->machine.on_tick(steady_ms()));
    });
  }

  // The grant answers one ticket: a slot cancelled meanwhile (the connection ended) is not this one any more.
  void request_slot() {
    std::weak_ptr<impl> weak = shared_from_this();
    auto asked = std::make_shared<identify_gate::ticket>(0);
    slot = *asked = gate.request(cfg.shard_id, [weak, asked] {
      if (auto self = weak.lock()) {
        asio::post(self->ex, [self, asked] {
          if (self->dead || !self->slot || *self->slot != *asked) return;
          self->identify_grant = *self->slot;
          self->slot.reset();
          self->apply(self->machine.on_identify_slot(steady_ms()));
        });
      }
    });
  }

  // ---- the connection's life ------------------------------------------------------------------------------
  void connect(const std::string& address);
  void drop_link() {
    if (link) link->detach();
    link.reset();
  }
  void close(int code) {
    if (!link || !link->is_open()) {
      // Not connected (still connecting): just abandon the attempt.
      drop_link();
      apply(machine.on_closed(code, steady_ms()));
      return;
    }
    link->close(code);
  }
  // What a connection reports, while it is the shard's connection.
  void on_connect_failed(const std::string& why) {
    drop_link();
    apply(machine.on_connect_failed(why, steady_ms()));
  }
  void on_open() { apply(machine.on_open(steady_ms())); }
  void on_closed(int code) {
    drop_link();
    apply(machine.on_closed(code, steady_ms()));
  }
  void on_corrupt(const std::string& why) {
    // A stream we cannot decode cannot be trusted further: drop the connection, keep the session, resume.
    drop_link();
    apply(machine.on_undecodable(why, steady_ms()));
  }
  // One inflated message. False: undecodable (the connection reports it).
  bool on_message(const char* msg, std::size_t size, std::size_t readable) {
    if (!codec.decode(msg, size, readable, event)) return false;
    const millis now = steady_ms();
    const gateway_frame& frame = event.frame;
    switch (event.what) {
      case gateway_event::dispatch:
      case gateway_event::ready:
      case gateway_event::resumed: {
        if (frame.s >= 0) machine.on_dispatch(frame.s);
        session_actions acts;
        if (event.what == gateway_event::ready) acts = machine.on_ready(event.session_id, event.resume_gateway_url, now);
        if (event.what == gateway_event::resumed) acts = machine.on_resumed(now);
        // READY/RESUMED: report the (new) session first, so that the listener files this event under it.
        if (!acts.empty()) apply(acts);
        if (!dead) listener.on_dispatch(frame, std::string_view(msg, size));
        break;
      }
      case gateway_event::heartbeat_request: apply(machine.on_heartbeat_request(now)); break;
      case gateway_event::reconnect: apply(machine.on_reconnect_request(now)); break;
      case gateway_event::invalid_session: apply(machine.on_invalid_session(event.resumable, now)); break;
      case gateway_event::hello: apply(machine.on_hello(event.heartbeat_interval, now)); break;
      case gateway_event::heartbeat_ack: apply(machine.on_heartbeat_ack(now)); break;  // the round trip reaches metrics
      case gateway_event::unknown: break;  // an op Discord added: ignored
    }
    return true;
  }
  // Backend commands go out only once the session is READY.
  bool command_ready() const { return !commands.empty() && machine.phase() == session_phase::ready; }
  void take_command(std::string& payload, std::function<void(command_result, std::string)>& done) {
    payload = std::move(commands.front().payload);
    done = std::move(commands.front().done);
    commands.pop_front();
  }

  void shutdown() {
    dead = true;
    timer.cancel();
    if (slot) gate.cancel(*slot);
    slot.reset();
    for (auto& c : commands)
      if (c.done) c.done(command_result::rejected_not_running, "shard connection destroyed");
    commands.clear();
    drop_link();
  }
};

template <class Derived>
class gateway_connection : public gateway_link, public std::enable_shared_from_this<Derived> {
 public:
  gateway_connection(shard_connection::impl* shard, url u, std::string target)
      : shard_(shard), gate_(shard->gate), url_(std::move(u)), target_(std::move(target)), resolver_(shard_->ex),
        send_timer_(shard_->ex), close_timer_(shard_->ex), idle_timer_(shard_->ex) {
    if (shard_->cfg.compress == "zlib-stream") zlib_ = std::make_unique<zlib_stream_inflater>();
    else if (shard_->cfg.compress == "zstd-stream") zstd_ = std::make_unique<zstd_stream_decompressor>();
  }

  void run() {
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type eps) {
                              if (!self->attached_) return;
                              if (ec) return self->shard_->on_connect_failed("resolve " + self->url_.host + ": " + ec.message());
                              self->connect_tcp(eps);
                            });
  }

  bool is_open() const override { return open_; }

  void detach() override {
    attached_ = false;
    open_ = false;
    resolver_.cancel();
    send_timer_.cancel();
    close_timer_.cancel();
    idle_timer_.cancel();
    beast::error_code ec;
    beast::get_lowest_layer(ws()).socket().close(ec);
  }

  void send_critical(std::string payload, bool first) override {
    if (first) critical_.push_front(std::move(payload));
    else critical_.push_back(std::move(payload));
    flush();
  }

  void read_again() override {
    if (open_ && attached_) read();
  }

  // ---- writing: one frame at a time, heartbeats and IDENTIFY/RESUME before commands, within the send budget.
  void flush() override {
    if (!open_ || writing_ || !attached_) return;
    if (pending_close_) return start_close();
    const millis now = steady_ms();
    std::string payload;
    std::function<void(command_result, std::string)> done;
    if (!critical_.empty()) {
      if (!budget_.allows(send_budget::kind::critical, now)) return wait_budget(send_budget::kind::critical, now);
      payload = std::move(critical_.front());
      critical_.pop_front();
    } else if (shard_->command_ready()) {
      if (!budget_.allows(send_budget::kind::command, now)) return wait_budget(send_budget::kind::command, now);
      shard_->take_command(payload, done);
    } else {
      return;
    }
    budget_.record(now);
    writing_ = true;
    // IDENTIFY: its slot counts from the write, which the gate hears of below.
    const identify_gate::ticket identify = !done && gateway_codec::is_identify(payload) ? shard_->identify_grant : 0;
    auto owned = std::make_shared<std::string>(std::move(payload));
    ws().text(true);
    ws().async_write(asio::buffer(*owned), [self = this->shared_from_this(), owned, done, identify](beast::error_code ec, std::size_t) {
      if (done) done(ec ? command_result::rejected_not_running : command_result::sent, ec ? ec.message() : "");
      if (identify && !ec) self->gate_.sent(identify);
      self->writing_ = false;
      if (ec || !self->attached_) return;  // the read side reports the connection's end
      self->flush();
    });
  }

  void close(int code) override {
    pending_close_ = code;
    if (!writing_) start_close();
  }

 protected:
  auto& ws() { return static_cast<Derived*>(this)->ws(); }

  void connect_tcp(const tcp::resolver::results_type& eps) {
    beast::get_lowest_layer(ws()).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws()).async_connect(eps, [self = this->shared_from_this()](beast::error_code ec, auto) {
      if (!self->attached_) return;
      if (ec)
        return self->shard_->on_connect_failed("connect " + self->url_.host + ":" + std::to_string(self->url_.port) + ": " +
                                               ec.message());
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws()).socket().set_option(tcp::no_delay(true), ignored);
      static_cast<Derived&>(*self).secure();  // TLS: the handshake, then `handshake`; plain: `handshake` at once
    });
  }

  void handshake() {
    beast::get_lowest_layer(ws()).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();  // liveness is the heartbeat's job
    t.keep_alive_pings = false;
    ws().set_option(t);
    ws().read_message_max(64u << 20);
    ws().auto_fragment(false);
    // A client masks what it sends through this buffer (4 KiB by default, kept for the connection's life): a shard
    // sends a heartbeat every 41 s and an IDENTIFY once, so 1 KiB is plenty (a larger command goes in several passes).
    ws().write_buffer_bytes(1024);
    std::string host = url_.host + (url_.default_port() ? "" : ":" + std::to_string(url_.port));
    ws().async_handshake(host, target_, [self = this->shared_from_this()](beast::error_code ec) {
      if (!self->attached_) return;
      if (ec) return self->shard_->on_connect_failed("WebSocket handshake: " + ec.message());
      self->open_ = true;
      self->shard_->on_open();
      if (self->attached_) self->read();
    });
  }

  void failed(const std::string& why) {
    if (attached_) shard_->on_connect_failed(why);
  }

  shard_connection::impl* shard_;  // valid while attached: the shard detaches its connection before it goes
  identify_gate& gate_;            // outlives every shard
  url url_;
  bool attached_ = true;

 private:
  // ---- reading: the hot path ------------------------------------------------------------------------------
  void read() {
    if (shard_->paused) {
      shard_->read_wanted = true;
      return;
    }
    shard_->read_wanted = false;
    ws().async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (!self->attached_) return;
      if (ec) return self->closed(ec);
      self->on_message();
      if (self->attached_ && self->open_) self->read();
    });
  }

  void closed(beast::error_code ec) {
    int code = 0;
    if (ec == websocket::error::closed) code = ws().reason().code;
    open_ = false;
    shard_->on_closed(code);
  }

  void on_message() {
    auto data = rbuf_.data();
    std::string_view raw(static_cast<const char*>(data.data()), data.size());
    const bool binary = ws().got_binary();
    const char* msg = raw.data();
    std::size_t size = raw.size(), readable = raw.size();
    if (binary && zlib_) {
      auto st = zlib_->feed(raw);
      if (st == zlib_stream_inflater::status::need_more) return consume();
      if (st == zlib_stream_inflater::status::error) return shard_->on_corrupt(zlib_->error());
      msg = zlib_->message().data();
      size = zlib_->message().size();
      readable = zlib_->readable();
    } else if (binary && zstd_) {
      if (!zstd_->feed(raw)) return shard_->on_corrupt(zstd_->error());
      msg = zstd_->message().data();
      size = zstd_->message().size();
      readable = zstd_->readable();
    }
    if (!shard_->on_message(msg, size, readable)) return shard_->on_corrupt(shard_->codec.error());
    consume();
    if (zlib_) {
      last_message_ms_ = steady_ms();
      if (!idle_armed_) watch_idle(idle_after_ms);
    }
  }

  // An idle shard (no message for idle_after_ms: between heartbeat ACKs, 41 s apart) packs its inflater's window
  // (zlib_stream_inflater::hibernate): ~40 KiB down to a few. One timer per connection, armed at most once per
  // idle_after_ms (never per message), so a busy shard pays nothing; a shard that wakes every idle_after_ms or
  // longer pays one pack and unpack (~0.1 ms) per wake.
  static constexpr millis idle_after_ms = 10000;
  void watch_idle(millis after) {
    idle_armed_ = true;
    idle_timer_.expires_after(std::chrono::milliseconds(after));
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      self->idle_armed_ = false;
      if (ec || !self->attached_ || !self->open_) return;
      const millis idle = steady_ms() - self->last_message_ms_;
      if (idle < idle_after_ms) return self->watch_idle(idle_after_ms - idle);
      self->zlib_->hibernate();  // refused mid-message: the next message arms the watch again
    });
  }

  void consume() {
    rbuf_.consume(rbuf_.size());
    // A GUILD_CREATE burst can grow the buffers to megabytes; an idle shard should not keep that.
    if (rbuf_.capacity() > idle_buffer_bytes) rbuf_ = beast::flat_buffer();
    if (zlib_) zlib_->release_large_buffers();
    if (zstd_) zstd_->release_large_buffers();
  }

  void wait_budget(send_budget::kind k, millis now) {
    send_timer_.expires_after(std::chrono::milliseconds(budget_.wait_ms(k, now)));
    send_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec && self->attached_) self->flush();
    });
  }

  void start_close() {
    const int code = pending_close_;
    critical_.clear();
    websocket::close_reason r;
    r.code = static_cast<std::uint16_t>(code);
    // The read loop sees the close (or the error) and reports it; close_timer caps the wait for the reply.
    ws().async_close(r, [self = this->shared_from_this()](beast::error_code) {});
    pending_close_ = 0;
    writing_ = true;  // nothing more goes out on this connection
    // A dead peer (the zombie case) never answers the close frame: do not wait for it longer than this.
    close_timer_.expires_after(std::chrono::milliseconds(close_wait_ms));
    close_timer_.async_wait([self = this->shared_from_this(), code](beast::error_code ec) {
      if (ec || !self->attached_ || !self->open_) return;
      self->open_ = false;
      self->shard_->on_closed(code);
    });
  }
  static constexpr millis close_wait_ms = 2000;

  std::string target_;
  tcp::resolver resolver_;
  asio::steady_timer send_timer_, close_timer_, idle_timer_;
  millis last_message_ms_ = 0;
  bool idle_armed_ = false;
  std::unique_ptr<zlib_stream_inflater> zlib_;
  std::unique_ptr<zstd_stream_decompressor> zstd_;
  beast::flat_buffer rbuf_;
  send_budget budget_;
  std::deque<std::string> critical_;
  bool open_ = false;
  bool writing_ = false;
  int pending_close_ = 0;
};

class plain_connection : public gateway_connection<plain_connection> {
 public:
  plain_connection(shard_connection::impl* shard, url u, std::string target)
      : gateway_connection(shard, std::move(u), std::move(target)), ws_(shard->ex) {}
  plain_ws& ws() { return ws_; }
  void secure() { handshake(); }

 private:
  plain_ws ws_;
};

class tls_connection : public gateway_connection<tls_connection> {
 public:
  tls_connection(shard_connection::impl* shard, url u, std::string target, ssl::context& ctx)
      : gateway_connection(shard, std::move(u), std::move(target)), ws_(shard->ex, ctx) {}
  tls_ws& ws() { return ws_; }
  void secure() {
    if (!SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), url_.host.c_str())) return failed("TLS: cannot set SNI");
    ws_.next_layer().set_verify_callback(ssl::host_name_verification(url_.host));
    ws_.next_layer().async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
      if (!self->attached_) return;
      if (ec) return self->failed("TLS handshake with " + self->url_.host + ": " + ec.message());
      self->handshake();
    });
  }

 private:
  tls_ws ws_;
};

void shard_connection::impl::connect(const std::string& address) {
  drop_link();
  auto parsed = parse_url(address);
  if (!parsed) return apply(machine.on_connect_failed("bad gateway URL '" + address + "'", steady_ms()));
  std::string target = parsed->path + "?v=10&encoding=json";
  if (cfg.compress == "zlib-stream") target += "&compress=zlib-stream";
  else if (cfg.compress == "zstd-stream") target += "&compress=zstd-stream";
  if (parsed->tls) {
    try {
      if (!tls_ctx) tls_ctx = tls_context(cfg.ca_file);
    } catch (const std::exception& e) {
      return apply(machine.on_connect_failed(std::string("TLS setup: ") + e.what(), steady_ms()));
    }
    auto c = std::make_shared<tls_connection>(this, *parsed, std::move(target), *tls_ctx);
    link = c;
    c->run();
  } else {
    auto c = std::make_shared<plain_connection>(this, *parsed, std::move(target));
    link = c;
    c->run();
  }
}

shard_connection::shard_connection(asio::io_context& io, shard_config config, identify_gate& gate, shard_listener& listener)
    : impl_(std::make_shared<impl>(io, std::move(config), gate, listener)) {}

shard_connection::~shard_connection() {
  impl_->dead = true;
  asio::post(impl_->ex, [i = impl_] { i->shutdown(); });
}

void shard_connection::start(session_state initial) {
  asio::post(impl_->ex, [i = impl_, initial = std::move(initial)]() mutable {
    i->apply(i->machine.start(std::move(initial), steady_ms()));
  });
}

void shard_connection::pause_reading(bool paused) {
  asio::post(impl_->ex, [i = impl_, paused] {
    i->paused = paused;
    if (!paused && i->read_wanted && i->link && !i->dead) i->link->read_again();
  });
}

void shard_connection::stop(bool end_session) {
  asio::post(impl_->ex, [i = impl_, end_session] { i->apply(i->machine.stop(steady_ms(), end_session)); });
}

void shard_connection::send_command(int op, std::string d_json, std::function<void(command_result, std::string)> done) {
  asio::post(impl_->ex, [i = impl_, op, d = std::move(d_json), done = std::move(done)]() mutable {
    auto check = check_command(op, d);
    if (!check.payload) {
      if (done) done(check.rejection, check.error);
      return;
    }
    if (i->machine.phase() == session_phase::stopped || i->machine.phase() == session_phase::idle) {
      if (done) done(command_result::rejected_not_running, "the shard is not running");
      return;
    }
    if (i->commands.size() >= i->cfg.max_queued_commands) {
      if (done) done(command_result::rejected_queue_full, "command queue full (" + std::to_string(i->commands.size()) + ")");
      return;
    }
    i->commands.push_back({std::move(*check.payload), std::move(done)});
    if (i->link) i->link->flush();
  });
}

}  // namespace g::net
