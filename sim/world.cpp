#include "sim/world.hpp"

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/discord/timestamp.hpp"
#include "net/json/json_writer.hpp"

namespace g::sim {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

const char* const adjectives[] = {"Quiet", "Brave", "Lunar", "Crimson", "Silent", "Golden", "Rapid", "Cosy",
                                  "Wild",  "Polar", "Misty", "Electric", "Hidden", "Mellow", "Iron",  "Velvet"};
const char* const nouns[] = {"Harbor", "Forest", "Arcade", "Garden", "Station", "Lounge", "Tavern", "Studio",
                             "Circle", "Guild",  "Haven",  "Outpost", "Library", "Market", "Dojo",   "Workshop"};
const char* const name_parts[] = {"al", "be", "ca", "do", "el", "fa", "gi", "ho", "is", "ju", "ka", "lo",
                                  "mi", "no", "or", "pe", "qu", "ri", "sa", "tu", "ul", "vi", "wo", "ze"};

std::string iso_time(std::uint64_t snowflake) {
  return discord::iso8601(static_cast<std::int64_t>(discord::snowflake_time_ms(snowflake)));
}

// The fields every guild member object ends with; joined at the time of `joined_snowflake`.
void write_member_tail(json::writer& w, std::uint64_t joined_snowflake) {
  w.null_field("nick")
      .null_field("avatar")
      .field("joined_at", iso_time(joined_snowflake))
      .null_field("premium_since")
      .field("deaf", false)
      .field("mute", false)
      .field("flags", 0)
      .field("pending", false)
      .null_field("communication_disabled_until")
      .end_object();
}

}  // namespace

world::world(world_shape shape) : shape_(shape) {
  // Guild ids take consecutive milliseconds so that (id >> 22) % n spreads them evenly over any shard count.
  guild_base_ms_ = discord::discord_epoch_ms + 86400000ULL * (200 + shape_.seed % 1000);
  user_base_ms_ = guild_base_ms_ + 50'000'000'000ULL;
  bot_id_ = discord::make_snowflake(guild_base_ms_ - 1000, mix(1));
  owner_id_ = discord::make_snowflake(guild_base_ms_ - 2000, mix(2));
}

std::uint64_t world::mix(std::uint64_t a, std::uint64_t b) const {
  return splitmix(splitmix(shape_.seed ^ (a * 0x100000001B3ULL)) ^ b);
}

std::uint64_t world::guild_id(int guild) const {
  // Low bits: a worker/process part from the seed, increment 0; channels and roles use the increment.
  return discord::make_snowflake(guild_base_ms_ + static_cast<unsigned>(guild), (mix(3) & 0x3E0000));
}

std::optional<int> world::guild_index(std::uint64_t id) const {
  std::uint64_t ms = discord::snowflake_time_ms(id);
  if (ms < guild_base_ms_ || ms >= guild_base_ms_ + static_cast<unsigned>(shape_.guilds)) return std::nullopt;
  int idx = static_cast<int>(ms - guild_base_ms_);
  if (guild_id(idx) != id) return std::nullopt;
  return idx;
}

std::vector<int> world::guilds_of_shard(int shard_id, int shard_count) const {
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(shape_.guilds / shard_count + 1));
  for (int g = 0; g < shape_.guilds; ++g)
    if (discord::shard_for_guild(guild_id(g), shard_count) == shard_id) out.push_back(g);
  return out;
}

std::string world::guild_name(int guild) const {
  std::uint64_t h = mix(10, static_cast<unsigned>(guild));
  return std::string(adjectives[h % 16]) + " " + nouns[(h >> 8) % 16] + " " + std::to_string(guild);
}

std::uint64_t world::member_user_id(int guild, int member) const {
  std::uint64_t n = static_cast<std::uint64_t>(guild) * static_cast<unsigned>(shape_.members) + static_cast<unsigned>(member);
  // 4096 users per millisecond (the increment field), so ids stay unique and compact.
  return discord::make_snowflake(user_base_ms_ + n / 4096, (mix(4) & 0x3E0000) | (n % 4096));
}

