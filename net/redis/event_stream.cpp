#include "net/redis/event_stream.hpp"

#include <cstdlib>
#include <utility>

namespace g::net {

namespace {

std::pair<long long, long long> split_id(const std::string& id) {
  auto dash = id.find('-');
  long long ms = std::atoll(id.c_str());
  long long seq = dash == std::string::npos ? 0 : std::atoll(id.c_str() + dash + 1);
  return {ms, seq};
}

}  // namespace

int compare_stream_ids(const std::string& a, const std::string& b) {
  auto x = split_id(a), y = split_id(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

std::optional<std::vector<stream_entry>> parse_stream_entries(const redis_reply& r, bool nested, std::string& error) {
  std::vector<stream_entry> out;
  if (r.type == redis_reply::nil) return out;
  if (r.is_error()) {
    error = r.text;
    return std::nullopt;
  }
  const redis_reply* list = &r;
  if (nested) {  // [[stream, entries]]
    if (r.elements.empty() || r.elements[0].elements.size() < 2) return out;
    list = &r.elements[0].elements[1];
  }
  out.reserve(list->elements.size());
  for (const auto& e : list->elements) {
    if (e.elements.size() < 2 || e.elements[1].type != redis_reply::array) continue;  // deleted meanwhile
    stream_entry se;
    se.id = e.elements[0].text;
    se.prev = "0-0";
    const auto& f = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      const std::string& k = f[i].text;
      const std::string& v = f[i + 1].text;
      if (k == "shard") se.shard = std::atoi(v.c_str());
      else if (k == "seq") se.seq = std::atoll(v.c_str());
      else if (k == "t") se.t = v;
      else if (k == "d") se.d = v;
      else if (k == "prev") se.prev = v;
    }
    out.push_back(std::move(se));
  }
  return out;
}

}  // namespace g::net
