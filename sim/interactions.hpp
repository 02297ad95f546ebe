#pragma once
// What g-fakecord remembers of application commands and interactions: the commands a bot registered (per scope:
// global, or a guild), and the interactions it made (POST /_fakecord/interaction) with their tokens and whether
// they were answered. Plain state; the REST routes (rest_interactions.cpp) apply Discord's rules to it.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace g::json {
class writer;
}

namespace g::sim {

using millis = std::int64_t;
class world;

struct application_command {
  std::uint64_t id = 0, version = 0;
  std::string guild_id;  // empty: global
  std::string name;
  int type = 1;          // 1 CHAT_INPUT, 2 USER, 3 MESSAGE
  std::string fields;    // the rest of the command object, as a JSON object
};

class command_registry {
 public:
  using id_source = std::function<std::uint64_t()>;
  std::vector<const application_command*> in_scope(const std::string& scope) const;
  // By name and type within its scope: replaced (same id, new version) or added. The stored command and whether it
  // is new.
  std::pair<const application_command*, bool> upsert(application_command c, const id_source& new_id);
  // Bulk overwrite: the scope holds exactly these afterwards (a command keeps its id when its name and type stay).
  void overwrite(const std::string& scope, std::vector<application_command> next, const id_source& new_id);
  const application_command* find(const std::string& scope, std::uint64_t id) const;
  const application_command* by_name(const std::string& scope, const std::string& name) const;
  bool erase(const std::string& scope, std::uint64_t id);

 private:
  std::map<std::string, std::vector<application_command>> by_scope_;
};

// The application command object: id, application_id, version, type, guild_id (guild commands), and its fields.
void write_command(json::writer& w, const world& wd, const application_command& c);

struct interaction_record {
  std::uint64_t id = 0;
  std::string token;
  int type = 2;  // 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT, 5 MODAL_SUBMIT
  std::uint64_t guild_id = 0, channel_id = 0, user_id = 0;
  std::uint64_t message_id = 0;   // a component's message
  millis created = 0;             // monotonic
  bool responded = false, deferred = false;
  int response_type = 0;
  std::uint64_t original_id = 0;  // the original response's message, once there is one
};

// A channel webhook the bot made (Create Webhook), executed with its token.
struct webhook_record {
  std::uint64_t id = 0, channel_id = 0, guild_id = 0;
  std::string token, name;
};

class interaction_registry {
 public:
  static constexpr std::size_t kept = 10000;
  interaction_record& add(interaction_record r);
  interaction_record* find(std::uint64_t id);
  interaction_record* by_token(std::string_view token);

 private:
  std::deque<interaction_record> records_;
};

}  // namespace g::sim
