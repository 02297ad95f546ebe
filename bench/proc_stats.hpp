#pragma once
// What a process costs, from /proc: CPU seconds (user + system, all threads) and resident memory.
#include <sys/types.h>

#include <cstdint>

namespace g::bench {

double cpu_seconds(pid_t pid);   // -1 when the process is gone
std::int64_t rss_kib(pid_t pid);  // -1 when the process is gone

}  // namespace g::bench
