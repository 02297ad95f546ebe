#pragma once
// The seam between a gateway server's protocol logic and its socket: the logic sends and closes through a
// socket_sink and is fed through a socket_handler; only net/http/gateway_sessions.hpp knows Beast.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace g::net {

struct socket_sink {
  virtual ~socket_sink() = default;
  virtual void send(std::string_view payload) = 0;            // one gateway message, in order
  virtual void close(int code, std::string_view reason) = 0;  // close frame after what is queued
  virtual void drop() = 0;                                    // TCP reset, no close frame
  virtual std::size_t backlog_bytes() const = 0;              // queued but not yet written to the socket
  // When the newest byte read from the socket reached this host, on the steady clock: not later than `now_ms`, the
  // time its message was handled, which a busy loop makes late. `now_ms` where the kernel cannot say.
  virtual std::int64_t received_ms(std::int64_t now_ms) const = 0;
};

struct socket_handler {
  virtual ~socket_handler() = default;
  virtual void on_message(std::string_view payload, std::int64_t now_ms) = 0;
  // The socket is gone: `client_code` is the client's close code, 0 when the TCP connection just ended.
  virtual void on_socket_closed(int client_code, std::int64_t now_ms) = 0;
};

// What the WebSocket upgrade request asked for.
struct socket_params {
  std::string path = "/";
  std::string version;   // the `v` query parameter as given
  std::string encoding;  // `encoding`
  std::string compress;  // `compress` when the transport is compressed, else empty
};

}  // namespace g::net
