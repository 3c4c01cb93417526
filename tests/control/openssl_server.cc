// OpenSslServer: openssl req + s_server child processes.
#include "tests/control/openssl_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace mtp::testing {
namespace {

pid_t SpawnQuiet(const std::vector<std::string>& argv, const std::string& working_dir = "") {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!working_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, working_dir.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

bool CanConnect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string OpenSslBinary() {
  for (const char* path : {"/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  close(fd);
  return ntohs(sin.sin_port);
}

int RunQuietly(const std::vector<std::string>& argv, int timeout_ms) {
  const pid_t pid = SpawnQuiet(argv);
  if (pid < 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::unique_ptr<OpenSslServer> OpenSslServer::Start(const Options& options) {
  const std::string openssl = OpenSslBinary();
  if (openssl.empty()) {
    std::fprintf(stderr, "openssl binary not found\n");
    return nullptr;
  }
  std::unique_ptr<OpenSslServer> server(new OpenSslServer());
  char dir_template[] = "/tmp/mtp-openssl-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return nullptr;
  server->dir_ = dir_template;
  server->cert_path_ = server->dir_ + "/cert.pem";
  const std::string key_path = server->dir_ + "/key.pem";
  const int rc = RunQuietly({openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                             "ec_paramgen_curve:prime256v1", "-keyout", key_path, "-out",
                             server->cert_path_, "-days", "2", "-nodes", "-subj",
                             "/CN=" + options.common_name, "-addext",
                             "subjectAltName=DNS:" + options.common_name},
                            20000);
  if (rc != 0) {
    std::fprintf(stderr, "openssl req failed (%d)\n", rc);
    return nullptr;
  }
  for (int attempt = 0; attempt < 3 && server->pid_ < 0; ++attempt) {
    const uint16_t port = PickFreePort();
    std::vector<std::string> argv = {openssl, "s_server", "-accept",
                                     absl::StrCat("127.0.0.1:", port), "-cert",
                                     server->cert_path_, "-key", key_path, "-quiet"};
    if (options.tls13_only) argv.push_back("-tls1_3");
    if (!options.ciphersuites.empty()) {
      argv.push_back("-ciphersuites");
      argv.push_back(options.ciphersuites);
    }
    if (options.www) argv.push_back("-www");
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    const pid_t pid = SpawnQuiet(argv, options.working_dir);
    if (pid < 0) break;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool up = false;
    while (!up && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) break;  // died (port taken?): retry
      up = CanConnect(port);
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (up) {
      server->pid_ = pid;
      server->port_ = port;
    } else {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  if (server->pid_ < 0) {
    std::fprintf(stderr, "openssl s_server did not start\n");
    return nullptr;
  }
  return server;
}

OpenSslServer::~OpenSslServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    unlink((dir_ + "/cert.pem").c_str());
    unlink((dir_ + "/key.pem").c_str());
    rmdir(dir_.c_str());
  }
}

}  // namespace mtp::testing
