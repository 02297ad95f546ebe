#pragma once
// Gateway intent bits (API v10).
#include <cstdint>
#include <string_view>

namespace g::discord::intent {

constexpr std::uint64_t guilds = 1u << 0;
constexpr std::uint64_t guild_members = 1u << 1;  // privileged
constexpr std::uint64_t guild_moderation = 1u << 2;
constexpr std::uint64_t guild_expressions = 1u << 3;
constexpr std::uint64_t guild_integrations = 1u << 4;
constexpr std::uint64_t guild_webhooks = 1u << 5;
constexpr std::uint64_t guild_invites = 1u << 6;
constexpr std::uint64_t guild_voice_states = 1u << 7;
constexpr std::uint64_t guild_presences = 1u << 8;  // privileged
constexpr std::uint64_t guild_messages = 1u << 9;
constexpr std::uint64_t guild_message_reactions = 1u << 10;
constexpr std::uint64_t guild_message_typing = 1u << 11;
constexpr std::uint64_t direct_messages = 1u << 12;
constexpr std::uint64_t direct_message_reactions = 1u << 13;
constexpr std::uint64_t direct_message_typing = 1u << 14;
constexpr std::uint64_t message_content = 1u << 15;  // privileged
constexpr std::uint64_t guild_scheduled_events = 1u << 16;
constexpr std::uint64_t auto_moderation_configuration = 1u << 20;
constexpr std::uint64_t auto_moderation_execution = 1u << 21;
constexpr std::uint64_t guild_message_polls = 1u << 24;
constexpr std::uint64_t direct_message_polls = 1u << 25;

constexpr std::uint64_t privileged = guild_members | guild_presences | message_content;
// Every documented bit; anything else is an invalid intent value (close 4013).
constexpr std::uint64_t all_valid = ((1u << 17) - 1) | auto_moderation_configuration | auto_moderation_execution |
                                    guild_message_polls | direct_message_polls;

// The intent that gates a dispatch (0: delivered regardless of intents), from Discord's list of intents and the
// events each one subscribes to. `in_guild` tells a guild's message, reaction, typing, pin or poll event (it
// carries guild_id) from a DM's.
constexpr std::uint64_t gating(std::string_view t, bool in_guild) {
  auto starts = [&](std::string_view prefix) { return t.substr(0, prefix.size()) == prefix; };
  if (t == "GUILD_MEMBERS_CHUNK") return 0;  // an answer to a request, not a subscription
  if (starts("MESSAGE_REACTION_")) return in_guild ? guild_message_reactions : direct_message_reactions;
  if (starts("MESSAGE_POLL_VOTE_")) return in_guild ? guild_message_polls : direct_message_polls;
  if (starts("MESSAGE_")) return in_guild ? guild_messages : direct_messages;
  if (t == "TYPING_START") return in_guild ? guild_message_typing : direct_message_typing;
  if (t == "CHANNEL_PINS_UPDATE") return in_guild ? guilds : direct_messages;
  if (t == "PRESENCE_UPDATE") return guild_presences;
  if (starts("GUILD_MEMBER_") || t == "THREAD_MEMBERS_UPDATE") return guild_members;
  if (starts("GUILD_BAN_") || t == "GUILD_AUDIT_LOG_ENTRY_CREATE") return guild_moderation;
  if (t == "GUILD_EMOJIS_UPDATE" || t == "GUILD_STICKERS_UPDATE" || starts("GUILD_SOUNDBOARD_SOUND"))
    return guild_expressions;
  if (t == "GUILD_INTEGRATIONS_UPDATE" || starts("INTEGRATION_")) return guild_integrations;
  if (t == "WEBHOOKS_UPDATE") return guild_webhooks;
  if (starts("INVITE_")) return guild_invites;
  if (t == "VOICE_STATE_UPDATE" || t == "VOICE_CHANNEL_EFFECT_SEND") return guild_voice_states;
  if (starts("GUILD_SCHEDULED_EVENT_")) return guild_scheduled_events;
  if (starts("AUTO_MODERATION_ACTION_")) return auto_moderation_execution;
  if (starts("AUTO_MODERATION_RULE_")) return auto_moderation_configuration;
  if (starts("GUILD_") || starts("CHANNEL_") || starts("THREAD_") || starts("STAGE_INSTANCE_")) return guilds;
  return 0;
}

// Whether gating() depends on the event carrying a guild_id.
constexpr bool gating_depends_on_guild(std::string_view t) {
  auto starts = [&](std::string_view prefix) { return t.substr(0, prefix.size()) == prefix; };
  return starts("MESSAGE_") || t == "TYPING_START" || t == "CHANNEL_PINS_UPDATE";
}

}  // namespace g::discord::intent
