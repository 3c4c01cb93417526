// The --allow-list and --block-list files: loaded into one immutable IpAccessLists value
// (proto/ip_access.h) at start-up and again on SIGHUP. A reload whose files do not load keeps
// the running lists; the error names the file and the line.
//
// Control thread only: IpListStore is not synchronised. What it hands out
// (shared_ptr<const IpAccessLists>) is immutable and may be passed to any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/ip_access.h"

namespace mtp {

// A list file larger than this is refused (a runaway file, not a list).
inline constexpr size_t kMaxIpListFileBytes = 64u << 20;

struct IpListPaths {
  std::string allow_file;  // --allow-list; empty = no allow list
  std::string block_file;  // --block-list; empty = no block list
  bool any() const { return !allow_file.empty() || !block_file.empty(); }
};

// Reads and parses both files (proto/cidr_set.h syntax). Errors (the status code says what
// kind: NotFound, PermissionDenied, InvalidArgument, ResourceExhausted) read
// "allow list <path>: <what>" or "block list <path>:<line>: <what>". An allow list without a
// single entry is refused: it would refuse every client, which is never what an operator
// meant by an empty or all-comment file. `generation` is stored in the result.
absl::StatusOr<std::shared_ptr<const IpAccessLists>> LoadIpLists(const IpListPaths& paths,
                                                                 uint64_t generation);

class IpListStore {
 public:
  explicit IpListStore(IpListPaths paths) : paths_(std::move(paths)) {}

  // Start-up load and every SIGHUP: on success current() is the new lists (generation + 1);
  // on failure current() stays what it was and the error is returned (and counted).
  absl::Status Load();

  // Null before the first successful Load().
  std::shared_ptr<const IpAccessLists> current() const { return current_; }
  const IpListPaths& paths() const { return paths_; }
  uint64_t failed_loads() const { return failed_loads_; }

 private:
  IpListPaths paths_;
  std::shared_ptr<const IpAccessLists> current_;
  uint64_t failed_loads_ = 0;
};

}  // namespace mtp
