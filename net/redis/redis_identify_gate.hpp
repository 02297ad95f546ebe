#pragma once
// The cluster-wide identify gate: a shard may IDENTIFY when it holds the Redis slot of its bucket
// (identify:<shard % max_concurrency>), whichever node it runs on. The slot is taken at the grant for two slots and
// set to one slot from when the IDENTIFY left (sent): the next node's IDENTIFY in the bucket is a slot after it,
// even when the IDENTIFY, or the Redis job that marks it, came late.
#include <memory>
#include <functional>
#include <string>

#include "net/gateway/identify_gate.hpp"

namespace g::net {

class redis_worker;

struct identify_budget {
  int total = 1000;
  int remaining = 1000;
  std::int64_t reset_after_ms = 0;
  int reserve = 10;                              // refuse IDENTIFY at or below this many remaining starts
  std::function<void(const std::string&)> refused;  // called (from the gate's threads) on each refusal
};

std::unique_ptr<identify_gate> make_redis_identify_gate(boost::asio::io_context& io, redis_worker& redis,
                                                        std::string group, std::string node_id, int max_concurrency,
                                                        identify_budget budget, std::int64_t slot_ms = identify_slot_ms);

}  // namespace g::net
