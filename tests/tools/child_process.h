// Test helper: spawns a tool binary with a piped stdout, reads its lines with timeouts, and
// guarantees the child is gone when the object dies (SIGKILL + waitpid). Test thread only.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mtp::tools {

// $MTP_BUILD_ROOT/tools/<name> (the build dir is set by tests/meson.build).
std::string ToolPath(std::string_view name);

class ChildProcess {
 public:
  // argv[0] is the executable path. stderr is inherited (shows in the test log).
  static absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // Next stdout line that starts with `prefix` (earlier lines are kept in output()).
  absl::StatusOr<std::string> ReadLineWithPrefix(std::string_view prefix, int timeout_ms);
  // For a tool that printed "listening HOST:PORT": the port.
  absl::StatusOr<int> ReadListeningPort(int timeout_ms);
  // Reads stdout until EOF or the timeout; returns everything read so far.
  const std::string& ReadToEnd(int timeout_ms);
  const std::string& output() const { return out_; }

  void Signal(int sig);
  // Exit code (128 + signal for a signalled child), or DeadlineExceeded (then the child is
  // killed).
  absl::StatusOr<int> Wait(int timeout_ms);

 private:
  ChildProcess(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}
  bool ReadMore(int64_t deadline_ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  size_t consumed_ = 0;  // bytes of out_ already returned as lines
  bool eof_ = false;
};

}  // namespace mtp::tools
