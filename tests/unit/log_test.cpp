// The one log format: time, level, process, identity, shard, text.
#include <doctest/doctest.h>

#include "net/log.hpp"

namespace lg = g::log;

TEST_CASE("log: one line with UTC time to the millisecond, the level, the process, the node and the shard") {
  lg::set_process("g-actor");
  lg::set_identity("node", "42");
  // 2026-11-30T11:02:03.456Z
  const std::int64_t t = 1796036523456;
  CHECK(lg::format_line(t, lg::level::warn, lg::shard{5}, "fenced") ==
        "2026-11-30T11:02:03.456Z WARN  g-actor node=42 shard=5: fenced\n");
  CHECK(lg::format_line(t, lg::level::info, lg::shard{5, 8}, "in force") ==
        "2026-11-30T11:02:03.456Z INFO  g-actor node=42 shard=5/8: in force\n");
  CHECK(lg::format_line(t, lg::level::error, std::nullopt, "lost\n") ==
        "2026-11-30T11:02:03.456Z ERROR g-actor node=42: lost\n");
  CHECK(lg::format_line(t + 1, lg::level::debug, std::nullopt, "x").rfind("2026-11-30T11:02:03.457Z DEBUG ", 0) == 0);
}

TEST_CASE("log: the threshold drops lower levels; level names parse, others do not") {
  lg::set_threshold(lg::level::warn);
  CHECK_FALSE(lg::enabled(lg::level::info));
  CHECK(lg::enabled(lg::level::warn));
  CHECK(lg::enabled(lg::level::error));
  lg::set_threshold(lg::level::info);
  CHECK(lg::enabled(lg::level::info));
  CHECK_FALSE(lg::enabled(lg::level::debug));
  CHECK(lg::parse_level("debug") == lg::level::debug);
  CHECK(lg::parse_level("error") == lg::level::error);
  CHECK_FALSE(lg::parse_level("verbose"));
}
