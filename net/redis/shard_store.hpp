#pragma once
// G's durable state in Redis, under the key contract (prefix g:<group>:): shard leases, session records,
// cluster-wide identify slots, and the atomic commit that appends a shard's events to the stream and moves its
// committed seq in one step, only while the node still holds the shard's lease.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/redis/redis_connection.hpp"
#include "net/redis/store_result.hpp"

namespace g::net {

struct redis_keys {
  std::string prefix;  // "g:<group>:"
  explicit redis_keys(const std::string& group) : prefix("g:" + group + ":") {}
  std::string events() const { return prefix + "events"; }
  std::string session(int total, int id) const { return prefix + "session:" + std::to_string(total) + ":" + std::to_string(id); }
  std::string owner(int total, int id) const { return prefix + "owner:" + std::to_string(total) + ":" + std::to_string(id); }
  std::string identify(int bucket) const { return prefix + "identify:" + std::to_string(bucket); }
  std::string nodes() const { return prefix + "nodes"; }
  std::string master() const { return prefix + "master"; }
  std::string epoch() const { return prefix + "epoch"; }
  std::string shard_count() const { return prefix + "shard_count"; }
  std::string commands(int id) const { return prefix + "commands:" + std::to_string(id); }
  std::string command_results() const { return prefix + "command_results"; }
  std::string status() const { return prefix + "status"; }
  // A reshard in preparation (reshard_store.hpp): its record, the new set's held events, the old set's event counts.
  std::string reshard() const { return prefix + "reshard"; }
  std::string reshard_held() const { return prefix + "reshard:held"; }
  std::string reshard_seen() const { return prefix + "reshard:seen"; }
  std::string reshard_present() const { return prefix + "reshard:present"; }
  std::string reshard_live() const { return prefix + "reshard:live"; }
  // Not a key: the name a node gives its Redis connection (CLIENT SETNAME), so that Redis witnesses which nodes
  // live (connected_nodes).
  std::string client_name(const std::string& node) const { return "g-node:" + prefix.substr(2) + node; }
};

struct stream_event {
  std::int64_t seq = 0;
  // Empty: filtered out (the committed seq moves past it, nothing is written). "*": it opens a session of a set
  // a reshard prepares (READY, an initial GUILD_CREATE): not written either, but its guild counts as present in
  // the new set from ts_ms on (reshard_store.hpp).
  std::string t;
  std::string d;        // raw JSON of d, byte for byte as Discord sent it
  std::int64_t ts_ms = 0;  // when it was received
  std::uint64_t guild_id = 0;  // the frame scanner's; 0: none (a DM, say)
};

struct session_record {
  std::string session_id;
  std::int64_t seq = 0;  // last committed
  std::string resume_url;
  std::string node;
  std::int64_t updated_ms = 0;
  // Guilds whose member lists the previous owner had still to request (op 8) when it handed the shard over: their
  // GUILD_CREATE is not replayed to the next owner, so it requests them instead.
  std::vector<std::uint64_t> chunk_pending;
};

// A commit's answer: ok with the committed seq and the events written; lost when refused (`refused` says why,
// and for a gap `committed_seq` says where to resume from); unavailable when Redis did not answer.
struct commit_outcome {
  // superseded: a reshard switched the stream to another shard set; this shard's session is to be closed (1000).
  enum refusal { none, fenced, superseded, gap } refused = none;
  std::int64_t committed_seq = 0;  // the session's committed seq after the call
  std::int64_t appended = 0;       // events written (those at or below the committed seq are skipped)
};
using commit_result = store_result<commit_outcome>;

class shard_store {
 public:
  shard_store(redis_connection& redis, const std::string& group, std::string node_id);

  const redis_keys& keys() const { return keys_; }

  // Every operation answers ok / lost / unavailable (store_result.hpp) and never throws.

  // Takes the shard's lease if free or already ours (renewing it). lost: another node holds it, for `value` ms more.
  [[nodiscard]] store_result<std::int64_t> acquire_lease(int total, int id, std::int64_t lease_ms);
  // lost: another node's now, or gone (expired, or a Redis restart without persistence).
  [[nodiscard]] store_result<> renew_lease(int total, int id, std::int64_t lease_ms);
  // Several of this node's leases of one set at once (one script call per 1,000): each answer as renew_lease's.
  [[nodiscard]] std::vector<store_result<>> renew_leases(int total, const std::vector<int>& ids, std::int64_t lease_ms);
  // Session stealing: the master decided this node now owns the shard (its previous owner is dead or leaving),
  // so the lease is taken over at once instead of waiting for it to expire; the previous owner, if it still
  // runs, is fenced by its next commit.
  [[nodiscard]] store_result<> take_over_lease(int total, int id, std::int64_t lease_ms);
  [[nodiscard]] store_result<> release_lease(int total, int id);
  // A session ended for good (closed with 1000: its set was superseded): the lease, if ours, and the record, if
  // it is still this session's, go.
  [[nodiscard]] store_result<> forget_session(int total, int id, const std::string& session_id);
  [[nodiscard]] store_result<std::string> lease_holder(int total, int id);  // "" when nobody holds it
  // Every shard's lease holder in one round trip ("" where none).
  [[nodiscard]] store_result<std::vector<std::string>> lease_holders(int total);

