#pragma once
// POST /_fakecord/interaction (interaction_maker.cpp).
#include <simdjson.h>

#include "sim/http_api.hpp"

namespace g::sim {

// {"kind": "command" | "button" | "modal", "guild_id", "channel_id"?, "user_id"?, "name" + "options"? (command),
// "custom_id" + "message_id"? (button), "custom_id" + "fields"? {custom_id: value} (modal)} →
// {"id", "token", "delivered"}.
http_reply make_interaction(fakecord& fc, const simdjson::dom::element& body, millis now);

}  // namespace g::sim
