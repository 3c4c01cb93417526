// Process stop handling for the tools: SIGTERM/SIGINT/SIGHUP are blocked in every thread and
// collected by the main thread (sigtimedwait), which also enforces --max-seconds. Worker
// threads poll StopRequested() at their IO timeouts. SIGPIPE is ignored.
#pragma once

namespace mtp::tools {

// Call first in main(), before any thread is created (threads inherit the signal mask).
void InstallStopSignals();

// Main thread: blocks until a stop signal arrives, RequestStop() is called, or `max_seconds`
// (> 0) elapse. Returns the signal number, or 0 for a timeout / RequestStop.
int WaitForStop(double max_seconds);

// Main thread: sleeps `seconds` unless a stop signal arrives first (then returns false and
// StopRequested() becomes true). Unlike WaitForStop, the timeout does not request a stop.
bool SleepUnlessStopped(double seconds);

void RequestStop();
bool StopRequested();

}  // namespace mtp::tools
