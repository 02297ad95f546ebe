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

using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

struct shard_connection::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, shard_config c, identify_gate& g, shard_listener& l)
      : strand(asio::make_strand(io)),
        cfg(std::move(c)),
        gate(g),
        listener(l),
        machine(cfg.gateway_url, cfg.timing,
                cfg.seed ? cfg.seed : static_cast<std::uint64_t>(std::random_device{}()) ^ static_cast<std::uint64_t>(steady_ms())),
        resolver(strand),
        timer(strand),
        send_timer(strand),
        close_timer(strand) {}

  asio::strand<asio::io_context::executor_type> strand;
  shard_config cfg;
  identify_gate& gate;
  shard_listener& listener;
  session_machine machine;
  send_budget budget;
  gateway_codec codec;
  gateway_event event;  // the message being handled (reused: its strings keep their capacity)
  tcp::resolver resolver;
  asio::steady_timer timer, send_timer, close_timer;
  std::atomic<bool> dead{false};

  // The current connection; `generation` tells its handlers from those of older ones.
  std::uint64_t generation = 0;
  std::optional<plain_ws> plain;
  std::optional<tls_ws> tls;
  std::shared_ptr<ssl::context> tls_ctx;
  std::unique_ptr<zlib_stream_inflater> zlib;
  std::unique_ptr<zstd_stream_decompressor> zstd;
  beast::flat_buffer rbuf;
  bool open = false;
  bool writing = false;
  bool paused = false;
  bool read_wanted = false;  // a read is due but reading is paused
  int pending_close = 0;
  std::deque<std::string> critical;
  struct queued_command {
    std::string payload;
    std::function<void(command_result, std::string)> done;
  };
  std::deque<queued_command> commands;
  std::optional<identify_gate::ticket> slot;
  identify_gate::ticket identify_grant = 0;  // the grant whose IDENTIFY is queued: the gate hears when it left
  std::string identify_payload;

  template <class F>
  void with_ws(F&& f) {
    if (tls) f(*tls);
    else if (plain) f(*plain);
  }

  // ---- the machine's actions ------------------------------------------------------------------------------
  void apply(const session_actions& actions) {
    for (const auto& a : actions) {
      switch (a.what) {
        case session_action::connect: connect(a.url); break;
        case session_action::close: close(a.code); break;
        case session_action::send_heartbeat: {
          // A heartbeat jumps the queue: it must never wait behind commands.
          critical.push_front(gateway_codec::heartbeat(a.seq));
          flush();
          break;
        }
        case session_action::send_identify:
          critical.push_back(gateway_codec::identify({cfg.token, cfg.intents, cfg.shard_id, cfg.shard_count,
                                                      cfg.large_threshold, cfg.presence}));
          flush();
          break;
        case session_action::send_resume:
          critical.push_back(gateway_codec::resume(cfg.token, machine.state().session_id, a.seq));
          flush();
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
    if (machine.phase() == session_phase::ready) flush();
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

  void request_slot() {
    std::weak_ptr<impl> weak = shared_from_this();
    std::uint64_t gen = generation;
    slot = gate.request(cfg.shard_id, [weak, gen] {
      if (auto self = weak.lock()) {
        asio::post(self->strand, [self, gen] {
          if (self->dead || gen != self->generation) return;
          if (self->slot) self->identify_grant = *self->slot;
          self->slot.reset();
          self->apply(self->machine.on_identify_slot(steady_ms()));
        });
      }
    });
  }

  // ---- connecting -----------------------------------------------------------------------------------------
  void reset_connection() {
    ++generation;
    open = false;
    writing = false;
    pending_close = 0;
    critical.clear();
    budget.reset();
    beast::error_code ec;
    if (plain) beast::get_lowest_layer(*plain).socket().close(ec);
    if (tls) beast::get_lowest_layer(*tls).socket().close(ec);
    plain.reset();
    tls.reset();
    rbuf = beast::flat_buffer();
    zlib.reset();
    zstd.reset();
  }

  void connect(const std::string& address) {
    reset_connection();
    auto parsed = parse_url(address);
    if (!parsed) {
      apply(machine.on_connect_failed("bad gateway URL '" + address + "'", steady_ms()));
      return;
    }
    std::string target = parsed->path + "?v=10&encoding=json";
    if (cfg.compress == "zlib-stream") {
      zlib = std::make_unique<zlib_stream_inflater>();
      target += "&compress=zlib-stream";
    } else if (cfg.compress == "zstd-stream") {
      zstd = std::make_unique<zstd_stream_decompressor>();
      target += "&compress=zstd-stream";
    }
    if (parsed->tls) {
      try {
        if (!tls_ctx) tls_ctx = tls_context(cfg.ca_file);
      } catch (const std::exception& e) {
        apply(machine.on_connect_failed(std::string("TLS setup: ") + e.what(), steady_ms()));
        return;
      }
      tls.emplace(strand, *tls_ctx);
    } else {
      plain.emplace(strand);
    }
    std::uint64_t gen = generation;
    resolver.async_resolve(parsed->host, std::to_string(parsed->port),
                           [self = shared_from_this(), gen, u = *parsed, target](beast::error_code ec, tcp::resolver::results_type eps) {
                             if (self->dead || gen != self->generation) return;
                             if (ec) return self->failed("resolve " + u.host + ": " + ec.message());
                             self->with_ws([&](auto& ws) { self->connect_tcp(ws, eps, u, target, gen); });
                           });
  }

  template <class WS>
  void connect_tcp(WS& ws, const tcp::resolver::results_type& eps, const net::url& u, const std::string& target, std::uint64_t gen) {
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws).async_connect(eps, [self = shared_from_this(), &ws, u, target, gen](beast::error_code ec, auto) {
      if (self->dead || gen != self->generation) return;
      if (ec) return self->failed("connect " + u.host + ":" + std::to_string(u.port) + ": " + ec.message());
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true), ignored);
      if constexpr (std::is_same_v<WS, tls_ws>) {
        if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), u.host.c_str()))
          return self->failed("TLS: cannot set SNI");
        ws.next_layer().set_verify_callback(ssl::host_name_verification(u.host));
        ws.next_layer().async_handshake(ssl::stream_base::client, [self, &ws, u, target, gen](beast::error_code ec) {
          if (self->dead || gen != self->generation) return;
          if (ec) return self->failed("TLS handshake with " + u.host + ": " + ec.message());
          self->handshake(ws, u, target, gen);
        });
      } else {
        self->handshake(ws, u, target, gen);
      }
    });
  }

  template <class WS>
  void handshake(WS& ws, const net::url& u, const std::string& target, std::uint64_t gen) {
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();  // liveness is the heartbeat's job
    t.keep_alive_pings = false;
    ws.set_option(t);
    ws.read_message_max(64u << 20);
    ws.auto_fragment(false);
    // A client masks what it sends through this buffer (4 KiB by default, kept for the connection's life): a shard
    // sends a heartbeat every 41 s and an IDENTIFY once, so 1 KiB is plenty (a larger command goes in several passes).
    ws.write_buffer_bytes(1024);
    std::string host = u.host + (u.default_port() ? "" : ":" + std::to_string(u.port));
    ws.async_handshake(host, target, [self = shared_from_this(), gen](beast::error_code ec) {
      if (self->dead || gen != self->generation) return;
      if (ec) return self->failed("WebSocket handshake: " + ec.message());
      self->open = true;
      self->apply(self->machine.on_open(steady_ms()));
      self->read();
    });
  }

  void failed(const std::string& why) { apply(machine.on_connect_failed(why, steady_ms())); }

  // ---- reading: the hot path ------------------------------------------------------------------------------
  void read() {
    if (paused) {
      read_wanted = true;
      return;
    }
    read_wanted = false;
    std::uint64_t gen = generation;
    with_ws([&](auto& ws) {
      ws.async_read(rbuf, [self = shared_from_this(), gen](beast::error_code ec, std::size_t) {
        if (self->dead || gen != self->generation) return;
        if (ec) return self->closed(ec);
        self->on_message();
        if (gen == self->generation && self->open) self->read();
      });
    });
  }

  void closed(beast::error_code ec) {
    int code = 0;
    if (ec == websocket::error::closed) with_ws([&](auto& ws) { code = ws.reason().code; });
    open = false;
    apply(machine.on_closed(code, steady_ms()));
  }

  void on_message() {
    auto data = rbuf.data();
    std::string_view raw(static_cast<const char*>(data.data()), data.size());
    bool binary = false;
    with_ws([&](auto& ws) { binary = ws.got_binary(); });
    const char* msg = raw.data();
    std::size_t size = raw.size(), readable = raw.size();
    if (binary && zlib) {
      auto st = zlib->feed(raw);
      if (st == zlib_stream_inflater::status::need_more) return consume();
      if (st == zlib_stream_inflater::status::error) return corrupt(zlib->error());
      msg = zlib->message().data();
      size = zlib->message().size();
      readable = zlib->readable();
    } else if (binary && zstd) {
      if (!zstd->feed(raw)) return corrupt(zstd->error());
      msg = zstd->message().data();
      size = zstd->message().size();
      readable = zstd->readable();
    }
    if (!codec.decode(msg, size, readable, event)) return corrupt(codec.error());
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
    consume();
  }

  void consume() {
    rbuf.consume(rbuf.size());
    // A GUILD_CREATE burst can grow the buffers to megabytes; an idle shard should not keep that.
    if (rbuf.capacity() > idle_buffer_bytes) rbuf = beast::flat_buffer();
    if (zlib) zlib->release_large_buffers();
    if (zstd) zstd->release_large_buffers();
  }

  void corrupt(const std::string& why) {
    // A stream we cannot decode cannot be trusted further: drop the connection, keep the session, resume.
    reset_connection();
    apply(machine.on_undecodable(why, steady_ms()));
  }

  // ---- writing --------------------------------------------------------------------------------------------
  void flush() {
    if (!open || writing || pending_close) {
      if (open && !writing && pending_close) start_close();
      return;
    }
    const millis now = steady_ms();
    std::string* payload = nullptr;
    std::function<void(command_result, std::string)> done;
    if (!critical.empty()) {
      if (!budget.allows(send_budget::kind::critical, now)) return wait_budget(send_budget::kind::critical, now);
      payload = &critical.front();
    } else if (!commands.empty() && machine.phase() == session_phase::ready) {
      if (!budget.allows(send_budget::kind::command, now)) return wait_budget(send_budget::kind::command, now);
      payload = &commands.front().payload;
      done = std::move(commands.front().done);
    } else {
      return;
    }
    budget.record(now);
    writing = true;
    // IDENTIFY: its slot counts from the write, which the gate hears of below.
    const identify_gate::ticket identify = !done && gateway_codec::is_identify(*payload) ? identify_grant : 0;
    auto owned = std::make_shared<std::string>(std::move(*payload));
    if (done) commands.pop_front(); else critical.pop_front();
    std::uint64_t gen = generation;
    with_ws([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(*owned), [self = shared_from_this(), owned, gen, done, identify](beast::error_code ec, std::size_t) {
        if (done) done(ec ? command_result::rejected_not_running : command_result::sent, ec ? ec.message() : "");
        if (identify && !ec) self->gate.sent(identify);
        if (self->dead || gen != self->generation) return;
        self->writing = false;
        if (ec) return;  // the read side reports the connection's end
        self->flush();
      });
    });
  }

  void wait_budget(send_budget::kind k, millis now) {
    send_timer.expires_after(std::chrono::milliseconds(budget.wait_ms(k, now)));
    send_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->dead) self->flush();
    });
  }

  void close(int code) {
    if (!open) {
      // Not connected (still connecting): just abandon the attempt.
      reset_connection();
      apply(machine.on_closed(code, steady_ms()));
      return;
    }
    pending_close = code;
    if (!writing) start_close();
  }

  void start_close() {
    int code = pending_close;
    std::uint64_t gen = generation;
    critical.clear();
    with_ws([&](auto& ws) {
      websocket::close_reason r;
      r.code = static_cast<std::uint16_t>(code);
      // The read loop sees the close (or the error) and reports it; close_timer caps the wait for the reply.
      ws.async_close(r, [self = shared_from_this()](beast::error_code) {});
    });
    pending_close = 0;
    writing = true;  // nothing more goes out on this connection
    // A dead peer (the zombie case) never answers the close frame: do not wait for it longer than this.
    close_timer.expires_after(std::chrono::milliseconds(close_wait_ms));
    close_timer.async_wait([self = shared_from_this(), gen, code](beast::error_code ec) {
      if (ec || self->dead || gen != self->generation || !self->open) return;
      self->reset_connection();
      self->apply(self->machine.on_closed(code, steady_ms()));
    });
  }
  static constexpr millis close_wait_ms = 2000;

  void shutdown() {
    dead = true;
    timer.cancel();
    send_timer.cancel();
    if (slot) gate.cancel(*slot);
    slot.reset();
    for (auto& c : commands)
      if (c.done) c.done(command_result::rejected_not_running, "shard connection destroyed");
    commands.clear();
    reset_connection();
  }
};

shard_connection::shard_connection(asio::io_context& io, shard_config config, identify_gate& gate, shard_listener& listener)
    : impl_(std::make_shared<impl>(io, std::move(config), gate, listener)) {}

shard_connection::~shard_connection() {
  impl_->dead = true;
  asio::post(impl_->strand, [i = impl_] { i->shutdown(); });
}

void shard_connection::start(session_state initial) {
  asio::post(impl_->strand, [i = impl_, initial = std::move(initial)]() mutable {
    i->apply(i->machine.start(std::move(initial), steady_ms()));
  });
}

void shard_connection::pause_reading(bool paused) {
  asio::post(impl_->strand, [i = impl_, paused] {
    i->paused = paused;
    if (!paused && i->read_wanted && i->open && !i->dead) i->read();
  });
}

void shard_connection::stop(bool end_session) {
  asio::post(impl_->strand, [i = impl_, end_session] { i->apply(i->machine.stop(steady_ms(), end_session)); });
}

void shard_connection::send_command(int op, std::string d_json, std::function<void(command_result, std::string)> done) {
  asio::post(impl_->strand, [i = impl_, op, d = std::move(d_json), done = std::move(done)]() mutable {
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
    i->flush();
  });
}

}  // namespace g::net
