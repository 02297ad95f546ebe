#pragma once
// Which dispatches go to the stream ([events] include / exclude). Pure.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace g::cluster {

class event_filter {
 public:
  event_filter() = default;
  event_filter(std::vector<std::string> include, std::vector<std::string> exclude)
      : include_(std::move(include)), exclude_(std::move(exclude)) {}

  bool passes(std::string_view t) const {
    auto has = [t](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), t) != v.end(); };
    if (!include_.empty()) return has(include_);
    return !has(exclude_);
  }

 private:
  std::vector<std::string> include_, exclude_;
};

}  // namespace g::cluster
