#pragma once
// Runs g-fakecord on a free loopback port for a test or a benchmark, and stops it afterwards.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace g::harness {

class fakecord_process {
 public:
  fakecord_process(const std::string& binary, std::vector<std::string> args);
  ~fakecord_process();
  fakecord_process(const fakecord_process&) = delete;
  fakecord_process& operator=(const fakecord_process&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }  // what it listens on (a later --listen in args chooses)
  bool running() const;
  pid_t pid() const { return pid_; }

  // Admin API helpers (the body of the reply; they fail the test on a non-2xx status unless allowed).
  std::string stats() const;
  std::string post(const std::string& path, const std::string& body, int* status = nullptr) const;
  std::string get(const std::string& path, int* status = nullptr, const std::string& authorization = {}) const;

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string host_ = "127.0.0.1";
};

// One HTTP/1.1 request to 127.0.0.1:port; returns the body and sets *status (and the headers, when asked, by
// lowercase name).
std::string http_request(std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& authorization, int& status,
                         std::string* content_type = nullptr, std::map<std::string, std::string>* headers = nullptr);
std::string http_request(const std::string& host, std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& authorization, int& status,
                         std::string* content_type = nullptr, std::map<std::string, std::string>* headers = nullptr);

}  // namespace g::harness
