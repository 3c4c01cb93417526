// The middle-end routing table a shard uses: ME targets (address + pool bounds) and clusters
// (DC id -> targets, plus the default cluster). Built once by the control thread from the
// parsed proxy-multi.conf and shared read-only by every shard.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/socket_address.h"

namespace mtp {

struct MeTargetSpec {
  SocketAddress address;
  uint32_t min_connections = 4;
  uint32_t max_connections = 8;
};

struct MeClusterSpec {
  int32_t dc_id = 0;
  std::vector<uint32_t> targets;  // indices into MeRouting::targets
};

class MeRouting {
 public:
  // Adds `address` to cluster `dc_id` (created on first use); the same address in several
  // clusters shares one target (and so one pool), like the reference's create_target.
  void Add(int32_t dc_id, const SocketAddress& address, uint32_t min_connections,
           uint32_t max_connections);
  // The cluster used for DC ids without their own; ignored if no cluster has this id.
  void SetDefault(int32_t dc_id) { default_dc_ = dc_id; }

  // Exact match on the signed DC id, else the default cluster, else nullptr (drop).
  const MeClusterSpec* ClusterFor(int32_t dc_id) const;

  const std::vector<MeTargetSpec>& targets() const { return targets_; }
  const std::vector<MeClusterSpec>& clusters() const { return clusters_; }
  bool empty() const { return targets_.empty(); }

 private:
  std::vector<MeTargetSpec> targets_;
  std::vector<MeClusterSpec> clusters_;
  int32_t default_dc_ = 0;
};

}  // namespace mtp
