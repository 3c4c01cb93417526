// Safe defaults at start-up: the connection cap derived from memory when -c is not given
// (MemAvailable and the cgroup's memory.max, counting kernel socket buffers per connection).
// The open-file limit for the cap is PlanFdLimit/ApplyFdLimit (control/cli.h, privileges.h).
//
// Pure arithmetic plus two small /proc and /sys readers; main thread, at start-up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtp {

// What one client connection costs, stated so operators can redo the sum:
//   * kernel: the client socket and (direct mode) its DC socket, each with receive and send
//     buffers at a typical fill of the default tcp_rmem/tcp_wmem (2 x 2 x 16 KiB), plus the
//     socket and skb structures (8 KiB);
//   * proxy: the session, its queue and its share of the 16 KiB buffers in flight (48 KiB).
inline constexpr uint64_t kKernelBytesPerConnection = 2 * 2 * 16384 + 8192;
inline constexpr uint64_t kProxyBytesPerConnection = 48 * 1024;
inline constexpr uint64_t kBytesPerConnection =
    kKernelBytesPerConnection + kProxyBytesPerConnection;  // 120 KiB
// Connections get at most this share of the memory (the rest: page cache, the buffer pool of
// --msg-buffers-size is subtracted first, bursts).
inline constexpr uint64_t kConnectionMemoryPercent = 50;
// The derived cap never goes below this (a tiny container still serves a household).
inline constexpr int kMinDerivedConnections = 256;

struct MemoryFacts {
  std::optional<uint64_t> mem_available;  // /proc/meminfo MemAvailable, bytes
  std::optional<uint64_t> cgroup_limit;   // cgroup v2 memory.max (nullopt: "max" or none)
  std::optional<uint64_t> cgroup_usage;   // memory.current
};

// "MemAvailable:   123456 kB" -> bytes.
std::optional<uint64_t> ParseMemAvailable(std::string_view meminfo);
// memory.max / memory.current content: a number, or "max" (nullopt).
std::optional<uint64_t> ParseCgroupBytes(std::string_view text);
// Reads /proc/meminfo and the process's cgroup v2 files (/proc/self/cgroup -> /sys/fs/cgroup/...).
MemoryFacts ReadMemoryFacts();

struct ConnectionCap {
  int max_connections = 0;  // the cap to use (<= `ceiling`)
  uint64_t budget_bytes = 0;  // memory the cap was computed from
  std::string explanation;  // one log line
};
// The cap when -c is not given: (the smaller of MemAvailable and the cgroup room, minus the
// buffer pool) x kConnectionMemoryPercent / kBytesPerConnection, at least
// kMinDerivedConnections, at most `ceiling` (the -c default). Without any memory figure: the
// ceiling.
ConnectionCap DeriveConnectionCap(const MemoryFacts& facts, uint64_t buffer_pool_bytes,
                                  int ceiling);

}  // namespace mtp