  // ok with nothing when the shard has no session record. The record's chunk_pending is taken: read and cleared.
  [[nodiscard]] store_result<std::optional<session_record>> load_session(int total, int id);
  // A shard handed over with member requests still to send: the next owner's load_session finds them.
  [[nodiscard]] store_result<> save_chunk_pending(int total, int id, const std::vector<std::uint64_t>& guilds);

  // Appends events of one session (in seq order) and moves the committed seq, atomically and only while this
  // node holds the lease (an expired lease nobody took is taken back for `lease_ms`). Events at or below the
  // committed seq are skipped (exactly once); a seq beyond committed + 1 is a gap and nothing is written.
  [[nodiscard]] commit_result commit(int total, int id, const std::string& session_id, const std::string& resume_url,
                       const std::vector<stream_event>& events, std::uint64_t stream_maxlen, std::int64_t now_ms,
                       std::int64_t lease_ms = 5000);

  // Several shards' commits in one round trip (pipelined; each script still atomic on its own), in order.
  struct commit_request {
    int total = 0, id = 0;
    const std::string* session_id = nullptr;
    const std::string* resume_url = nullptr;
    const std::vector<stream_event>* events = nullptr;
    std::uint64_t stream_maxlen = 0;
    std::int64_t now_ms = 0, lease_ms = 5000;
    bool in_force = true;  // the node runs this set as the one in force (not one a reshard prepares)
  };
  [[nodiscard]] std::vector<commit_result> commit_many(const std::vector<commit_request>& requests);

  // One cluster-wide IDENTIFY slot per bucket per `slot_ms`. lost: taken; `value` ms until it frees.
  [[nodiscard]] store_result<std::int64_t> take_identify_slot(int bucket, std::int64_t slot_ms);
  // This node's IDENTIFY of the slot left now: the slot runs `slot_ms` from now (lost: not this node's any more).
  [[nodiscard]] store_result<> extend_identify_slot(int bucket, std::int64_t slot_ms);

  // The master's lease (`master`) and its epoch: claim answers the new epoch when this node now holds the lease
  // (lost: another node is master); keep renews it (or takes it back if it expired with nobody taking it).
  // A lease held by a node in `departed` (its link went down) that has gone unrenewed for 750 ms is taken rather
  // than waited out; a master that lives on behind a partition keeps renewing, so its lease is never taken.
  // The new epoch is above `known_epoch` too: after a Redis restart without persistence the counter starts again
  // at 0, and followers would refuse a master whose epoch went backwards.
  // A holder in `gone` (its link is down and Redis saw its connection close: the process is dead) loses the lease
  // at once, without the 750 ms.
  [[nodiscard]] store_result<std::uint64_t> claim_master(std::int64_t lease_ms, const std::vector<std::string>& departed = {},
                                                         std::uint64_t known_epoch = 0, const std::vector<std::string>& gone = {});
  [[nodiscard]] store_result<> keep_master(std::int64_t lease_ms);
  [[nodiscard]] store_result<> resign_master();

  // This node in `nodes` (its JSON entry) and the shard total in `shard_count`.
  [[nodiscard]] store_result<> register_node(const std::string& entry, int shard_total);
  [[nodiscard]] store_result<> unregister_node() { return unregister_node(node_); }
  [[nodiscard]] store_result<> unregister_node(const std::string& id);  // also for a node that died and cannot do it itself
  [[nodiscard]] store_result<> set_status(int id, const std::string& json);
  // Several shards' status lines (id, JSON) in one HSET per 1,000.
  [[nodiscard]] store_result<> set_statuses(const std::vector<std::pair<int, std::string>>& lines);

  // The nodes of this group with a connection to Redis now (named with redis_keys::client_name) that used it within
  // `max_idle_s`, by id, sorted: Redis sees a killed process's connections close at once, while a node behind a
  // partition between nodes stays connected and busy. unavailable also when Redis refuses CLIENT LIST (an ACL
  // without it).
  [[nodiscard]] store_result<std::vector<std::string>> connected_nodes(long max_idle_s = 2);

 private:
  store_result<std::int64_t> acquire(const std::string& key, std::int64_t lease_ms);
  store_result<> renew(const std::string& key, std::int64_t lease_ms);
  store_result<> release(const std::string& key);

  redis_connection& redis_;
  redis_keys keys_;
  std::string node_;
};

// The commit as Redis reads it, for a connection that writes the wire format itself (redis_pipe): the EVALSHA's
// array header and its arguments up to the events, followed by `events` events encoded as commit_batch does. What
// does not change between one shard's commits (keys, node, shard, lease) is encoded once. Its answer reads as
// commit's does.
class commit_head {
 public:
  commit_head(const redis_keys& keys, const std::string& node, int total, int id, std::int64_t lease_ms);
  // `in_force`: the node runs this shard's set as the one in force (not one a reshard prepares).
  std::string encode(const std::string& session_id, const std::string& resume_url, std::int64_t now_ms, bool in_force,
                     std::size_t events) const;

 private:
  std::string before_session_;  // EVALSHA, the script, its 8 keys, the node
  std::string after_now_;       // maxlen, shard, lease, total
};
commit_result read_commit_reply(const redis_reply& reply, int shard_id);
// The script itself: SCRIPT LOAD it on a connection that sends EVALSHA (Redis forgets scripts on a restart).
const std::string& commit_script_text();

}  // namespace g::net
