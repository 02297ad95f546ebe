#pragma once
// An asynchronous Redis connection on an io_context, for the data path: commands go out pipelined as they come and
// their replies are answered in order on the thread that runs the io_context, so an event committed through it
// crosses no thread between the socket it arrived on and the reply that commits it. Commands come already in
// Redis's wire format (resp.hpp), in parts the pipe shares until they are written: a payload is not copied again
// on its way out (the parts go out as one gathered write).
//
// Not thread-safe: use it only from the one thread that runs its io_context.
//
// Every command is answered, once. When the connection fails (refused, reset, closed, no reply within the
// endpoint's timeout, or READONLY: the server became a replica), every command written or queued is answered with
// a transport error (redis_connection::transport_failure), and for a moment after (200 ms, doubling to 1 s while
// failures go on) new commands are answered so at once; the next command after that connects again. AUTH and
// SELECT go first on each connection, then SCRIPT LOAD of the given scripts (Redis forgets them on a restart).
//
// With sentinels the master is found by `locate` (the node's control connection, which asks them and checks ROLE),
// and followed: once a second the pipe compares its server with `master_now` and leaves a server the control
// connection has left.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/redis/redis_connection.hpp"

namespace boost::asio {
class io_context;
}

namespace g::net {

class redis_pipe {
 public:
  using part = std::shared_ptr<const std::string>;
  using answer = std::function<void(redis_reply)>;
  // Where the master is: answers once, from any thread, with an address or why there is none.
  using locate_fn = std::function<void(std::function<void(std::optional<redis_address>, std::string)>)>;
  using master_now_fn = std::function<std::optional<redis_address>()>;

  redis_pipe(boost::asio::io_context& io, redis_endpoint endpoint, std::vector<std::string> scripts = {},
             locate_fn locate = {}, master_now_fn master_now = {});
  ~redis_pipe();  // closes the connection; commands still waiting are not answered (their owners are going too)
  redis_pipe(const redis_pipe&) = delete;
  redis_pipe& operator=(const redis_pipe&) = delete;

  // One command, its wire bytes in `parts` (in order). `done` runs on the io thread, never inside send().
  void send(std::vector<part> parts, answer done);
  // One command from its arguments (encoded here: for the rare ones).
  void command(const std::vector<std::string_view>& argv, answer done);

  // From now on commands wait for flush() instead of going out after the handlers already queued: the io loop that
  // runs this pipe's io_context calls flush() once per pass, so a pass's commands go out in one write (one system
  // call, one wake-up of Redis) however many rounds of handlers the pass takes. Call it before the first send().
  void hold_writes();
  // Writes what waits, unless a write is under way (what queued meanwhile goes at the next flush()).
  void flush();

  // The server in use (or last tried), for log lines; how many connections were made; commands not answered yet.
  std::string address() const;
  std::uint64_t connections() const;
  std::size_t waiting() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace g::net
