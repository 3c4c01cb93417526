// /ready: whether the process is serving, from the facts in a StatsSnapshot and the drain flag.
// Serving = client listeners open (not draining) and an upstream path ready: in middle-end mode
// every shard has at least one ready ME target (a shard without one drops its clients' frames);
// in direct mode, always once listening (DCs are dialled per client).
//
// Pure function; the control thread calls it for every /ready request.
#pragma once

#include <string>

#include "control/stats_render.h"

namespace mtp {

struct Readiness {
  bool ready = false;
  std::string reason;  // one line, no newline: "serving" or why not
};

Readiness EvaluateReadiness(const StatsSnapshot& snapshot, bool draining);

}  // namespace mtp
