// Stop-signal collection for the tools.
#include "tools/stop_signal.h"

#include <signal.h>
#include <time.h>

#include <atomic>

#include "tools/net_util.h"

namespace mtp::tools {
namespace {

std::atomic<bool> g_stop{false};

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void InstallStopSignals() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

// Waits for a stop signal until `deadline_ms` (< 0: forever). Returns the signal, 0 otherwise.
int WaitSignalUntil(int64_t deadline_ms) {
  sigset_t set = StopSet();
  while (!g_stop.load(std::memory_order_relaxed)) {
    // Short slices so RequestStop() from another thread is noticed promptly.
    int64_t slice_ms = 100;
    if (deadline_ms >= 0) {
      int64_t left = deadline_ms - MonotonicMillis();
      if (left <= 0) return 0;
      if (left < slice_ms) slice_ms = left;
    }
    timespec ts{static_cast<time_t>(slice_ms / 1000), static_cast<long>(slice_ms % 1000) * 1000000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) {
      g_stop.store(true);
      return sig;
    }
  }
  return 0;
}

}  // namespace

bool SleepUnlessStopped(double seconds) {
  if (g_stop.load(std::memory_order_relaxed)) return false;
  WaitSignalUntil(MonotonicMillis() + static_cast<int64_t>(seconds * 1000));
  return !g_stop.load(std::memory_order_relaxed);
}

int WaitForStop(double max_seconds) {
  const int64_t deadline_ms =
      max_seconds > 0 ? MonotonicMillis() + static_cast<int64_t>(max_seconds * 1000) : -1;
  int sig = WaitSignalUntil(deadline_ms);
  g_stop.store(true);
  return sig;
}

void RequestStop() { g_stop.store(true); }
bool StopRequested() { return g_stop.load(std::memory_order_relaxed); }

}  // namespace mtp::tools
