#pragma once
// Changes to the world as Discord makes them: members join, leave and change nick or roles; channels, threads and
// roles are created, updated and deleted; the guild is updated; people join and leave voice; the bot is added to
// and removed from guilds. Each change is applied to the world first, then dispatched as the event Discord sends
// for it (shapes from Discord's gateway events documentation; where Discord is silent, docs/fakecord.md says
// what the simulator does).
#include <cstdint>
#include <string>
#include <string_view>

namespace g::sim {

class fakecord;

enum class world_change {
  member_add, member_remove, member_update, channel_create, channel_update, channel_delete, thread_create,
  thread_update, thread_delete, role_create, role_update, role_delete, guild_update, voice_state, bot_join,
  bot_leave
};

// Makes one change of that kind in `guild` (bot_join picks a guild the bot is not in), `r` choosing what changes.
// Returns the event name dispatched, or empty when the guild offered nothing to change.
std::string_view make_world_change(fakecord& fc, world_change kind, int guild, std::uint64_t r, std::int64_t now_ms);

}  // namespace g::sim
