#include "bench/all_scenarios.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "sim/harness/child_process.hpp"

namespace g::bench {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The first line a command prints (versions), or "?".
std::string first_line(const std::string& command) {
  std::string out;
  if (FILE* p = popen((command + " 2>/dev/null").c_str(), "r")) {
    char buf[256];
    if (fgets(buf, sizeof buf, p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "?" : out;
}

std::string machine() {
  std::string cpu = "?";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, Linux " + u.release;
}

}  // namespace

int run_all(const std::string& self, const std::string& source_dir, const std::vector<std::string>& compare_args) {
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::string report = "# g-bench results\n\n- date: " + std::string(date) + "\n- machine: " + machine() +
                       "\n- versions: CAF 0.17.6, " + first_line("node --version") + " (Node.js), @discordjs/ws " +
                       first_line("node -p \"require('" + source_dir + "/bench/peers/discordjs/node_modules/@discordjs/ws/package.json').version\"") +
                       ", discord.py " + first_line("/usr/bin/python3 -c 'import discord; print(discord.__version__)'") +
                       ", redis-server " + first_line("redis-server --version") +
                       "\n- command: `build/g-bench all`\n\n";
  // scale at a fifth of its size (a minute and a half): the same checks, well past where per-shard costs show; the
  // full size is a run of its own.
  std::vector<std::vector<std::string>> runs = {
      {"decode"}, {"sessions"}, {"failover"},
      {"scale", "--shards-one", "500", "--shards-many", "2000", "--kills", "1", "--window", "20"},
      {"fakecord", "--seconds", "5"}};
  std::vector<std::string> compare = {"compare"};
  compare.insert(compare.end(), compare_args.begin(), compare_args.end());
  runs.push_back(compare);
  runs.push_back({"cache"});
  runs.push_back({"proxy"});
  int rc = 0;
  auto tmp = std::filesystem::temp_directory_path() / ("g-bench-all-" + std::to_string(::getpid()));
  for (auto& r : runs) {
    std::vector<std::string> argv = {self};
    argv.insert(argv.end(), r.begin(), r.end());
    std::string out_path = tmp.string() + ".out";
    std::filesystem::remove(out_path);
    // Tables on stdout go to the report; progress on stderr stays with the user.
    std::string cmd;
    for (auto& a : argv) cmd += "'" + a + "' ";
    int code = std::system((cmd + "> '" + out_path + "'").c_str());
    std::string table = read_file(out_path);
    std::filesystem::remove(out_path);
    std::string title = "## g-bench " + r[0];
    if (table.rfind("## ", 0) != 0) table = title + "\n\n" + table;  // scenarios that print a bare table
    std::cout << table << "\n" << std::flush;
    report += table + "\n";
    if (code != 0) {
      report += "(g-bench " + r[0] + " exited with status " + std::to_string(code) + ")\n\n";
      rc = 1;
    }
  }
  std::filesystem::create_directories(source_dir + "/bench/results");
  std::ofstream(source_dir + "/bench/results/latest.md") << report;
  std::cerr << "g-bench: written to bench/results/latest.md\n";
  return rc;
}

}  // namespace g::bench
