#pragma once
// One guild's state as g-fakecord's world holds it once something in it has changed: roles, channels, active
// threads, members and voice states, each the few fields the simulator varies. Rendering them as Discord's JSON
// objects is the world's job (sim/world.cpp); these are plain values.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace g::sim {

struct permission_overwrite {
  std::uint64_t id = 0;
  int type = 0;  // 0: role, 1: member
  std::uint64_t allow = 0, deny = 0;
};

struct role_state {
  std::uint64_t id = 0;
  std::string name;
  std::uint64_t permissions = 0;
  int position = 0;
  int color = 0;
  bool hoist = false, managed = false, mentionable = false;
};

struct channel_state {
  std::uint64_t id = 0;
  int type = 0;  // 0 text, 2 voice, 11 public thread
  std::string name;
  int position = 0;
  std::uint64_t parent_id = 0;  // 0: none
  std::string topic;            // empty: null
  std::vector<permission_overwrite> overwrites;
  // Threads only.
  std::uint64_t owner_id = 0;
  int member_count = 0, message_count = 0;
  std::int64_t create_ms = 0;
  bool locked = false;
  bool archived = false;  // only ever true in the THREAD_UPDATE that archives it
};

struct member_state {
  std::uint64_t user_id = 0;
  std::string username;
  std::string nick;  // empty: null
  std::vector<std::uint64_t> roles;
  std::int64_t joined_ms = 0;
  bool bot = false;
  bool online = false;
};

struct voice_state {
  std::uint64_t user_id = 0;
  std::uint64_t channel_id = 0;
  std::string session_id;
  bool self_mute = false, self_deaf = false;
};

// The first element from index `start` on (wrapping round) that `accept` takes, or nullptr: with a random
// `start`, a random pick among the acceptable ones.
template <class V, class P>
auto pick(V& items, std::uint64_t start, P accept) -> decltype(items.data()) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto* item = &items[(start + i) % items.size()];
    if (accept(*item)) return item;
  }
  return nullptr;
}

template <class T>
void erase_at(std::vector<T>& items, const T* item) {
  items.erase(items.begin() + (item - items.data()));
}

struct guild_state {
  std::string name;
  std::string description;  // empty: null
  int afk_timeout = 300;
  int verification_level = 1;
  std::uint64_t system_channel_id = 0;  // 0: null
  std::vector<role_state> roles;
  std::vector<channel_state> channels;
  std::vector<channel_state> threads;  // active threads only: an archived thread leaves the list
  std::vector<member_state> members;   // the bot included
  std::unordered_map<std::uint64_t, std::size_t> member_at;  // user id → index in members
  std::vector<voice_state> voice;

  const member_state* find_member(std::uint64_t user_id) const {
    auto it = member_at.find(user_id);
    return it == member_at.end() ? nullptr : &members[it->second];
  }
  member_state* find_member(std::uint64_t user_id) {
    auto it = member_at.find(user_id);
    return it == member_at.end() ? nullptr : &members[it->second];
  }
  void add_member(member_state m) {
    member_at[m.user_id] = members.size();
    members.push_back(std::move(m));
  }
  // Swap-and-pop: order is not part of Discord's contract for member lists.
  void remove_member(std::uint64_t user_id) {
    auto it = member_at.find(user_id);
    if (it == member_at.end()) return;
    std::size_t at = it->second;
    member_at.erase(it);
    if (at + 1 != members.size()) {
      members[at] = std::move(members.back());
      member_at[members[at].user_id] = at;
    }
    members.pop_back();
  }
};

}  // namespace g::sim
