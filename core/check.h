// Assertion tiers. Invariants are asserted in pairs (before and after a change) and come in
// three kinds, named here so a reader knows what a failing check costs:
//   MTP_ASSERT(cond)              debug builds only: pure logic of one function, free to check.
//   MTP_VERIFY(cond, what)        always on: accounting, in-flight counts, state transitions
//                                 that protect production. Release builds count the violation
//                                 and log it (rate-limited) instead of aborting: an abort would
//                                 take every client of the process down. Debug builds abort.
//   (never)                       conditions about the outside world (peer bytes, config, errno,
//                                 limits): those are handled errors, not assertions.
// MTP_VERIFY evaluates to the condition, so callers can skip the step that would corrupt state:
//   if (!MTP_VERIFY(leg.inflight > 0, "inflight underflow")) return;
//
// Thread ownership: the violation counter is a process-wide relaxed atomic; safe anywhere.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>

namespace mtp {

// Invariant violations seen by MTP_VERIFY since start (exported in /metrics).
uint64_t InvariantViolations();
// Counts, logs (at most one line per second per process) and, in debug builds, aborts.
void ReportInvariantViolation(const char* what, const char* file, int line);

}  // namespace mtp

#define MTP_ASSERT(cond) assert(cond)
#define MTP_VERIFY(cond, what)                                            \
  ((cond) ? true : (::mtp::ReportInvariantViolation((what), __FILE__, __LINE__), false))
