#pragma once
// Gateway intent bits (API v10).
#include <cstdint>

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

}  // namespace g::discord::intent
