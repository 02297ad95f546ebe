#include "sim/interactions.hpp"

#include <algorithm>

#include "net/json/json_writer.hpp"
#include "sim/world.hpp"

namespace g::sim {

std::vector<const application_command*> command_registry::in_scope(const std::string& scope) const {
  std::vector<const application_command*> out;
  if (auto it = by_scope_.find(scope); it != by_scope_.end())
    for (const auto& c : it->second) out.push_back(&c);
  return out;
}

std::pair<const application_command*, bool> command_registry::upsert(application_command c, const id_source& new_id) {
  auto& list = by_scope_[c.guild_id];
  auto same = std::find_if(list.begin(), list.end(), [&](auto& x) { return x.name == c.name && x.type == c.type; });
  c.version = new_id();
  if (same != list.end()) {
    c.id = same->id;
    *same = std::move(c);
    return {&*same, false};
  }
  c.id = new_id();
  list.push_back(std::move(c));
  return {&list.back(), true};
}

void command_registry::overwrite(const std::string& scope, std::vector<application_command> next, const id_source& new_id) {
  auto& list = by_scope_[scope];
  for (auto& c : next) {
    auto same = std::find_if(list.begin(), list.end(), [&](auto& x) { return x.name == c.name && x.type == c.type; });
    c.id = same != list.end() ? same->id : new_id();
    c.version = new_id();
  }
  list = std::move(next);
}

const application_command* command_registry::find(const std::string& scope, std::uint64_t id) const {
  auto it = by_scope_.find(scope);
  if (it == by_scope_.end()) return nullptr;
  for (const auto& c : it->second)
    if (c.id == id) return &c;
  return nullptr;
}

const application_command* command_registry::by_name(const std::string& scope, const std::string& name) const {
  auto it = by_scope_.find(scope);
  if (it == by_scope_.end()) return nullptr;
  for (const auto& c : it->second)
    if (c.name == name && c.type == 1) return &c;
  return nullptr;
}

bool command_registry::erase(const std::string& scope, std::uint64_t id) {
  auto it = by_scope_.find(scope);
  if (it == by_scope_.end()) return false;
  auto& list = it->second;
  auto c = std::find_if(list.begin(), list.end(), [&](auto& x) { return x.id == id; });
  if (c == list.end()) return false;
  list.erase(c);
  return true;
}

void write_command(json::writer& w, const world& wd, const application_command& c) {
  w.begin_object().id_field("id", c.id).id_field("application_id", wd.application_id()).id_field("version", c.version)
      .field("type", c.type);
  if (!c.guild_id.empty()) w.field("guild_id", c.guild_id);
  // The stored fields are an object: its members follow.
  if (c.fields.size() > 2) w.out() += "," + c.fields.substr(1, c.fields.size() - 2);
  w.end_object();
}

interaction_record& interaction_registry::add(interaction_record r) {
  records_.push_back(std::move(r));
  if (records_.size() > kept) records_.pop_front();
  return records_.back();
}

interaction_record* interaction_registry::find(std::uint64_t id) {
  for (auto& r : records_)
    if (r.id == id) return &r;
  return nullptr;
}

interaction_record* interaction_registry::by_token(std::string_view token) {
  for (auto& r : records_)
    if (r.token == token) return &r;
  return nullptr;
}

}  // namespace g::sim
