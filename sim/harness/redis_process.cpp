#include "sim/harness/redis_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace g::harness {

std::uint16_t free_tcp_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("no free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

namespace {

bool port_open(std::uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

void wait_for_port(std::uint16_t port, const char* what) {
  for (int i = 0; i < 500; ++i) {
    if (port_open(port)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(std::string(what) + " did not open port " + std::to_string(port));
}

}  // namespace

redis_process::redis_process(std::vector<std::string> extra) : extra_(std::move(extra)), port_(free_tcp_port()) { start(); }

redis_process::~redis_process() { kill(); }

void redis_process::start() {
  std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  server_ = child_process(argv, "/dev/null");
  wait_for_port(port_, "redis-server");
}

sentinel_process::sentinel_process(const std::string& name, std::uint16_t master_port, const std::string& dir,
                                   const std::string& host)
    : port_(free_tcp_port()) {
  const std::string conf = dir + "/sentinel-" + std::to_string(port_) + ".conf";
  std::ofstream(conf) << "port " << port_ << "\nbind 127.0.0.1" << (host == "127.0.0.1" ? "" : " " + host) << "\ndaemonize no\n" << (host == "127.0.0.1" ? "" : "protected-mode no\n")
                      << "sentinel monitor " << name << " " << host << " " << master_port << " 1\n"
                      << "sentinel down-after-milliseconds " << name << " 1000\n"
                      << "sentinel failover-timeout " << name << " 10000\n";
  server_ = child_process({"redis-server", conf, "--sentinel"}, dir + "/sentinel-" + std::to_string(port_) + ".log");
  wait_for_port(port_, "redis-sentinel");
}

sentinel_process::~sentinel_process() { server_.kill(); }

void redis_process::stop() {
  server_.signal(SIGTERM);
  server_.wait(std::chrono::seconds(10));
}

void redis_process::kill() { server_.kill(); }

}  // namespace g::harness
