// EventLog implementation.
#include "tools/event_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace mtp::tools {

EventLog::~EventLog() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status EventLog::Open(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void EventLog::Write(JsonLine line) {
  if (fd_ < 0) return;
  timeval tv;
  gettimeofday(&tv, nullptr);
  line.AddFixed("ts", static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6, 6);
  std::string text = line.str();
  text.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace mtp::tools
