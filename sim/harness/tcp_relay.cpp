#include "sim/harness/tcp_relay.hpp"

#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace g::harness {

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// One relayed connection: bytes read from one side wait in `pending` until the other side takes them.
struct pair {
  int fd[2];
  std::string pending[2];  // pending[i]: read from fd[i], to be written to fd[1 - i]
  bool closed = false;
};

}  // namespace

tcp_relay::tcp_relay(std::uint16_t target_port) : target_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto a = loopback(0);
  socklen_t len = sizeof a;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("tcp_relay: cannot listen");
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

tcp_relay::~tcp_relay() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

void tcp_relay::hold(bool on) {
  held_ = on;
  // Two rounds: the one under way when the flag changed (it may still pass what it read) and one that began after.
  const std::uint64_t now = rounds_;
  for (int i = 0; i < 200 && rounds_ < now + 2 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void tcp_relay::run() {
  std::vector<pair> pairs;
  std::vector<pollfd> fds;
  while (!stopping_) {
    ++rounds_;
    if (reset_.exchange(false)) {
      for (auto& p : pairs) p.closed = true;
    }
    for (auto& p : pairs)
      if (p.closed) ::close(p.fd[0]), ::close(p.fd[1]);
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const pair& p) { return p.closed; }), pairs.end());
    const bool held = held_;
    fds.clear();
    fds.push_back({listener_, static_cast<short>(held ? 0 : POLLIN), 0});
    for (auto& p : pairs)
      for (int i = 0; i < 2; ++i) {
        short ev = 0;
        if (!held && p.pending[i].size() < (1 << 20)) ev |= POLLIN;
        if (!held && !p.pending[1 - i].empty()) ev |= POLLOUT;
        fds.push_back({p.fd[i], ev, 0});
      }
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    const std::size_t polled = pairs.size();  // a pair accepted below has no pollfd yet: it is served next round
    if (fds[0].revents & POLLIN) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client >= 0) {
        int server = ::socket(AF_INET, SOCK_STREAM, 0);
        auto a = loopback(target_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          ::fcntl(client, F_SETFL, O_NONBLOCK);
          ::fcntl(server, F_SETFL, O_NONBLOCK);
          pairs.push_back({{client, server}, {}, false});
        } else {
          ::close(client);
          ::close(server);
        }
      }
    }
    for (std::size_t k = 0; k < polled; ++k) {
      auto& p = pairs[k];
      for (int i = 0; i < 2 && !p.closed; ++i) {
        const pollfd& f = fds[1 + 2 * k + i];
        if (f.revents & POLLIN) {
          char buf[65536];
          ssize_t n = ::read(p.fd[i], buf, sizeof buf);
          if (n <= 0) p.closed = true;
          else p.pending[i].append(buf, static_cast<std::size_t>(n));
        } else if (f.revents & (POLLHUP | POLLERR)) {
          p.closed = true;
        }
        if (!p.closed && (f.revents & POLLOUT) && !p.pending[1 - i].empty()) {
          ssize_t n = ::write(p.fd[i], p.pending[1 - i].data(), p.pending[1 - i].size());
          if (n < 0) p.closed = true;
          else p.pending[1 - i].erase(0, static_cast<std::size_t>(n));
        }
      }
    }
  }
  for (auto& p : pairs) ::close(p.fd[0]), ::close(p.fd[1]);
}

}  // namespace g::harness
