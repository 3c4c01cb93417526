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
std::atomic<LogFormat> g_format{LogFormat::kText};
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

void SetLogFormat(LogFormat format) { g_format.store(format, std::memory_order_relaxed); }
LogFormat GetLogFormat() { return g_format.load(std::memory_order_relaxed); }

std::string FormatLogLine(LogFormat format, LogSeverity severity, int pid, int64_t unix_us,
                          std::string_view message) {
  const time_t seconds = static_cast<time_t>(unix_us / 1000000);
  const long micros = static_cast<long>(unix_us % 1000000);
  struct tm tm;
  char prefix[128];
  std::string line;
  if (format == LogFormat::kText) {
    localtime_r(&seconds, &tm);
    int n = snprintf(prefix, sizeof(prefix), "[%d][%04d-%02d-%02d %02d:%02d:%02d.%06ld local] %c ",
                     pid, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, micros, SeverityLetter(severity));
    line.reserve(static_cast<size_t>(n) + message.size());
    line.append(prefix, static_cast<size_t>(n));
    line.append(message);
    return line;
  }
  gmtime_r(&seconds, &tm);
  const char* level = severity == LogSeverity::kInfo      ? "info"
                      : severity == LogSeverity::kWarning ? "warning"
                                                          : "error";
  int n = snprintf(prefix, sizeof(prefix),
                   "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"pid\":%d,\"level\":\"%s\","
                   "\"msg\":\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   micros, pid, level);
  line.reserve(static_cast<size_t>(n) + message.size() + 8);
  line.append(prefix, static_cast<size_t>(n));
  for (char ch : message) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      line.push_back('\\');
      line.push_back(ch);
    } else if (c == '\n') {
      line.append("\\n");
    } else if (c == '\t') {
      line.append("\\t");
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      line.append(esc);
    } else {
      line.push_back(ch);  // UTF-8 passes through; other bytes are the message's own
    }
  }
  line.append("\"}");
  return line;
}

void WriteLogLine(LogSeverity severity, std::string_view message) {
  if (LogSink sink = g_sink.load(std::memory_order_acquire); sink != nullptr) {
    sink(severity, message);
    return;
  }
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  std::string line =
      FormatLogLine(g_format.load(std::memory_order_relaxed), severity, static_cast<int>(getpid()),
                    int64_t{tv.tv_sec} * 1000000 + tv.tv_usec, message);
  line.push_back('\n');
  ssize_t unused = ::write(g_fd.load(std::memory_order_relaxed), line.data(), line.size());
  (void)unused;
}

}  // namespace mtp
