// /ready evaluation.
#include "control/readiness.h"

#include "absl/strings/str_format.h"

namespace mtp {

Readiness EvaluateReadiness(const StatsSnapshot& s, bool draining) {
  const StatsSnapshot::Extended::Serving& v = s.extended.serving;
  if (draining) return {false, "draining: listeners closed"};
  if (v.listeners == 0) return {false, "no client listener open"};
  if (v.middle_end && v.shards_without_ready_me > 0) {
    return {false, absl::StrFormat("%d of %d shards have no ready middle-end connection",
                                   v.shards_without_ready_me, s.extended.shards)};
  }
  return {true, v.middle_end ? "serving (middle-end)" : "serving (direct)"};
}

}  // namespace mtp
