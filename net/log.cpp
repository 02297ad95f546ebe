#include "net/log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <vector>

#include "net/clock.hpp"

namespace g::log {

namespace {

// Written before the threads start, read by all of them after.
std::string process_name = "g";
std::string identity;  // " node=3"
std::atomic<int> threshold{static_cast<int>(level::info)};

const char* level_name(level l) {
  switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO ";
    case level::warn: return "WARN ";
    case level::error: return "ERROR";
  }
  return "?";
}

}  // namespace

void set_process(std::string name) { process_name = std::move(name); }
void set_identity(std::string key, std::string value) { identity = " " + key + "=" + value; }
void set_threshold(level l) { threshold = static_cast<int>(l); }
bool enabled(level l) { return static_cast<int>(l) >= threshold.load(std::memory_order_relaxed); }

std::optional<level> parse_level(std::string_view name) {
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warn") return level::warn;
  if (name == "error") return level::error;
  return std::nullopt;
}

std::string format_line(std::int64_t wall_ms, level l, std::optional<shard> about, std::string_view text) {
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char head[96];
  int n = std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ", utc.tm_year + 1900, utc.tm_mon + 1,
                        utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(wall_ms % 1000), level_name(l));
  std::string line(head, static_cast<std::size_t>(n));
  line += process_name;
  line += identity;
  if (about) {
    line += " shard=" + std::to_string(about->id);
    if (about->total > 0) line += "/" + std::to_string(about->total);
  }
  line += ": ";
  line += text;
  if (line.empty() || line.back() != '\n') line += '\n';
  return line;
}

void vwrite(level l, std::optional<shard> about, const char* format, std::va_list args) {
  std::va_list again;
  va_copy(again, args);
  char small[512];
  int n = std::vsnprintf(small, sizeof small, format, args);
  std::string text;
  if (n < 0) {
    text = "(unprintable log line)";
  } else if (static_cast<std::size_t>(n) < sizeof small) {
    text.assign(small, static_cast<std::size_t>(n));
  } else {
    std::vector<char> big(static_cast<std::size_t>(n) + 1);
    std::vsnprintf(big.data(), big.size(), format, again);
    text.assign(big.data(), static_cast<std::size_t>(n));
  }
  va_end(again);
  std::string line = format_line(net::wall_ms(), l, about, text);
  std::fwrite(line.data(), 1, line.size(), stderr);  // one call per line: stderr is unbuffered, lines stay whole
}

void write(level l, std::optional<shard> about, const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  vwrite(l, about, format, args);
  va_end(args);
}

}  // namespace g::log
