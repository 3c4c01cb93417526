// Child-process wrapper for the real proxy binary.
#include "tests/e2e/proxy_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace mtp::e2e {

std::string ProxyBinaryPath() {
  const char* root = getenv("MTP_BUILD_ROOT");
  return std::string(root != nullptr ? root : ".") + "/control/mtproto-proxy";
}

namespace {

// The directories WriteTempFile made, removed (with what the proxy wrote there) when the
// test binary exits, so repeated runs do not fill /tmp.
class TempFileDirs {
 public:
  ~TempFileDirs() {
    for (const std::string& dir : dirs_) {
      int unused = system(("rm -rf '" + dir + "'").c_str());
      (void)unused;
    }
  }
  void Add(std::string dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(std::move(dir));
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

TempFileDirs& CreatedDirs() {
  static TempFileDirs dirs;
  return dirs;
}

}  // namespace

std::string WriteTempFile(const std::string& name, const std::string& content) {
  char dir[] = "/tmp/mtp-e2e-XXXXXX";
  if (mkdtemp(dir) == nullptr) return {};
  CreatedDirs().Add(dir);
  std::string path = std::string(dir) + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path;
}

std::unique_ptr<ProxyProcess> ProxyProcess::Start(const std::vector<std::string>& args,
                                                  int timeout_ms, int open_files) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return nullptr;
  std::vector<std::string> argv_strings = {ProxyBinaryPath()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    dup2(pipe_fds[1], STDOUT_FILENO);
    if (open_files > 0) {
      const rlimit limit{static_cast<rlim_t>(open_files), static_cast<rlim_t>(open_files)};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::unique_ptr<ProxyProcess> p(new ProxyProcess());
  p->pid_ = pid;
  p->err_fd_ = pipe_fds[0];
  p->reader_ = std::thread([raw = p.get()] { raw->ReadLoop(); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(p->mu_);
      size_t at = p->log_.find("listening on port ");
      if (at != std::string::npos) {
        p->port_ = static_cast<uint16_t>(atoi(p->log_.c_str() + at + 18));
        return p;
      }
    }
    if (p->exited_.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  fprintf(stderr, "proxy did not start; its log:\n%s\n", p->Log().c_str());
  return nullptr;
}

void ProxyProcess::ReadLoop() {
  char buf[4096];
  for (;;) {
    ssize_t n = read(err_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    log_.append(buf, static_cast<size_t>(n));
  }
  exited_.store(true);
}

std::string ProxyProcess::Log() {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

bool ProxyProcess::LogContains(const std::string& text) {
  return Log().find(text) != std::string::npos;
}

int ProxyProcess::Stop(int timeout_ms) {
  if (pid_ < 0) return exit_code_;
  kill(pid_, SIGTERM);
  return Wait(timeout_ms);
}

void ProxyProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int ProxyProcess::Wait(int timeout_ms) {
  if (pid_ < 0) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      // The child's last lines may still be in the pipe: the reader thread reaches EOF on
      // its own schedule, and a test that reads the log right after Wait must see them.
      const auto eof_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!exited_.load() && std::chrono::steady_clock::now() < eof_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

ProxyProcess::~ProxyProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (err_fd_ >= 0) close(err_fd_);
}

}  // namespace mtp::e2e
