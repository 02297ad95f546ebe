#pragma once
// How the cluster scenarios (failover, scale) put their figures in a table: percentiles of a handful of samples and
// durations in whole milliseconds.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace g::bench {

// The sample nearest to rank p (0…1); 0 when there is none (a scenario that measured nothing says so elsewhere).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline double max_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

inline std::string fmt_ms(double ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f ms", ms);
  return b;
}

}  // namespace g::bench
