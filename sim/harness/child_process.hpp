#pragma once
// A child process for tests and benchmarks: started with arguments, its output in a file, signalled, waited for.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace g::harness {

class child_process {
 public:
  child_process() = default;
  // argv[0] is the program (PATH is searched); stdout and stderr go to `log_path` (appended).
  child_process(std::vector<std::string> argv, std::string log_path);
  ~child_process();
  child_process(child_process&& o) noexcept;
  child_process& operator=(child_process&& o) noexcept;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for the exit; the exit code (128 + signal when killed), or -1 if still running after `timeout`.
  int wait(std::chrono::milliseconds timeout);
  void kill();  // SIGKILL and reap
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

}  // namespace g::harness