std::optional<int> world::member_index(int guild, std::uint64_t user_id) const {
  if (shape_.members == 0) return std::nullopt;
  std::uint64_t ms = discord::snowflake_time_ms(user_id);
  if (ms < user_base_ms_) return std::nullopt;
  std::uint64_t n = (ms - user_base_ms_) * 4096 + (user_id & 0xFFF);
  std::uint64_t first = static_cast<std::uint64_t>(guild) * static_cast<unsigned>(shape_.members);
  if (n < first || n >= first + static_cast<unsigned>(shape_.members)) return std::nullopt;
  int m = static_cast<int>(n - first);
  if (member_user_id(guild, m) != user_id) return std::nullopt;
  return m;
}

std::string world::username(int guild, int member) const {
  std::uint64_t h = mix(20 + static_cast<unsigned>(guild), static_cast<unsigned>(member));
  std::string s;
  for (int i = 0; i < 3; ++i) s += name_parts[(h >> (i * 8)) % 24];
  return s + "_" + std::to_string(guild) + "_" + std::to_string(member);
}

bool world::member_online(int guild, int member) const { return mix(30 + static_cast<unsigned>(guild), static_cast<unsigned>(member)) % 3 == 0; }
bool world::member_has_role(int guild, int member) const { return mix(40 + static_cast<unsigned>(guild), static_cast<unsigned>(member)) % 4 == 0; }

void world::write_bot_user(json::writer& w) const {
  w.begin_object()
      .id_field("id", bot_id_)
      .field("username", bot_name())
      .field("discriminator", "8597")
      .null_field("global_name")
      .null_field("avatar")
      .field("bot", true)
      .field("verified", true)
      .field("mfa_enabled", true)
      .field("flags", 0)
      .null_field("email")
      .end_object();
}

void world::write_owner_user(json::writer& w) const {
  w.begin_object()
      .id_field("id", owner_id_)
      .field("username", "g_owner")
      .field("discriminator", "0")
      .field("global_name", "G Owner")
      .null_field("avatar")
      .field("public_flags", 0)
      .end_object();
}

void world::write_user(json::writer& w, int guild, int member) const {
  std::string name = username(guild, member);
  w.begin_object()
      .id_field("id", member_user_id(guild, member))
      .field("username", name)
      .field("discriminator", "0")
      .field("global_name", name)
      .null_field("avatar")
      .field("public_flags", 0)
      .end_object();
}

void world::write_member(json::writer& w, int guild, int member, bool with_user) const {
  w.begin_object();
  if (with_user) {
    w.key("user");
    write_user(w, guild, member);
  }
  w.key("roles").begin_array();
  if (member_has_role(guild, member)) w.id(role_id(guild, 1));
  w.end_array();
  write_member_tail(w, member_user_id(guild, member));
}

void world::write_bot_member(json::writer& w, int guild) const {
  w.begin_object().key("user");
  write_bot_user(w);
  w.key("roles").begin_array().id(role_id(guild, 2)).end_array();
  write_member_tail(w, guild_id(guild));
}

void world::write_presence(json::writer& w, int guild, int member) const {
  w.begin_object()
      .key("user")
      .begin_object()
      .id_field("id", member_user_id(guild, member))
      .end_object()
      .id_field("guild_id", guild_id(guild))
      .field("status", "online")
      .key("activities")
      .begin_array()
      .end_array()
      .key("client_status")
      .begin_object()
      .field("desktop", "online")
      .end_object()
      .end_object();
}

void world::write_channel(json::writer& w, int guild, int k, bool voice) const {
  w.begin_object();
  if (voice) {
    w.id_field("id", voice_channel_id(guild, k))
        .field("type", 2)
        .field("name", "Voice " + std::to_string(k))
        .field("position", text_channels + k)
        .field("bitrate", 64000)
        .field("user_limit", 0)
        .null_field("rtc_region");
  } else {
    static const char* const names[] = {"general", "random", "announcements"};
    w.id_field("id", text_channel_id(guild, k))
        .field("type", 0)
        .field("name", k < 3 ? names[k] : "text-" + std::to_string(k))
        .field("position", k)
        .null_field("topic")
        .field("nsfw", false)
        .field("rate_limit_per_user", 0)
        .null_field("last_message_id");
  }
  w.null_field("parent_id").key("permission_overwrites").begin_array().end_array().field("flags", 0).end_object();
}

