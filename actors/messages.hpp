#pragma once
// Messages between G's actors and from the io/Redis threads to them. Local only so far (the cluster's wire
// types will be registered here too, by one function every binary calls). Include only in actor .cpp files.
#include <caf/all.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/command_inbox.hpp"
#include "net/gateway/shard_connection.hpp"
#include "net/redis/shard_store.hpp"

namespace g::actors {

using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using renew_atom = caf::atom_constant<caf::atom("renew")>;
using drained_atom = caf::atom_constant<caf::atom("drained")>;  // io thread → shard: every event is committed
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;  // shard → node: the session is ready
using promote_atom = caf::atom_constant<caf::atom("promote")>;  // node → shard: a reshard switched to its set
using end_atom = caf::atom_constant<caf::atom("end")>;          // node → shard: its set was superseded: close 1000
using drop_atom = caf::atom_constant<caf::atom("drop")>;  // master → node → shard: give the shard up, uncommitted
using live_atom = caf::atom_constant<caf::atom("live")>;  // shard → itself: write reshard:live again
using chunked_atom = caf::atom_constant<caf::atom("chunked")>;  // io thread → shard: a member request was sent
using fenced_atom = caf::atom_constant<caf::atom("fenced")>;  // shard → node → master: fenced by another lease holder
using alone_atom = caf::atom_constant<caf::atom("alone")>;  // Redis → node: no other node of the group is connected
using opened_atom = caf::atom_constant<caf::atom("opened")>;    // io thread → shard: a prepared session has its guilds

// The first element of every message an actor of a node sends to the node actor itself (ticks, Redis answers,
// start/stop, a shard's readiness): the type is not registered for the wire, so no remote actor can send one —
// only hello/proof/elect/assign/release/leaving/moved/status come from the network, and those are checked.
struct local {};

struct report_msg {  // io thread → shard: phase or session changed
  net::shard_report report;
};
struct lease_msg {  // Redis → shard: the lease (ok: held now, with the stored session; lost: held elsewhere for
                   // `lease.value` ms more; unavailable: Redis did not answer)
  net::store_result<std::int64_t> lease;
  std::optional<net::session_record> session;
  static lease_msg failed(std::string why) { return {net::store_result<std::int64_t>::failed(std::move(why)), std::nullopt}; }
};
struct refused_msg {  // io thread → shard: Redis refused a commit (fenced, superseded, or a gap): the stream stopped
  net::commit_result result;
  net::session_state session;  // the refused batch's session; for a gap, resumed from result.value.committed_seq
};
struct renew_msg {  // Redis → shard: the lease is still ours (lost: fenced; unavailable: Redis did not answer)
  net::store_result<> lease;
  static renew_msg failed(std::string why) { return {net::store_result<>::failed(std::move(why))}; }
};
struct chunk_msg {  // io thread → shard: this guild's member list is incomplete
  std::uint64_t guild_id = 0;
  std::int64_t retry_after_ms = -1;  // >= 0: Discord answered RATE_LIMITED; ask again after this long
};
struct commands_msg {  // node → shard: backend commands read from commands:<id>
  std::vector<command> commands;
};
struct inbox_msg {  // Redis → node: the commands of its shards
  std::map<int, std::vector<command>> by_shard;
  std::string error;  // the read failed: none this round
  static inbox_msg failed(std::string why) { return {{}, std::move(why)}; }
};

}  // namespace g::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::local)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::report_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::lease_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::refused_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::renew_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::commands_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::inbox_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(g::actors::chunk_msg)
