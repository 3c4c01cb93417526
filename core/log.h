// Process-wide logger: one line per write(2), "[pid][local time] L message" (or, with
// --log-format json, one JSON object per line: time in UTC, pid, level, msg), verbosity levels
// as in the reference (-v): 0 always, 1 per connection, 2 per connection close detail and
// packets, 3+ dumps.
// Thread-safe: any thread may log; the log fd is swapped atomically on reopen (SIGUSR1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"

namespace mtp {

enum class LogSeverity { kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

// Text (default) or JSON lines: {"time":"2026-01-02T03:04:05.123456Z","pid":1,"level":"info",
// "msg":"..."}. Set once at start-up, before other threads log.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// One log line without its newline (exposed for tests).
std::string FormatLogLine(LogFormat format, LogSeverity severity, int pid, int64_t unix_us,
                          std::string_view message);

void SetLogVerbosity(int verbosity);
int LogVerbosity();

// Redirects output to `path` (append, mode 0640); empty path = stderr. Returns false and keeps
// the old destination if the file cannot be opened.
bool SetLogFile(const std::string& path);
// Re-opens the file given to SetLogFile (log rotation); no-op for stderr.
bool ReopenLogFile();

void WriteLogLine(LogSeverity severity, std::string_view message);

// Test hook (the simulator): while set, every line goes to `sink` instead of the log fd.
// Set it before the threads that log start, and reset it (nullptr) after they stop.
using LogSink = void (*)(LogSeverity severity, std::string_view message);
void SetLogSinkForTesting(LogSink sink);

}  // namespace mtp

// MTP_LOG(level, fmt, args...) logs at verbosity `level` (0 = always) with severity INFO.
#define MTP_LOG(level, ...)                                                        \
  do {                                                                             \
    if ((level) <= ::mtp::LogVerbosity())                                          \
      ::mtp::WriteLogLine(::mtp::LogSeverity::kInfo, absl::StrFormat(__VA_ARGS__)); \
  } while (0)
#define MTP_WARN(...) \
  ::mtp::WriteLogLine(::mtp::LogSeverity::kWarning, absl::StrFormat(__VA_ARGS__))
#define MTP_ERROR(...) \
  ::mtp::WriteLogLine(::mtp::LogSeverity::kError, absl::StrFormat(__VA_ARGS__))
