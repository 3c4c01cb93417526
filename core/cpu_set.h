// CPU lists for shard placement: parsing "--cpu-list 0-3,6", reading the process affinity
// mask, choosing one CPU per shard, and pinning the calling thread.
//
// Thread ownership: stateless functions; PinCurrentThread affects only the caller.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mtp {

// Largest CPU number accepted in a list (CPU_SETSIZE - 1).
inline constexpr int kMaxCpu = 1023;

// "0-3,6" -> {0,1,2,3,6}: comma-separated numbers and inclusive ranges, sorted, duplicates
// removed; whitespace around items is allowed. Empty lists, reversed ranges, junk and CPUs
// above kMaxCpu are errors.
absl::StatusOr<std::vector<int>> ParseCpuList(std::string_view text);

// {0,1,2,3,6} -> "0-3,6".
std::string FormatCpuList(const std::vector<int>& cpus);

// CPUs this process may run on (sched_getaffinity), ascending.
absl::StatusOr<std::vector<int>> ProcessAffinityCpus();

// Picks a CPU for each of `shard_count` shards from `allowed` (ascending). With more shards
// than CPUs, CPUs are reused round-robin (the caller logs that this oversubscribes).
// `requested`, if non-empty (--cpu-list), must be a subset of `allowed`.
absl::StatusOr<std::vector<int>> PickShardCpus(int shard_count, const std::vector<int>& allowed,
                                               const std::vector<int>& requested = {});

// Pins the calling thread to `cpu`.
absl::Status PinCurrentThread(int cpu);

}  // namespace mtp
