// MTP_VERIFY's slow path: count, rate-limited log, abort in debug builds.
#include "core/check.h"

#include <cstdlib>
#include <ctime>

#include "core/log.h"

namespace mtp {
namespace {

std::atomic<uint64_t> g_violations{0};
std::atomic<int64_t> g_last_log_s{0};

}  // namespace

uint64_t InvariantViolations() { return g_violations.load(std::memory_order_relaxed); }

void ReportInvariantViolation(const char* what, const char* file, int line) {
  uint64_t n = g_violations.fetch_add(1, std::memory_order_relaxed) + 1;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t last = g_last_log_s.load(std::memory_order_relaxed);
  if (ts.tv_sec != last &&
      g_last_log_s.compare_exchange_strong(last, ts.tv_sec, std::memory_order_relaxed)) {
    MTP_ERROR("invariant violated: %s (%s:%d); %llu violation(s) so far", what, file, line,
              static_cast<unsigned long long>(n));
  }
#ifndef NDEBUG
  std::abort();
#endif
}

}  // namespace mtp
