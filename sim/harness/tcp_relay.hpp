#pragma once
// A TCP relay on a free loopback port to a target port, that a test can cut: while held, nothing passes in either
// direction and new connections wait unanswered, as with a network link that drops every packet (both ends see a
// silent peer, not a closed one). Released, everything held goes through. One thread, poll(2).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace g::harness {

class tcp_relay {
 public:
  explicit tcp_relay(std::uint16_t target_port);
  ~tcp_relay();
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  std::uint16_t port() const { return port_; }
  // Takes effect before it returns: bytes the relay thread had read when the call came are passed on first, none
  // after (a test that notes the time of a cut right after hold(true) must not see traffic from after it).
  void hold(bool on);
  // Closes every relayed connection now (both ends see it closed); new ones are relayed as usual.
  void reset_all() { reset_ = true; }

 private:
  void run();
  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> held_{false}, reset_{false}, stopping_{false};
  std::atomic<std::uint64_t> rounds_{0};  // loops of the relay thread begun
  std::thread thread_;
};

}  // namespace g::harness
