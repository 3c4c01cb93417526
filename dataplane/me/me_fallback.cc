// MePool, ME-to-direct fallback (--direct-fallback-after): when every middle-end of a DC's
// cluster has been unreachable for the configured time, that DC's new clients connect to the
// DC directly (DirectUpstream); once one of its middle-ends is ready again, new clients use
// the middle-ends again. Clients already connected keep the path they got. The decision is
// this shard's: each shard has its own links, so it knows what it can reach.
#include <algorithm>

#include "core/log.h"
#include "dataplane/me/me_pool.h"

namespace mtp {

bool MePool::FallsBackToDc(int32_t dc_id) const {
  if (fallback_dcs_.empty()) return false;
  const MeClusterSpec* cluster = ctx_.live->routing.ClusterFor(dc_id);
  if (cluster == nullptr) return false;
  return std::find(fallback_dcs_.begin(), fallback_dcs_.end(), cluster->dc_id) !=
         fallback_dcs_.end();
}

void MePool::UpdateFallback() {
  if (ctx_.config.direct_fallback_after_ms == 0) return;
  const double after_s = ctx_.config.direct_fallback_after_ms / 1000.0;
  for (const MeClusterSpec& cluster : ctx_.live->routing.clusters()) {
    // Down long enough: no target of the cluster has a ready link, and each has been
    // failing (NoteMeTargetFailure) for at least `after_s`. A target still making its first
    // attempt is not down yet.
    bool down = !cluster.targets.empty();
    double down_for_s = 1e18;
    for (uint32_t t : cluster.targets) {
      const TargetState& ts = targets_[t];
      if (ts.ready > 0 || !ts.down || ctx_.now_s - ts.down_since_s < after_s) {
        down = false;
        break;
      }
      down_for_s = std::min(down_for_s, ctx_.now_s - ts.down_since_s);
    }
    auto it = std::find(fallback_dcs_.begin(), fallback_dcs_.end(), cluster.dc_id);
    const bool on = it != fallback_dcs_.end();
    if (down && !on) {
      fallback_dcs_.push_back(cluster.dc_id);
      ctx_.counters.direct_fallback_on.Add();
      MTP_WARN(
          "shard %u: DC %d: every middle-end unreachable for %.0f s or more; its new clients "
          "connect to the DC directly until one is ready (--direct-fallback-after)",
          ctx_.index, cluster.dc_id, down_for_s);
    } else if (!down && on) {
      fallback_dcs_.erase(it);
      ctx_.counters.direct_fallback_off.Add();
      MTP_WARN("shard %u: DC %d: a middle-end is ready again; its new clients use the "
               "middle-ends",
               ctx_.index, cluster.dc_id);
    }
  }
  // A reload may have removed a cluster that was falling back: forget it quietly.
  std::erase_if(fallback_dcs_, [&](int32_t dc) {
    const auto& clusters = ctx_.live->routing.clusters();
    return std::none_of(clusters.begin(), clusters.end(),
                        [&](const MeClusterSpec& c) { return c.dc_id == dc; });
  });
}

}  // namespace mtp
