// The standard Prometheus process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds) read from /proc/self and getrlimit.
//
// Control thread (read when /metrics is rendered); the parsers are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mtp {

struct ProcessMetrics {
  double cpu_seconds = 0;  // user + system
  int64_t resident_bytes = 0;
  int64_t virtual_bytes = 0;
  int64_t open_fds = 0;
  int64_t max_fds = 0;            // the soft RLIMIT_NOFILE (-1: unlimited)
  double start_time_seconds = 0;  // unix time
};

// /proc/self/stat: utime and stime (fields 14, 15) and starttime (field 22, clock ticks after
// boot), vsize (23, bytes), rss (24, pages). The command name (field 2) may hold spaces and
// parentheses: fields are counted from the last ')'. nullopt when the text is too short.
struct ProcStat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};
std::optional<ProcStat> ParseProcStat(std::string_view text);

// "btime N" from /proc/stat (boot time, unix seconds); nullopt without it.
std::optional<int64_t> ParseBootTime(std::string_view proc_stat);

// Reads everything above for this process; nullopt when /proc is not readable.
std::optional<ProcessMetrics> ReadProcessMetrics();

}  // namespace mtp
