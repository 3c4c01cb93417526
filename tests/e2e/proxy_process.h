// Runs the real mtproto-proxy binary for end-to-end tests: fork/exec with its stderr captured
// by a reader thread, the listening port parsed from its log, SIGTERM on Stop(), and SIGKILL +
// waitpid in the destructor so no process outlives its test.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mtp::e2e {

// $MTP_BUILD_ROOT/control/mtproto-proxy
std::string ProxyBinaryPath();
// A file in a fresh temporary directory with `content`; returns its path.
std::string WriteTempFile(const std::string& name, const std::string& content);

class ProxyProcess {
 public:
  // Starts the binary with `args` (argv[0] is added) and waits for its "listening on port"
  // line. nullptr if it did not start within the timeout (its log is printed).
  // `open_files` > 0: the child's RLIMIT_NOFILE (soft and hard) before exec.
  static std::unique_ptr<ProxyProcess> Start(const std::vector<std::string>& args,
                                             int timeout_ms = 10000, int open_files = 0);
  ~ProxyProcess();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Log();
  bool LogContains(const std::string& text);
  // SIGTERM and wait; returns the exit code (128 + signal if killed), -1 on timeout.
  int Stop(int timeout_ms = 10000);
  // Sends `sig` to the proxy.
  void Signal(int sig);
  // Waits for the proxy to exit; returns the exit code (128 + signal if killed), -1 on timeout.
  int Wait(int timeout_ms);

 private:
  ProxyProcess() = default;
  void ReadLoop();

  pid_t pid_ = -1;
  int err_fd_ = -1;
  uint16_t port_ = 0;
  std::thread reader_;
  std::mutex mu_;
  std::string log_;
  std::atomic<bool> exited_{false};
  int exit_code_ = -1;
};

}  // namespace mtp::e2e
