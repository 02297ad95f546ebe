#pragma once
// What the sockets alone cost on this machine: the least any gateway client can spend per event at a given rate,
// whatever its language or read path. A sender thread writes frames of a fixed size round-robin over loopback TCP
// sockets at the rate; reader threads shaped like G's io threads (each its own sockets, its own epoll and its own
// Redis connection; a pass per window, with the same timer slack) read them and write one pipelined XADD per
// frame to Redis per pass. No WebSocket, no inflate, no JSON: the wake-ups, the reads (and the ACKs they send) and
// the writes to Redis. Only the reader threads' CPU counts (their own clocks), as only the system under test's
// process counts in `g-bench compare`.
#include <cstdint>
#include <string>

namespace g::bench {

struct socket_floor_options {
  int rate = 2000;           // frames per second, all sockets together
  int sockets = 16;          // as the shards of `g-bench compare`
  int threads = 2;           // as G's [node] io_threads
  int window_us = 2000;      // as G's [node] io_batch_us (0: a pass per readiness, no sleep)
  int frame_bytes = 300;     // the size of a compressed dispatch
  int seconds = 5;           // measured, after 2 s of warm-up
  std::uint16_t redis_port = 0;
};

struct socket_floor_result {
  double frames_per_s = 0;
  double cpu_per_million = -1;  // CPU seconds of the reader threads per million frames
  double passes_per_s = 0;
  long frames_total = 0;  // read and written to Redis, warm-up included (the stream `socketfloor` holds them)
  std::string error;  // empty when measured
  // The readers took (nearly) every frame sent: below 90 % of the rate, the sender or the readers fell behind.
  bool kept_up(int rate) const { return error.empty() && frames_per_s >= 0.9 * rate; }
};

// Shaped like a G node with these [node] settings: io_threads 0 is one per core, io_batch_us -1 G's default.
socket_floor_options shaped_like_g(int io_threads, int io_batch_us);

socket_floor_result measure_socket_floor(const socket_floor_options& o);

}  // namespace g::bench
