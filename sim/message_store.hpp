#pragma once
// Messages the REST API can find again: those a bot created, edited or deleted through it, the last ones of each
// channel. (Generated chat is not kept: a bot's REST calls on it answer 10008, Unknown Message.)
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace g::json {
class writer;
}

namespace g::sim {

class world;

struct stored_message {
  std::uint64_t id = 0, channel_id = 0, guild_id = 0;
  std::string content;
  std::string nonce;            // raw JSON (a string or a number), empty: none
  std::string embeds = "[]", components = "[]";  // raw JSON arrays
  std::string message_reference;                 // raw JSON object, empty: none
  std::int64_t timestamp_ms = 0, edited_ms = 0;  // edited 0: never
  bool tts = false;
  int flags = 0;
  int type = 0;  // 0 default, 19 reply, 20 an interaction's response
  std::uint64_t webhook_id = 0;      // interaction responses and follow-ups: the application's id
  std::string interaction_metadata;  // raw JSON object, empty: none
  std::string author;  // raw JSON user, empty: the bot (a webhook's message names the webhook)
  std::string raw;  // a message someone else wrote (POST /_fakecord/dispatch): its JSON as dispatched, returned as is
};

class message_store {
 public:
  static constexpr std::size_t per_channel = 500;

  void put(stored_message m);
  stored_message* find(std::uint64_t channel_id, std::uint64_t id);
  bool erase(std::uint64_t channel_id, std::uint64_t id);
  // Newest first, at most `limit`, before/after an id (0: no bound), as Get Channel Messages lists them.
  std::vector<const stored_message*> list(std::uint64_t channel_id, int limit, std::uint64_t before, std::uint64_t after) const;

 private:
  std::unordered_map<std::uint64_t, std::deque<stored_message>> by_channel_;  // oldest first
};

// The message object (the bot is the author), with guild_id and member when `for_gateway` (MESSAGE_CREATE's
// extra fields).
void write_stored_message(json::writer& w, const world& wd, const stored_message& m, bool for_gateway);

}  // namespace g::sim
