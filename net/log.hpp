#pragma once
// One log format for every G process, one line per event, written whole (threads never interleave):
//
//   2026-11-30T11:02:03.456Z WARN  g-actor node=3 shard=5: fenced, stopping: the lease is held by another node
//   <UTC time, ms>           <level> <process> <identity: node or consumer> <shard, when the line is about one>: <what>
//
// A shard of a set being prepared by a reshard is written shard=5/8 (id/total). To follow one shard through a
// failover, grep every node's log for `shard=5:` and sort by time. Levels: ERROR (something is lost or stopped and
// an operator must act), WARN (degraded, G copes), INFO (what changed), DEBUG (detail; off unless asked for).
#include <cstdarg>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace g::log {

enum class level { debug, info, warn, error };

// Process-wide settings, set once at start-up before other threads log.
void set_process(std::string name);  // "g-actor", "g-cache", "g-proxy"
// Who writes: ("node", id) for a node once its id is known, ("consumer", name) for a cache worker.
void set_identity(std::string key, std::string value);
void set_threshold(level l);         // lines below it are dropped
std::optional<level> parse_level(std::string_view name);  // "debug" | "info" | "warn" | "error"
bool enabled(level l);

// Which shard a line is about: total 0 for the set in force.
struct shard {
  int id = -1;
  int total = 0;
};

void write(level l, std::optional<shard> about, const char* format, ...) __attribute__((format(printf, 3, 4)));
void vwrite(level l, std::optional<shard> about, const char* format, std::va_list args);

// The line, without writing it (tests).
std::string format_line(std::int64_t wall_ms, level l, std::optional<shard> about, std::string_view text);

}  // namespace g::log

// Short forms. LOG_SHARD_* take the shard first: LOG_SHARD_WARN((g::log::shard{5}), "fenced: %s", why).
#define G_LOG_AT(lvl, about, ...) \
  do {                                                            \
    if (::g::log::enabled(lvl)) ::g::log::write(lvl, about, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) G_LOG_AT(::g::log::level::debug, std::nullopt, __VA_ARGS__)
#define LOG_INFO(...) G_LOG_AT(::g::log::level::info, std::nullopt, __VA_ARGS__)
#define LOG_WARN(...) G_LOG_AT(::g::log::level::warn, std::nullopt, __VA_ARGS__)
#define LOG_ERROR(...) G_LOG_AT(::g::log::level::error, std::nullopt, __VA_ARGS__)
#define LOG_SHARD_DEBUG(s, ...) G_LOG_AT(::g::log::level::debug, s, __VA_ARGS__)
#define LOG_SHARD_INFO(s, ...) G_LOG_AT(::g::log::level::info, s, __VA_ARGS__)
#define LOG_SHARD_WARN(s, ...) G_LOG_AT(::g::log::level::warn, s, __VA_ARGS__)
#define LOG_SHARD_ERROR(s, ...) G_LOG_AT(::g::log::level::error, s, __VA_ARGS__)
