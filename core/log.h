// Process-wide logger: one line per write(2), "[pid][local time] L message", verbosity levels
// as in the reference (-v): 0 always, 1 per connection, 2 per packet, 3+ dumps.
// Thread-safe: any thread may log; the log fd is swapped atomically on reopen (SIGUSR1).
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_format.h"

namespace mtp {

enum class LogSeverity { kInfo, kWarning, kError };

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
