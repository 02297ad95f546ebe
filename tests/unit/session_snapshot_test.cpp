#include <doctest/doctest.h>

#include "net/gateway/session_snapshot.hpp"

using g::net::session_snapshot;

TEST_CASE("session snapshot: READY and the first GUILD_CREATE of each guild it lists open the session") {
  session_snapshot s;
  CHECK_FALSE(s.opened());
  CHECK(s.opens_session("READY", R"({"v":10,"guilds":[{"id":"11","unavailable":true},{"id":"12","unavailable":true}]})", 0));
  CHECK(s.opens_session("GUILD_CREATE", R"({"id":"12"})", 12));
  CHECK_FALSE(s.opens_session("MESSAGE_CREATE", R"({"guild_id":"11"})", 11));
  CHECK_FALSE(s.opens_session("GUILD_CREATE", R"({"id":"12"})", 12));  // available again after an outage: a change
  CHECK_FALSE(s.opens_session("GUILD_CREATE", R"({"id":"13"})", 13));  // the bot joined a guild
  CHECK_FALSE(s.opened());
  CHECK(s.opens_session("GUILD_CREATE", R"({"id":"11"})", 11));
  CHECK(s.opened());
  // A new session starts the list again.
  CHECK(s.opens_session("READY", R"({"guilds":[{"id":"13","unavailable":true}]})", 0));
  CHECK_FALSE(s.opened());
  CHECK_FALSE(s.opens_session("GUILD_CREATE", R"({"id":"11"})", 11));
  CHECK(s.opens_session("GUILD_CREATE", R"({"id":"13"})", 13));
  CHECK(s.opens_session("READY", "not json", 0));  // READY always opens one
}
