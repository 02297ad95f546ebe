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
};

// max_concurrency buckets, 5 s apart plus a margin (Discord measures on its side: a grant at exactly 5 s can arrive
// early there if the previous IDENTIFY was delayed on its way), on an Asio timer. Thread-safe.
std::unique_ptr<identify_gate> make_local_identify_gate(boost::asio::io_context& io, int max_concurrency,
                                                        std::int64_t slot_ms = 5500);

}  // namespace g::net
