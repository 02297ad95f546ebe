#include "sim/load_generator.hpp"

#include <cmath>

#include "net/discord/intents.hpp"
#include "net/discord/snowflake.hpp"
#include "net/discord/timestamp.hpp"
#include "net/json/json_writer.hpp"
#include "sim/events.hpp"
#include "sim/fakecord.hpp"
#include "sim/world_changes.hpp"

namespace g::sim {

namespace {

const std::string& corpus() {
  static const std::string text = [] {
    const char* words[] = {"hey", "anyone", "up", "for", "a", "raid", "tonight", "lol", "the", "new", "patch",
                           "is", "wild", "did", "you", "see", "that", "clip", "gg", "wp", "brb", "coffee",
                           "meeting", "in", "five", "minutes", "check", "pinned", "messages", "please", "thanks",
                           "server", "bot", "music", "queue", "skip", "vote", "poll", "event", "starts", "at",
                           "eight", "utc", "who", "is", "streaming", "link", "here", "nice", "build"};
    std::string s;
    std::mt19937 r(7);
    while (s.size() < 4096) {
      s += words[r() % (sizeof words / sizeof *words)];
      s += ' ';
    }
    return s;
  }();
  return text;
}

}  // namespace

std::string_view load_generator::name(kind k) {
  // The mix is set by these names; a change that Discord reports with another event (the bot joining or leaving
  // a guild) has its own.
  static constexpr std::string_view names[] = {
      "MESSAGE_CREATE",   "MESSAGE_UPDATE",    "TYPING_START",     "MESSAGE_REACTION_ADD", "PRESENCE_UPDATE",
      "GUILD_MEMBER_ADD", "GUILD_MEMBER_REMOVE", "GUILD_MEMBER_UPDATE", "CHANNEL_CREATE",   "CHANNEL_UPDATE",
      "CHANNEL_DELETE",   "THREAD_CREATE",     "THREAD_UPDATE",    "THREAD_DELETE",        "GUILD_ROLE_CREATE",
      "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "GUILD_UPDATE",     "VOICE_STATE_UPDATE",   "BOT_GUILD_JOIN",
      "BOT_GUILD_LEAVE"};
  static_assert(sizeof names / sizeof *names == kind_count);
  return names[k];
}

load_generator::load_generator(fakecord& fc, std::uint64_t seed) : fc_(fc), rng_(seed * 7919 + 17) {
  d_.reserve(4096);
  d_plain_.reserve(4096);
}

void load_generator::set_rate(double per_second, millis now) {
  rate_ = per_second;
  rate_since_ = now;
  owed_done_ = 0;
}

bool load_generator::set_weight(std::string_view event_name, double weight) {
  for (int k = 0; k < kind_count; ++k) {
    if (name(static_cast<kind>(k)) == event_name) {
      weights_[static_cast<std::size_t>(k)] = weight < 0 ? 0 : weight;
      return true;
    }
  }
  return false;
}

load_generator::kind load_generator::pick() {
  double total = 0;
  for (double w : weights_) total += w;
  if (total <= 0) return message_create;
  double x = std::uniform_real_distribution<double>(0, total)(rng_);
  for (int k = 0; k < kind_count; ++k) {
    x -= weights_[static_cast<std::size_t>(k)];
    if (x < 0) return static_cast<kind>(k);
  }
  return message_create;
}

std::string_view load_generator::content(std::size_t& len) {
  // Lengths like chat traffic: mostly short lines, some paragraphs.
  std::uint64_t r = rng_();
  unsigned bucket = r % 10;
  len = bucket < 6 ? 5 + (r >> 8) % 40 : bucket < 9 ? 40 + (r >> 8) % 160 : 200 + (r >> 8) % 800;
  const std::string& c = corpus();
  std::size_t off = (r >> 24) % (c.size() - len);
  return std::string_view(c).substr(off, len);
}

void load_generator::tick(millis now) {
  if (rate_ <= 0 || fc_.data().guild_count() == 0) return;
  auto owed = static_cast<std::uint64_t>(std::floor(rate_ * static_cast<double>(now - rate_since_) / 1000.0));
  // Never try to catch up more than one second of backlog (a stalled loop must not burst).
  if (owed > owed_done_ + static_cast<std::uint64_t>(rate_) + 1) owed_done_ = owed - static_cast<std::uint64_t>(rate_) - 1;
  if (fc_.backlog_bytes() > max_backlog_bytes) {
    // The sockets are behind: generating more would only queue it. Shed this step's events instead.
    shed_ += owed - owed_done_;
    owed_done_ = owed;
    return;
  }
  const int guilds = fc_.data().guild_count();
  for (; owed_done_ < owed; ++owed_done_) emit(pick(), static_cast<int>(rng_() % static_cast<unsigned>(guilds)));
}

void load_generator::emit(kind k, int guild) {
  namespace in = discord::intent;
  const world& w = fc_.data();
  const std::int64_t now_us = fc_.wall_clock_us ? fc_.wall_clock_us() : 0;
  static_assert(bot_leave - member_add == static_cast<int>(world_change::bot_leave), "kinds follow world_change");
  if (k >= member_add) {
    if (!make_world_change(fc_, static_cast<world_change>(k - member_add), guild, rng_(), now_us / 1000).empty())
      ++generated_total_;
    return;
  }
  if (!w.bot_in(guild)) return;
  ++generated_total_;
  const std::optional<member_state> author = w.some_member(guild, rng_());
  const std::uint64_t channel = w.some_text_channel(guild, rng_());
  d_.clear();
  d_plain_.clear();
  json::writer j(d_);
  std::uint64_t intents = 0;
  switch (k) {
    case message_create:
    case message_update: {
      std::size_t len = 0;
      message_spec m;
      m.guild = guild;
      m.channel_id = channel;
      m.author = author ? &*author : nullptr;
      m.id = discord::make_snowflake(static_cast<std::uint64_t>(now_us / 1000), ++message_counter_);
      m.content = content(len);
      std::string nonce = std::to_string(now_us);
      m.nonce = nonce;
      m.unix_ms = now_us / 1000;
      j.begin_object();
      write_message_fields(j, w, m);
      j.end_object();
      if (fc_.has_sessions_without_message_content()) {
        // What a bot without MESSAGE_CONTENT sees: the same message with its content blanked.
        json::writer p(d_plain_);
        m.content = {};
        p.begin_object();
        write_message_fields(p, w, m);
        p.end_object();
      }
      intents = in::guild_messages;
      fc_.dispatch_guild_event(w.guild_id(guild), name(k), d_, intents, d_plain_);
      return;
    }
    case typing_start:
      j.begin_object().id_field("channel_id", channel).id_field("guild_id", w.guild_id(guild));
      if (author) {
        j.id_field("user_id", author->user_id).key("member");
        w.write_member(j, *author);
      } else {
        j.id_field("user_id", w.owner_id());
      }
      j.field("timestamp", now_us / 1000000).end_object();
      intents = in::guild_message_typing;
      break;
    case reaction_add:
      j.begin_object().id_field("user_id", author ? author->user_id : w.owner_id())
          .field("type", 0)
          .id_field("message_id", discord::make_snowflake(static_cast<std::uint64_t>(now_us / 1000) - 60000, 1))
          .id_field("channel_id", channel)
          .id_field("guild_id", w.guild_id(guild))
          .key("emoji").begin_object().null_field("id").field("name", "\xF0\x9F\x91\x8D").end_object()
          .field("burst", false)
          .end_object();
      intents = in::guild_message_reactions;
      break;
    case presence_update:
      if (!author) return;
      w.write_presence(j, guild, *author);
      intents = in::guild_presences;
      break;
    default:
      return;
  }
  fc_.dispatch_guild_event(w.guild_id(guild), name(k), d_, intents);
}

}  // namespace g::sim
