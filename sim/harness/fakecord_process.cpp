#include "sim/harness/fakecord_process.hpp"

#include <cctype>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <regex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace g::harness {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

fakecord_process::fakecord_process(const std::string& binary, std::vector<std::string> args) {
  args.insert(args.begin(), {binary, "--listen", "127.0.0.1:0", "--quiet"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start g-fakecord");
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(R"(//([^/]+):(\d+)/$)"))) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error("g-fakecord did not start: '" + line + "'");
  }
  host_ = m[1];
  port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
}

fakecord_process::~fakecord_process() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool fakecord_process::running() const { return pid_ > 0 && kill(pid_, 0) == 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

std::string http_request(std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& authorization, int& status,
                         std::string* content_type, std::map<std::string, std::string>* headers) {
  return http_request("127.0.0.1", port, method, target, body, authorization, status, content_type, headers);
}

std::string http_request(const std::string& host, std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& authorization, int& status,
                         std::string* content_type, std::map<std::string, std::string>* headers) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address(host), port));
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, host);
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  status = static_cast<int>(res.result_int());
  if (content_type) *content_type = std::string(res[http::field::content_type]);
  if (headers)
    for (auto& f : res) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      (*headers)[name] = std::string(f.value());
    }
  beast::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  return res.body();
}

std::string fakecord_process::stats() const { return get("/_fakecord/stats"); }

std::string fakecord_process::post(const std::string& path, const std::string& body, int* status) const {
  int st = 0;
  std::string r = http_request(host_, port_, "POST", path, body, {}, st);
  if (status) *status = st;
  else if (st / 100 != 2) throw std::runtime_error("POST " + path + " -> " + std::to_string(st) + " " + r);
  return r;
}

std::string fakecord_process::get(const std::string& path, int* status, const std::string& authorization) const {
  int st = 0;
  std::string r = http_request(host_, port_, "GET", path, {}, authorization, st);
  if (status) *status = st;
  else if (st / 100 != 2) throw std::runtime_error("GET " + path + " -> " + std::to_string(st) + " " + r);
  return r;
}

}  // namespace g::harness
