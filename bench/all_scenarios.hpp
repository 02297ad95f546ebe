#pragma once
// `g-bench all`: every scenario in turn, each in its own g-bench process (so one cannot disturb the next), their
// tables on stdout and in bench/results/latest.md under a header with the date, the machine and the versions.
#include <string>
#include <vector>

namespace g::bench {

int run_all(const std::string& self, const std::string& source_dir, const std::vector<std::string>& compare_args);

}  // namespace g::bench
