#include <doctest/doctest.h>

#include "sim/gateway_rules.hpp"

using g::sim::identify_buckets;
using g::sim::session_budget;

TEST_CASE("identify_buckets: one identify per shard_id % max_concurrency per 5 s") {
  identify_buckets b(16);
  CHECK(b.bucket_of(17) == 1);
  CHECK(b.allows(0, 0));
  b.record(0, 0);
  CHECK_FALSE(b.allows(0, 4999));
  CHECK_FALSE(b.allows(16, 4999));  // same bucket
  CHECK(b.allows(1, 1));            // another bucket is free
  CHECK(b.allows(16, 5000));
}

TEST_CASE("identify_buckets with max_concurrency 1 serialises every shard") {
  identify_buckets b(1);
  b.record(3, 100);
  for (int shard = 0; shard < 8; ++shard) CHECK_FALSE(b.allows(shard, 5099));
  CHECK(b.allows(7, 5100));
}

TEST_CASE("session_budget counts down and resets with its window") {
  session_budget s(2, 1000, 0);
  CHECK(s.remaining(0) == 2);
  CHECK(s.try_spend(10));
  CHECK(s.try_spend(20));
  CHECK_FALSE(s.try_spend(30));
  CHECK(s.remaining(999) == 0);
  CHECK(s.reset_after(400) == 600);
  CHECK(s.remaining(1000) == 2);
  CHECK(s.reset_after(1500) == 500);
  CHECK(s.remaining(5500) == 2);
  CHECK(s.reset_after(5500) == 500);
}
