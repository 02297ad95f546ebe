#include "sim/world.hpp"

#include <algorithm>

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

void nullable(json::writer& w, std::string_view key, const std::string& text) {
  if (text.empty()) w.null_field(key);
  else w.field(key, text);
}

void write_ids(json::writer& w, std::string_view key, const std::vector<std::uint64_t>& ids) {
  w.key(key).begin_array();
  for (auto id : ids) w.id(id);
  w.end_array();
}

}  // namespace

world::world(world_shape shape) : shape_(shape), absent_(static_cast<std::size_t>(std::max(0, shape.guilds)), false) {
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
    if (bot_in(g) && discord::shard_for_guild(guild_id(g), shard_count) == shard_id) out.push_back(g);
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

world::~world() = default;

std::uint64_t world::next_id() {
  // Created objects take ids 10,000 s after the users' block, 4,096 per millisecond: never an existing id.
  ++created_;
  return discord::make_snowflake(user_base_ms_ + 10'000'000ULL + created_ / 4096, (mix(5) & 0x3E0000) | (created_ % 4096));
}

member_state world::derived_member(int guild, int member) const {
  member_state m;
  m.user_id = member_user_id(guild, member);
  m.username = username(guild, member);
  if (member_has_role(guild, member)) m.roles.push_back(role_id(guild, 1));
  m.joined_ms = static_cast<std::int64_t>(discord::snowflake_time_ms(m.user_id));
  m.online = member_online(guild, member);
  return m;
}

member_state world::bot_member(int guild) const {
  member_state m;
  m.user_id = bot_id_;
  m.username = bot_name();
  m.roles.push_back(role_id(guild, 2));
  m.joined_ms = static_cast<std::int64_t>(discord::snowflake_time_ms(guild_id(guild)));
  m.bot = true;
  m.online = true;
  return m;
}

const guild_state& world::view(int guild, guild_state& scratch, bool with_people) const {
  if (auto it = changed_.find(guild); it != changed_.end()) return *it->second;
  derive(guild, with_people, scratch);
  return scratch;
}

void world::derive(int guild, bool with_people, guild_state& st) const {
  static const char* const role_names[] = {"@everyone", "Member", "Bots"};
  static const std::uint64_t role_permissions[] = {1071698660929ULL, 1071698660929ULL, 8};
  static const char* const channel_names[] = {"general", "random", "announcements"};
  st = guild_state{};
  st.name = guild_name(guild);
  st.system_channel_id = text_channel_id(guild, 0);
  for (int k = 0; k < roles; ++k) {
    role_state r;
    r.id = role_id(guild, k);
    r.name = role_names[k % 3];
    r.permissions = role_permissions[k % 3];
    r.position = k;
    r.color = k == 1 ? 3447003 : 0;
    r.hoist = k == 1;
    r.managed = k == 2;
    st.roles.push_back(std::move(r));
  }
  for (int k = 0; k < text_channels + voice_channels; ++k) {
    channel_state c;
    bool voice = k >= text_channels;
    c.id = voice ? voice_channel_id(guild, k - text_channels) : text_channel_id(guild, k);
    c.type = voice ? 2 : 0;
    c.name = voice ? "Voice " + std::to_string(k - text_channels) : k < 3 ? channel_names[k] : "text-" + std::to_string(k);
    c.position = k;
    st.channels.push_back(std::move(c));
  }
  st.members.reserve(with_people ? static_cast<std::size_t>(shape_.members) + 1 : 1);
  st.add_member(bot_member(guild));
  if (with_people)
    for (int m = 0; m < shape_.members; ++m) st.add_member(derived_member(guild, m));
}

guild_state& world::edit(int guild) {
  if (auto it = changed_.find(guild); it != changed_.end()) return *it->second;
  auto st = std::make_unique<guild_state>();
  derive(guild, true, *st);
  return *changed_.emplace(guild, std::move(st)).first->second;
}

int world::member_count(int guild) const {
  if (auto it = changed_.find(guild); it != changed_.end()) return static_cast<int>(it->second->members.size());
  return shape_.members + 1;
}

std::optional<member_state> world::find_member(int guild, std::uint64_t user_id) const {
  if (auto it = changed_.find(guild); it != changed_.end()) {
    const member_state* m = it->second->find_member(user_id);
    return m ? std::optional<member_state>(*m) : std::nullopt;
  }
  if (user_id == bot_id_) return bot_member(guild);
  if (auto m = member_index(guild, user_id)) return derived_member(guild, *m);
  return std::nullopt;
}

std::uint64_t world::permissions(const guild_state& st, std::uint64_t gid, const member_state& m,
                                 const channel_state* channel) const {
  if (m.user_id == owner_id_) return all_permissions;
  auto role_bits = [&](std::uint64_t id) -> std::uint64_t {
    for (const auto& r : st.roles)
      if (r.id == id) return r.permissions;
    return 0;
  };
  std::uint64_t perms = role_bits(gid);
  for (auto id : m.roles) perms |= role_bits(id);
  if (perms & 8) return all_permissions;  // ADMINISTRATOR
  if (!channel) return perms;
  auto overwrite = [&](std::uint64_t id, int type) -> const permission_overwrite* {
    for (const auto& o : channel->overwrites)
      if (o.id == id && o.type == type) return &o;
    return nullptr;
  };
  if (auto* o = overwrite(gid, 0)) perms = (perms & ~o->deny) | o->allow;
  std::uint64_t allow = 0, deny = 0;
  for (auto id : m.roles)
    if (auto* o = overwrite(id, 0)) allow |= o->allow, deny |= o->deny;
  perms = (perms & ~deny) | allow;
  if (auto* o = overwrite(m.user_id, 1)) perms = (perms & ~o->deny) | o->allow;
  return perms;
}

std::optional<int> world::guild_of_channel(std::uint64_t channel_id) const {
  // The original channels' ids are their guild's plus 1…4, within the same millisecond.
  std::uint64_t ms = discord::snowflake_time_ms(channel_id);
  if (ms >= guild_base_ms_ && ms < guild_base_ms_ + static_cast<unsigned>(shape_.guilds)) {
    int g = static_cast<int>(ms - guild_base_ms_);
    std::uint64_t k = channel_id - guild_id(g);
    if (channel_id > guild_id(g) && k <= static_cast<unsigned>(text_channels + voice_channels)) {
      auto it = changed_.find(g);
      if (it == changed_.end()) return g;
      for (const auto& c : it->second->channels)
        if (c.id == channel_id) return g;
      return std::nullopt;  // deleted
    }
  }
  // Created ones live in changed guilds only.
  for (const auto& [g, st] : changed_) {
    for (const auto* list : {&st->channels, &st->threads})
      for (const auto& c : *list)
        if (c.id == channel_id) return g;
  }
  return std::nullopt;
}

std::optional<member_state> world::some_member(int guild, std::uint64_t r) const {
  if (auto it = changed_.find(guild); it != changed_.end()) {
    const member_state* m = pick(it->second->members, r, [](auto& x) { return !x.bot; });
    return m ? std::optional<member_state>(*m) : std::nullopt;
  }
  if (shape_.members == 0) return std::nullopt;
  return derived_member(guild, static_cast<int>(r % static_cast<unsigned>(shape_.members)));
}

std::uint64_t world::some_text_channel(int guild, std::uint64_t r) const {
  if (auto it = changed_.find(guild); it != changed_.end()) {
    const channel_state* c = pick(it->second->channels, r, [](auto& x) { return x.type == 0; });
    return c ? c->id : 0;
  }
  return text_channel_id(guild, static_cast<int>(r % text_channels));
}

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

void world::write_user(json::writer& w, const member_state& m) const {
  if (m.bot) {
    write_bot_user(w);
    return;
  }
  w.begin_object()
      .id_field("id", m.user_id)
      .field("username", m.username)
      .field("discriminator", "0")
      .field("global_name", m.username)
      .null_field("avatar")
      .field("public_flags", 0)
      .end_object();
}

void world::write_member(json::writer& w, const member_state& m, bool with_user) const {
  w.begin_object();
  if (with_user) {
    w.key("user");
    write_user(w, m);
  }
  write_ids(w, "roles", m.roles);
  nullable(w, "nick", m.nick);
  w.null_field("avatar")
      .null_field("banner")
      .field("joined_at", discord::iso8601(m.joined_ms))
      .null_field("premium_since")
      .field("deaf", false)
      .field("mute", false)
      .field("flags", 0)
      .field("pending", false)
      .null_field("communication_disabled_until")
      .end_object();
}

void world::write_presence(json::writer& w, int guild, const member_state& m) const {
  w.begin_object()
      .key("user")
      .begin_object()
      .id_field("id", m.user_id)
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

void world::write_channel(json::writer& w, const channel_state& c, std::uint64_t gid) const {
  w.begin_object().id_field("id", c.id).field("type", c.type);
  if (gid) w.id_field("guild_id", gid);
  w.field("name", c.name);
  if (c.parent_id) w.id_field("parent_id", c.parent_id);
  else w.null_field("parent_id");
  if (c.type == 11) {  // a public thread (Discord's thread channel object)
    w.id_field("owner_id", c.owner_id)
        .null_field("last_message_id")
        .field("rate_limit_per_user", 0)
        .field("flags", 0)
        .field("message_count", c.message_count)
        .field("member_count", c.member_count)
        .field("total_message_sent", c.message_count)
        .key("thread_metadata")
        .begin_object()
        .field("archived", c.archived)
        .field("auto_archive_duration", 1440)
        .field("archive_timestamp", discord::iso8601(c.create_ms))
        .field("locked", c.locked)
        .field("create_timestamp", discord::iso8601(c.create_ms))
        .end_object()
        .end_object();
    return;
  }
  w.field("position", c.position);
  if (c.type == 2) {
    w.field("bitrate", 64000).field("user_limit", 0).null_field("rtc_region");
  } else {
    nullable(w, "topic", c.topic);
    w.field("nsfw", false).field("rate_limit_per_user", 0).null_field("last_message_id");
  }
  w.key("permission_overwrites").begin_array();
  for (const auto& o : c.overwrites)
    w.begin_object()
        .id_field("id", o.id)
        .field("type", o.type)
        .field("allow", std::to_string(o.allow))
        .field("deny", std::to_string(o.deny))
        .end_object();
  w.end_array().field("flags", 0).end_object();
}

void world::write_role(json::writer& w, const role_state& r) const {
  w.begin_object()
      .id_field("id", r.id)
      .field("name", r.name)
      .null_field("description")
      .field("permissions", std::to_string(r.permissions))
      .field("position", r.position)
      .field("color", r.color)
      .key("colors")
      .begin_object()
      .field("primary_color", r.color)
      .null_field("secondary_color")
      .null_field("tertiary_color")
      .end_object()
      .field("hoist", r.hoist)
      .null_field("icon")
      .null_field("unicode_emoji")
      .field("managed", r.managed)
      .field("mentionable", r.mentionable)
      .field("flags", 0)
      .end_object();
}

void world::write_voice_state(json::writer& w, std::uint64_t gid, const voice_state& v, bool full) const {
  w.begin_object();
  if (full) w.id_field("guild_id", gid);
  if (v.channel_id) w.id_field("channel_id", v.channel_id);
  else w.null_field("channel_id");
  w.id_field("user_id", v.user_id);
  if (full) {
    if (auto g = guild_index(gid)) {
      if (auto m = find_member(*g, v.user_id)) {
        w.key("member");
        write_member(w, *m);
      }
    }
  }
  w.field("session_id", v.session_id)
      .field("deaf", false)
      .field("mute", false)
      .field("self_deaf", v.self_deaf)
      .field("self_mute", v.self_mute)
      .field("self_video", false)
      .field("suppress", false)
      .null_field("request_to_speak_timestamp")
      .end_object();
}

void world::write_application(json::writer& w) const {
  w.begin_object().id_field("id", application_id()).field("flags", 41975808).end_object();
}

void world::write_guild_fields(json::writer& w, int guild, const guild_state& st) const {
  std::uint64_t gid = guild_id(guild);
  const std::uint64_t system_channel = st.system_channel_id;
  w.id_field("id", gid)
      .field("name", st.name)
      .null_field("icon")
      .null_field("splash")
      .null_field("discovery_splash")
      .id_field("owner_id", owner_id_)
      .null_field("afk_channel_id")
      .field("afk_timeout", st.afk_timeout)
      .field("verification_level", st.verification_level)
      .field("default_message_notifications", 1)
      .field("explicit_content_filter", 0)
      .key("features").begin_array().end_array()
      .key("roles").begin_array();
  for (const auto& r : st.roles) write_role(w, r);
  w.end_array()
      .key("emojis").begin_array().end_array()
      .key("stickers").begin_array().end_array()
      .field("mfa_level", 0)
      .null_field("application_id");
  if (system_channel) w.id_field("system_channel_id", system_channel);
  else w.null_field("system_channel_id");
  w.field("system_channel_flags", 0)
      .null_field("rules_channel_id")
      .null_field("vanity_url_code");
  nullable(w, "description", st.description);
  w.null_field("banner")
      .field("premium_tier", 0)
      .field("premium_subscription_count", 0)
      .field("preferred_locale", "en-US")
      .null_field("public_updates_channel_id")
      .field("nsfw_level", 0)
      .field("premium_progress_bar_enabled", false);
}

void world::write_guild(json::writer& w, int guild, const guild_state& st, bool all_members, std::uint64_t intents,
                        int large_threshold) const {
  const int members = member_count(guild);
  const bool large = members > large_threshold;
  const bool presences = (intents & discord::intent::guild_presences) != 0;
  const std::uint64_t gid = guild_id(guild);
  w.begin_object();
  write_guild_fields(w, guild, st);
  w.field("joined_at", iso_time(gid))
      .field("large", large)
      .field("unavailable", false)
      .field("member_count", members)
      .field("lazy", true);
  w.key("channels").begin_array();
  for (const auto& c : st.channels) write_channel(w, c);
  w.end_array();
  // Without GUILD_PRESENCES the member list holds only the bot; a large guild lists online members and members
  // with a role; a small one lists everyone (reference §13.2). The truth lists everyone.
  w.key("members").begin_array();
  for (const auto& m : st.members)
    if (all_members || m.bot || (presences && (!large || m.online || !m.roles.empty()))) write_member(w, m);
  w.end_array();
  w.key("presences").begin_array();
  if (presences && !all_members)
    for (const auto& m : st.members)
      if (m.online && !m.bot) write_presence(w, guild, m);
  w.end_array();
  w.key("threads").begin_array();
  for (const auto& t : st.threads) write_channel(w, t, gid);
  w.end_array();
  w.key("voice_states").begin_array();
  for (const auto& v : st.voice) write_voice_state(w, gid, v, false);
  w.end_array()
      .key("stage_instances").begin_array().end_array()
      .key("guild_scheduled_events").begin_array().end_array()
      .key("soundboard_sounds").begin_array().end_array()
      .end_object();
}

void world::write_guild_create(json::writer& w, int guild, std::uint64_t intents, int large_threshold) const {
  // Without GUILD_PRESENCES only the bot is listed: a derived guild need not build its people.
  guild_state scratch;
  const bool presences = (intents & discord::intent::guild_presences) != 0;
  write_guild(w, guild, view(guild, scratch, presences), false, intents, large_threshold);
}

void world::write_guild_truth(json::writer& w, int guild) const {
  guild_state scratch;
  write_guild(w, guild, view(guild, scratch), true, 0, 250);
}

}  // namespace g::sim
