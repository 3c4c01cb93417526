// SimClock: the shard's time in the simulator. Only the simulator moves it (small steps and
// forward jumps); the monotonic clock never goes back, and the wall clock moves with it.
//
// Thread ownership: one simulator run.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/clock.h"

namespace mtp::sim {

class SimClock final : public Clock {
 public:
  static constexpr double kStartMonotonicS = 1000.0;
  static constexpr int64_t kStartUnixS = 1'700'000'000;

  double MonotonicSeconds() const override { return now_s_; }
  int64_t UnixSeconds() const override {
    return kStartUnixS + static_cast<int64_t>(std::floor(now_s_ - kStartMonotonicS));
  }
  // Moves time forward by `seconds` (negative values are ignored: time never goes back).
  void Advance(double seconds) {
    if (seconds > 0) now_s_ += seconds;
  }

 private:
  double now_s_ = kStartMonotonicS;
};

}  // namespace mtp::sim
