#pragma once
// Where a shard asks for permission to IDENTIFY. A G node backs it with cluster-wide Redis slots; the
// in-process gate here serves one process (tests, a single node without Redis).
#include <cstdint>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace g::net {

class identify_gate {
 public:
  using ticket = std::uint64_t;
  virtual ~identify_gate() = default;
  // `granted` runs once, on the gate's executor, when the shard may send IDENTIFY now.
  virtual ticket request(int shard_id, std::function<void()> granted) = 0;
  virtual void cancel(ticket t) = 0;
  // The granted IDENTIFY left just now: the bucket's next one is a slot after this moment, not after the grant.
  virtual void sent(ticket t) = 0;
};

// A slot: Discord's 5 s, plus a margin for the jitter of the way to Discord (the slot counts from when IDENTIFY is
// written, so G's own queueing needs none). 100 ms: a few times the spread of gateway round trips.
inline constexpr std::int64_t identify_slot_ms = 5100;

// max_concurrency buckets, a slot apart, on an Asio timer. Thread-safe.
std::unique_ptr<identify_gate> make_local_identify_gate(boost::asio::io_context& io, int max_concurrency,
                                                        std::int64_t slot_ms = identify_slot_ms);

}  // namespace g::net
