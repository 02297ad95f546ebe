#include "bench/socket_floor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "config/node_config.hpp"

namespace g::bench {

namespace {

using namespace std::chrono;

// A file descriptor closed with its owner.
struct fd_owner {
  int fd = -1;
  explicit fd_owner(int f = -1) : fd(f) {}
  fd_owner(fd_owner&& o) noexcept : fd(o.fd) { o.fd = -1; }
  fd_owner& operator=(fd_owner&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~fd_owner() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

fd_owner connect_to(std::uint16_t port) {
  fd_owner s(::socket(AF_INET, SOCK_STREAM, 0));
  const sockaddr_in a = loopback(port);
  if (s.fd < 0 || ::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return fd_owner();
  int one = 1;
  ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The measurement's phases, seen by every reader at its next pass.
enum phase : int { warming = 0, measuring = 1, stopping = 2 };

struct reader_figures {
  double cpu_at_start = -1, cpu_at_end = -1;
  long frames = 0, passes = 0;
  long frames_total = 0;
  std::string error;
};

// One reader: its sockets, an epoll over them, a Redis connection. Each pass reads every ready socket until it
// has nothing more (as Asio does: the read that brings data and one that finds none), appends an XADD per whole
// frame, writes them to Redis in one write and takes Redis's answers without waiting for them.
void read_in_windows(std::vector<fd_owner>& sockets, std::uint16_t redis_port, int window_us, int frame_bytes,
                     const std::atomic<int>& now_phase, reader_figures& fig) {
  fd_owner redis = connect_to(redis_port);
  fd_owner ep(::epoll_create1(0));
  if (redis.fd < 0 || ep.fd < 0) {
    fig.error = "cannot reach Redis or make an epoll";
    return;
  }
  ::fcntl(redis.fd, F_SETFL, O_NONBLOCK);
  std::vector<long> partial(sockets.size(), 0);
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    ::fcntl(sockets[i].fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep.fd, EPOLL_CTL_ADD, sockets[i].fd, &ev);
  }
  if (window_us > 0) ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(window_us) * 1000 / 4, 0, 0, 0);
  const std::string head = "*8\r\n$4\r\nXADD\r\n$11\r\nsocketfloor\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$6\r\n100000\r\n$1\r\n*\r\n$1\r\nd\r\n$" +
                           std::to_string(frame_bytes) + "\r\n";
  std::vector<char> in(1 << 16), answers(1 << 16);
  std::string out;
  epoll_event ready[64];
  bool idle = true;
  int seen = warming;
  for (;;) {
    const int p = now_phase.load(std::memory_order_relaxed);
    if (p != seen) {
      if (p == measuring) fig.cpu_at_start = thread_cpu_seconds();
      if (p == stopping) {
        fig.cpu_at_end = thread_cpu_seconds();
        return;
      }
      seen = p;
    }
    int n;
    if (idle || window_us == 0) {
      n = ::epoll_wait(ep.fd, ready, 64, 100);
    } else {
      std::this_thread::sleep_for(microseconds(window_us));
      n = ::epoll_wait(ep.fd, ready, 64, 0);
    }
    idle = n <= 0;
    long frames = 0;
    for (int k = 0; k < n; ++k) {
      const std::size_t i = ready[k].data.u64;
      ssize_t got;
      while ((got = ::recv(sockets[i].fd, in.data(), in.size(), 0)) > 0) {
        partial[i] += got;
        for (; partial[i] >= frame_bytes; partial[i] -= frame_bytes) {
          out += head;
          // The payload's one copy, as G's (of placeholder bytes: the frames' content does not matter here).
          out.append(in.data(), static_cast<std::size_t>(frame_bytes));
          out += "\r\n";
          ++frames;
        }
      }
    }
    if (!out.empty()) {
      const char* at = out.data();
      std::size_t left = out.size();
      while (left > 0) {  // a pass's commands in one write; a full socket buffer only waits for Redis
        const ssize_t w = ::send(redis.fd, at, left, MSG_NOSIGNAL);
        if (w > 0) {
          at += w;
          left -= static_cast<std::size_t>(w);
        } else if (w < 0 && errno != EAGAIN) {
          fig.error = std::string("writing to Redis: ") + std::strerror(errno);
          return;
        } else {
          while (::recv(redis.fd, answers.data(), answers.size(), 0) > 0) {
          }
        }
      }
      out.clear();
    }
    while (::recv(redis.fd, answers.data(), answers.size(), 0) > 0) {
    }
    fig.frames_total += frames;
    if (seen == measuring) {
      fig.frames += frames;
      if (n > 0) ++fig.passes;
    }
  }
}

}  // namespace

socket_floor_options shaped_like_g(int io_threads, int io_batch_us) {
  socket_floor_options o;
  o.threads = io_threads > 0 ? io_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.window_us = io_batch_us >= 0 ? io_batch_us : config::node_config{}.node.io_batch_us;
  return o;
}

socket_floor_result measure_socket_floor(const socket_floor_options& o) {
  socket_floor_result r;
  fd_owner listener(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (listener.fd < 0 || ::bind(listener.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener.fd, o.sockets) != 0 || ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    r.error = std::string("cannot listen on loopback: ") + std::strerror(errno);
    return r;
  }
  const std::uint16_t port = ntohs(a.sin_port);
  // The sender's ends and the readers' ends, socket i of one to socket i of the other (accept keeps the order
  // of connect on loopback, and the sender only writes: which pairs with which does not matter anyway).
  std::vector<fd_owner> sender;
  std::vector<std::vector<fd_owner>> readers(static_cast<std::size_t>(std::max(1, o.threads)));
  for (int i = 0; i < o.sockets; ++i) {
    sender.push_back(connect_to(port));
    fd_owner accepted(::accept(listener.fd, nullptr, nullptr));
    if (sender.back().fd < 0 || accepted.fd < 0) {
      r.error = std::string("cannot connect on loopback: ") + std::strerror(errno);
      return r;
    }
    readers[static_cast<std::size_t>(i) % readers.size()].push_back(std::move(accepted));
  }
  std::atomic<int> now_phase{warming};
  std::atomic<bool> sending{true};
  std::vector<reader_figures> figures(readers.size());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < readers.size(); ++t)
    threads.emplace_back([&, t] { read_in_windows(readers[t], o.redis_port, o.window_us, o.frame_bytes, now_phase, figures[t]); });
  // The sender: every millisecond, the frames due by then, round-robin (g-fakecord paces its load the same way).
  std::thread send_thread([&] {
    const std::string frame(static_cast<std::size_t>(o.frame_bytes), 'x');
    const auto t0 = steady_clock::now();
    long sent = 0;
    std::size_t next = 0;
    while (sending.load(std::memory_order_relaxed)) {
      const double elapsed = duration<double>(steady_clock::now() - t0).count();
      const long due = static_cast<long>(elapsed * o.rate);
      for (; sent < due; ++sent)
        if (::send(sender[next++ % sender.size()].fd, frame.data(), frame.size(), MSG_NOSIGNAL) < 0) return;
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::this_thread::sleep_for(seconds(2));
  now_phase = measuring;
  const auto t0 = steady_clock::now();
  std::this_thread::sleep_for(seconds(o.seconds));
  now_phase = stopping;
  const double wall = duration<double>(steady_clock::now() - t0).count();
  for (auto& t : threads) t.join();
  sending = false;
  send_thread.join();
  double cpu = 0;
  long frames = 0, passes = 0;
  for (auto& f : figures) {
    if (!f.error.empty()) {
      r.error = f.error;
      return r;
    }
    cpu += f.cpu_at_end - f.cpu_at_start;
    frames += f.frames;
    passes += f.passes;
    r.frames_total += f.frames_total;
  }
  r.frames_per_s = static_cast<double>(frames) / wall;
  r.passes_per_s = static_cast<double>(passes) / wall;
  r.cpu_per_million = frames > 0 ? cpu / static_cast<double>(frames) * 1e6 : -1;
  return r;
}

}  // namespace g::bench
