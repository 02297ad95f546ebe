#include "cluster/reshard_plan.hpp"

namespace g::cluster {

namespace {

int round_up(int n, int multiple) { return multiple > 1 ? (n + multiple - 1) / multiple * multiple : n; }

}  // namespace

reshard_decision plan_reshard(const reshard_input& in) {
  reshard_decision d;
  if (in.preparing > 0) {
    d.reason = "a reshard to " + std::to_string(in.preparing) + " shards is in progress";
    return d;
  }
  if (in.requested < 0) {
    d.reason = "the shard count must be a positive number or auto";
    return d;
  }
  int want = in.requested > 0 ? in.requested : in.recommended;
  if (want <= 0) {
    d.reason = "Discord recommended no shard count";
    return d;
  }
  int to = round_up(want, in.max_concurrency);
  if (to != want)
    d.reason = "rounded up from " + std::to_string(want) + " to a multiple of max_concurrency " + std::to_string(in.max_concurrency);
  if (to == in.current) {
    d.reason = "the cluster runs " + std::to_string(to) + " shards already" + (d.reason.empty() ? "" : " (" + d.reason + ")");
    return d;
  }
  if (in.sessions_left - in.reserve < to) {
    d.reason = "the session budget cannot cover " + std::to_string(to) + " IDENTIFYs: " + std::to_string(in.sessions_left) +
               " session starts left, " + std::to_string(in.reserve) + " kept in reserve ([discord] session_reserve)";
    return d;
  }
  d.to = to;
  return d;
}

int auto_reshard_target(int current, int recommended, int max_concurrency, double margin) {
  int to = round_up(recommended, max_concurrency);
  if (to <= current || static_cast<double>(to) <= static_cast<double>(current) * (1.0 + margin)) return 0;
  return to;
}

}  // namespace g::cluster
