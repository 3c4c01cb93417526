// ME routing table: clusters and shared targets.
#include "dataplane/me/me_routing.h"

namespace mtp {

void MeRouting::Add(int32_t dc_id, const SocketAddress& address, uint32_t min_connections,
                    uint32_t max_connections) {
  uint32_t target = 0;
  while (target < targets_.size() && !(targets_[target].address == address)) ++target;
  if (target == targets_.size()) {
    targets_.push_back(MeTargetSpec{address, min_connections, max_connections});
  }
  MeClusterSpec* cluster = nullptr;
  for (MeClusterSpec& c : clusters_) {
    if (c.dc_id == dc_id) cluster = &c;
  }
  if (cluster == nullptr) {
    clusters_.push_back(MeClusterSpec{dc_id, {}});
    cluster = &clusters_.back();
  }
  for (uint32_t t : cluster->targets) {
    if (t == target) return;
  }
  cluster->targets.push_back(target);
}

const MeClusterSpec* MeRouting::ClusterFor(int32_t dc_id) const {
  const MeClusterSpec* fallback = nullptr;
  for (const MeClusterSpec& c : clusters_) {
    if (c.dc_id == dc_id) return &c;
    if (c.dc_id == default_dc_) fallback = &c;
  }
  return fallback;
}

}  // namespace mtp
