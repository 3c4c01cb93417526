// Control-plane e2e helpers.
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

namespace mtp::e2e {

SharedDir::SharedDir() {
  char dir[] = "/tmp/mtp-control-e2e-XXXXXX";
  if (mkdtemp(dir) != nullptr) {
    path_ = dir;
    chmod(dir, 0777);
  }
}

SharedDir::~SharedDir() {
  if (!path_.empty()) {
    int unused = system(("rm -rf '" + path_ + "'").c_str());
    (void)unused;
  }
}

std::string SharedDir::Write(const std::string& name, const std::string& content) const {
  std::string path = Path(name);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  chmod(tmp.c_str(), 0644);
  std::rename(tmp.c_str(), path.c_str());
  return path;
}

std::string SharedDir::Read(const std::string& name) const { return ReadFile(Path(name)); }

std::optional<uint16_t> StatsPort(ProxyProcess& proxy) {
  // The stats line follows "listening on port" (which is all ProxyProcess::Start waits for), so
  // a slow start (sanitizers, a loaded box) may not have printed it yet: wait for it.
  if (!WaitFor([&] { return proxy.LogContains("stats port "); }, 10000)) return std::nullopt;
  std::string log = proxy.Log();
  size_t at = log.find("stats port ");
  if (at == std::string::npos) return std::nullopt;
  return static_cast<uint16_t>(atoi(log.c_str() + at + 11));
}

std::string HttpGet(uint16_t port, const std::string& path, bool ipv6, const char* from) {
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  if (from != nullptr && !ipv6) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, from, &local.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      close(fd);
      return {};
    }
  }
  int rc;
  if (ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  if (rc != 0) {
    close(fd);
    return {};
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return {};
  }
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

std::string HttpBody(const std::string& response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

std::optional<std::string> StatsField(const std::string& body, const std::string& key) {
  std::string needle = "\n" + key + "\t";
  size_t at = body.rfind(needle);  // the proxy block comes last
  if (at == std::string::npos) {
    if (body.compare(0, key.size() + 1, key + "\t") != 0) return std::nullopt;
    at = 0;
    needle = key + "\t";
  }
  size_t start = at + needle.size();
  size_t end = body.find('\n', start);
  return body.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::optional<int64_t> StatsInt(const std::string& body, const std::string& key) {
  std::optional<std::string> v = StatsField(body, key);
  if (!v || v->empty()) return std::nullopt;
  return strtoll(v->c_str(), nullptr, 10);
}

std::optional<double> MetricValue(const std::string& body, const std::string& series) {
  std::string needle = "\n" + series + " ";
  size_t at = body.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return strtod(body.c_str() + at + needle.size(), nullptr);
}

RunResult RunProxyToExit(const std::vector<std::string>& args, int timeout_ms) {
  RunResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  std::vector<std::string> argv_strings = {ProxyBinaryPath()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return result;
}

}  // namespace mtp::e2e
