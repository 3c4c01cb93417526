// Reads another process's CPU time and memory from /proc (loadgen's --proxy-pid report).
// Cold path; any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace mtp::tools {

struct ProcessSample {
  double cpu_seconds = 0;  // utime + stime of the process (all its threads)
  int64_t rss_kb = 0;      // VmRSS
  int64_t hwm_kb = 0;      // VmHWM (peak RSS)
  int64_t threads = 0;
};

absl::StatusOr<ProcessSample> SampleProcess(pid_t pid);

// Parsers, separated for tests. `stat` is the content of /proc/PID/stat, `status` of
// /proc/PID/status; `ticks_per_second` = sysconf(_SC_CLK_TCK).
absl::StatusOr<double> ParseProcStatCpuSeconds(std::string_view stat, long ticks_per_second);
absl::StatusOr<ProcessSample> ParseProcStatus(std::string_view status);

}  // namespace mtp::tools
