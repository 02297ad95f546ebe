#include <doctest/doctest.h>

#include "cluster/reshard_plan.hpp"

using namespace g::cluster;

namespace {
reshard_input base() {
  reshard_input in;
  in.current = 4;
  in.recommended = 6;
  in.max_concurrency = 1;
  in.sessions_left = 1000;
  in.reserve = 10;
  return in;
}
}  // namespace

TEST_CASE("reshard plan: an explicit count, auto, and large bots rounded up to max_concurrency") {
  auto in = base();
  in.requested = 8;
  CHECK(plan_reshard(in).to == 8);
  in.requested = 0;
  CHECK(plan_reshard(in).to == 6);  // auto: the recommended count
  in.requested = 3;
  CHECK(plan_reshard(in).to == 3);  // fewer is allowed (Discord closes a shard over 2,500 guilds with 4011)
  in.max_concurrency = 16;
  in.requested = 20;
  auto d = plan_reshard(in);
  CHECK(d.to == 32);
  CHECK(d.reason.find("rounded up from 20") != std::string::npos);
  in.requested = 0;
  CHECK(plan_reshard(in).to == 16);
}

TEST_CASE("reshard plan: refused without budget, while another runs, or when nothing changes") {
  auto in = base();
  in.requested = 8;
  in.sessions_left = 17;
  in.reserve = 10;
  auto d = plan_reshard(in);
  CHECK(d.to == 0);
  CHECK(d.reason.find("session budget cannot cover 8") != std::string::npos);
  in.sessions_left = 18;
  CHECK(plan_reshard(in).to == 8);  // exactly covered
  in.preparing = 6;
  CHECK(plan_reshard(in).to == 0);
  CHECK(plan_reshard(in).reason.find("to 6 shards is in progress") != std::string::npos);
  in.preparing = 0;
  in.requested = 4;
  CHECK(plan_reshard(in).to == 0);
  CHECK(plan_reshard(in).reason.find("runs 4 shards already") != std::string::npos);
  in.requested = -1;
  CHECK(plan_reshard(in).to == 0);
  in.requested = 0;
  in.recommended = 0;
  CHECK(plan_reshard(in).to == 0);
}

TEST_CASE("auto reshard policy: only when the recommended count outgrows the current one by the margin") {
  CHECK(auto_reshard_target(4, 4, 1, 0.25) == 0);
  CHECK(auto_reshard_target(4, 5, 1, 0.25) == 0);  // 5 is not more than 4 × 1.25
  CHECK(auto_reshard_target(4, 6, 1, 0.25) == 6);
  CHECK(auto_reshard_target(4, 3, 1, 0.0) == 0);   // never shrinks on its own
  CHECK(auto_reshard_target(16, 17, 16, 0.25) == 32);
  CHECK(auto_reshard_target(4, 5, 1, 0.0) == 5);
}