void world::write_role(json::writer& w, int guild, int k) const {
  static const char* const names[] = {"@everyone", "Member", "Bots"};
  static const char* const permissions[] = {"1071698660929", "1071698660929", "8"};
  w.begin_object()
      .id_field("id", role_id(guild, k))
      .field("name", names[k % 3])
      .field("permissions", permissions[k % 3])
      .field("position", k)
      .field("color", k == 1 ? 3447003 : 0)
      .key("colors")
      .begin_object()
      .field("primary_color", k == 1 ? 3447003 : 0)
      .null_field("secondary_color")
      .null_field("tertiary_color")
      .end_object()
      .field("hoist", k == 1)
      .null_field("icon")
      .null_field("unicode_emoji")
      .field("managed", k == 2)
      .field("mentionable", false)
      .field("flags", 0)
      .end_object();
}

void world::write_application(json::writer& w) const {
  w.begin_object().id_field("id", application_id()).field("flags", 41975808).end_object();
}

void world::write_guild_create(json::writer& w, int guild, std::uint64_t intents, int large_threshold) const {
  const int member_count = shape_.members + 1;
  const bool large = member_count > large_threshold;
  const bool presences = (intents & discord::intent::guild_presences) != 0;
  std::uint64_t gid = guild_id(guild);
  w.begin_object()
      .id_field("id", gid)
      .field("name", guild_name(guild))
      .null_field("icon")
      .null_field("splash")
      .null_field("discovery_splash")
      .id_field("owner_id", owner_id_)
      .null_field("afk_channel_id")
      .field("afk_timeout", 300)
      .field("verification_level", 1)
      .field("default_message_notifications", 1)
      .field("explicit_content_filter", 0)
      .key("features").begin_array().end_array()
      .key("emojis").begin_array().end_array()
      .key("stickers").begin_array().end_array()
      .field("mfa_level", 0)
      .null_field("application_id")
      .id_field("system_channel_id", text_channel_id(guild, 0))
      .field("system_channel_flags", 0)
      .null_field("rules_channel_id")
      .null_field("vanity_url_code")
      .null_field("description")
      .null_field("banner")
      .field("premium_tier", 0)
      .field("premium_subscription_count", 0)
      .field("preferred_locale", "en-US")
      .null_field("public_updates_channel_id")
      .field("nsfw_level", 0)
      .field("premium_progress_bar_enabled", false)
      .field("joined_at", iso_time(gid))
      .field("large", large)
      .field("unavailable", false)
      .field("member_count", member_count)
      .field("lazy", true);
  w.key("roles").begin_array();
  for (int k = 0; k < roles; ++k) write_role(w, guild, k);
  w.end_array();
  w.key("channels").begin_array();
  for (int k = 0; k < text_channels; ++k) write_channel(w, guild, k, false);
  for (int k = 0; k < voice_channels; ++k) write_channel(w, guild, k, true);
  w.end_array();
  // Without GUILD_PRESENCES the member list holds only the bot; a large guild lists online members and members
  // with a role; a small one lists everyone (reference §13.2).
  w.key("members").begin_array();
  write_bot_member(w, guild);
  if (presences) {
    for (int m = 0; m < shape_.members; ++m)
      if (!large || member_online(guild, m) || member_has_role(guild, m)) write_member(w, guild, m);
  }
  w.end_array();
  w.key("presences").begin_array();
  if (presences) {
    for (int m = 0; m < shape_.members; ++m)
      if (member_online(guild, m)) write_presence(w, guild, m);
  }
  w.end_array();
  w.key("threads").begin_array().end_array()
      .key("voice_states").begin_array().end_array()
      .key("stage_instances").begin_array().end_array()
      .key("guild_scheduled_events").begin_array().end_array()
      .key("soundboard_sounds").begin_array().end_array()
      .end_object();
}

}  // namespace g::sim
