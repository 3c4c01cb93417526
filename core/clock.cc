// SystemClock: clock_gettime(CLOCK_MONOTONIC) and time(2).
#include "core/clock.h"

#include <ctime>

namespace mtp {
namespace {

class RealClock final : public Clock {
 public:
  double MonotonicSeconds() const override {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  int64_t UnixSeconds() const override { return static_cast<int64_t>(time(nullptr)); }
};

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace mtp
