// ChildProcess implementation (posix_spawn + pipe).
#include "tests/tools/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/net_util.h"

extern char** environ;

namespace mtp::tools {

std::string ToolPath(std::string_view name) {
  const char* root = std::getenv("MTP_BUILD_ROOT");
  return absl::StrCat(root != nullptr ? root : ".", "/tools/", std::string(name));
}

absl::StatusOr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", std::strerror(rc)));
  }
  return ChildProcess(pid, pipe_fds[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), out_fd_(other.out_fd_), out_(std::move(other.out_)),
      consumed_(other.consumed_), eof_(other.eof_) {
  other.pid_ = -1;
  other.out_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool ChildProcess::ReadMore(int64_t deadline_ms) {
  if (eof_) return false;
  if (!WaitReadable(out_fd_, deadline_ms)) return false;
  char buf[4096];
  ssize_t n = ::read(out_fd_, buf, sizeof(buf));
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  out_.append(buf, static_cast<size_t>(n));
  return true;
}

absl::StatusOr<std::string> ChildProcess::ReadLineWithPrefix(std::string_view prefix,
                                                             int timeout_ms) {
  const int64_t deadline = MonotonicMillis() + timeout_ms;
  for (;;) {
    size_t nl;
    while ((nl = out_.find('\n', consumed_)) != std::string::npos) {
      std::string line = out_.substr(consumed_, nl - consumed_);
      consumed_ = nl + 1;
      if (line.compare(0, prefix.size(), prefix) == 0) return line;
    }
    if (!ReadMore(deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line starting with '", std::string(prefix), "'; output so far: ",
                       out_));
    }
  }
}

absl::StatusOr<int> ChildProcess::ReadListeningPort(int timeout_ms) {
  absl::StatusOr<std::string> line = ReadLineWithPrefix("listening ", timeout_ms);
  if (!line.ok()) return line.status();
  int port = 0;
  if (!absl::SimpleAtoi(line->substr(line->rfind(':') + 1), &port)) {
    return absl::InternalError(absl::StrCat("bad listening line: ", *line));
  }
  return port;
}

const std::string& ChildProcess::ReadToEnd(int timeout_ms) {
  const int64_t deadline = MonotonicMillis() + timeout_ms;
  while (ReadMore(deadline)) {
  }
  return out_;
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

absl::StatusOr<int> ChildProcess::Wait(int timeout_ms) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no child");
  const int64_t deadline = MonotonicMillis() + timeout_ms;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (MonotonicMillis() >= deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      pid_ = -1;
      return absl::DeadlineExceededError("child did not exit in time (killed)");
    }
    // Drain stdout meanwhile so a chatty child never blocks on a full pipe.
    if (!ReadMore(MonotonicMillis() + 10)) usleep(10'000);
  }
}

}  // namespace mtp::tools
