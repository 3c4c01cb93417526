// Logger implementation: formats the prefix, writes each line with a single write(2).
#include "core/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace mtp {
namespace {

std::atomic<int> g_verbosity{0};
std::atomic<int> g_fd{STDERR_FILENO};
std::mutex g_path_mu;  // cold path only: SetLogFile / ReopenLogFile
std::string g_path;
std::atomic<LogSink> g_sink{nullptr};

char SeverityLetter(LogSeverity s) {
  switch (s) {
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
  }
  return '?';
}

bool OpenInto(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  int old = g_fd.exchange(fd);
  // The old fd may still be used by a concurrent writer for one line; closing it then only
  // loses that line (write returns EBADF), which is acceptable for log rotation.
  if (old != STDERR_FILENO) ::close(old);
  return true;
}

}  // namespace

void SetLogVerbosity(int verbosity) { g_verbosity.store(verbosity, std::memory_order_relaxed); }
int LogVerbosity() { return g_verbosity.load(std::memory_order_relaxed); }

bool SetLogFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_path_mu);
  if (path.empty()) {
    int old = g_fd.exchange(STDERR_FILENO);
    if (old != STDERR_FILENO) ::close(old);
    g_path.clear();
    return true;
  }
  if (!OpenInto(path)) return false;
  g_path = path;
  return true;
}

bool ReopenLogFile() {
  std::lock_guard<std::mutex> lock(g_path_mu);
  if (g_path.empty()) return true;
  return OpenInto(g_path);
}

void SetLogSinkForTesting(LogSink sink) { g_sink.store(sink, std::memory_order_release); }

void WriteLogLine(LogSeverity severity, std::string_view message) {
  if (LogSink sink = g_sink.load(std::memory_order_acquire); sink != nullptr) {
    sink(severity, message);
    return;
  }
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char prefix[96];
  int n = snprintf(prefix, sizeof(prefix), "[%d][%04d-%02d-%02d %02d:%02d:%02d.%06ld local] %c ",
                   static_cast<int>(getpid()), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(tv.tv_usec),
                   SeverityLetter(severity));
  std::string line;
  line.reserve(static_cast<size_t>(n) + message.size() + 1);
  line.append(prefix, static_cast<size_t>(n));
  line.append(message);
  line.push_back('\n');
  ssize_t unused = ::write(g_fd.load(std::memory_order_relaxed), line.data(), line.size());
  (void)unused;
}

}  // namespace mtp
