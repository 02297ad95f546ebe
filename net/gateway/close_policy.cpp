#include "net/gateway/close_policy.hpp"

namespace g::net {

namespace {

// Where libraries differ (reference §8), the choice that loses the least: resume whenever the session may
// still be valid (a failed RESUME costs an op 9, a needless IDENTIFY costs session budget and replays nothing).
constexpr close_rule rules[] = {
    {4000, after_close::resume, "unknown error"},
    {4001, after_close::resume, "unknown opcode (a bug of ours: resume, do not repeat it)"},
    {4002, after_close::resume, "decode error"},
    {4003, after_close::reidentify, "not authenticated"},
    {4004, after_close::fatal, "authentication failed: the token is wrong or was reset"},
    {4005, after_close::reidentify, "already authenticated"},
    {4007, after_close::reidentify, "invalid seq"},
    {4008, after_close::resume, "rate limited"},
    {4009, after_close::reidentify, "session timed out"},
    {4010, after_close::fatal, "invalid shard"},
    {4011, after_close::fatal, "sharding required: more shards are needed"},
    {4012, after_close::fatal, "invalid API version"},
    {4013, after_close::fatal, "invalid intents"},
    {4014, after_close::fatal, "disallowed intents: enable them in the developer portal"},
};

}  // namespace

close_rule close_policy(int code) {
  for (const auto& r : rules)
    if (r.code == code) return r;
  return {code, after_close::resume, "connection lost"};
}

}  // namespace g::net
