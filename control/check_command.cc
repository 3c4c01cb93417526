// --check: the individual checks.
#include "control/check_command.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "control/domain_probe.h"
#include "control/fake_tls_runtime.h"
#include "control/privileges.h"
#include "control/proxy_config.h"
#include "control/runtime_config.h"
#include "core/socket_address.h"
#include "core/uring_engine.h"
#include "dataplane/dc_table.h"

namespace mtp {
namespace {

CheckLine Line(CheckStatus status, std::string name, std::string detail) {
  return CheckLine{status, std::move(name), std::move(detail)};
}

// Binds (and releases) one TCP port; an error text, or empty.
std::string TryBind(const SocketAddress& address) {
  const int fd = socket(address.sockaddr_ptr()->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::StrCat("socket: ", std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  std::string error;
  if (bind(fd, address.sockaddr_ptr(), address.length()) != 0) {
    error = errno == EACCES ? "permission denied (ports below 1024 need root or "
                              "CAP_NET_BIND_SERVICE)"
                            : std::strerror(errno);
  }
  close(fd);
  return error;
}

// A TCP connect with a deadline; empty on success, else why not.
std::string TryConnect(const SocketAddress& address, int timeout_ms) {
  const int fd =
      socket(address.sockaddr_ptr()->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::StrCat("socket: ", std::strerror(errno));
  std::string error;
  if (connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    if (errno != EINPROGRESS) {
      error = std::strerror(errno);
    } else {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, timeout_ms) <= 0) {
        error = "timed out";
      } else {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) error = std::strerror(soerr);
      }
    }
  }
  close(fd);
  return error;
}

void CheckPorts(const ParsedCommandLine& cli, std::vector<CheckLine>& out) {
  std::vector<std::string> bound, failed;
  for (uint16_t port : cli.client_ports) {
    if (port == 0) continue;  // any free port: nothing to check
    SocketAddress any = cli.ipv6 ? SocketAddress::FromIpv6({}, port)
                                 : SocketAddress::FromIpv4(cli.bind_ipv4.value_or(0), port);
    std::string error = TryBind(any);
    if (error.empty()) {
      bound.push_back(absl::StrCat(port));
    } else {
      failed.push_back(absl::StrFormat("client port %d: %s", port, error));
    }
  }
  if (cli.http_stats && cli.stats_port && cli.stats_port->first != 0 && !cli.stats_bind) {
    std::string error = TryBind(SocketAddress::FromIpv4(0x7f000001, cli.stats_port->first));
    if (error.empty()) {
      bound.push_back(absl::StrFormat("stats %d", cli.stats_port->first));
    } else {
      failed.push_back(absl::StrFormat("stats port %d: %s", cli.stats_port->first, error));
    }
  }
  for (const std::string& f : failed) out.push_back(Line(CheckStatus::kFail, "ports", f));
  if (failed.empty()) {
    out.push_back(Line(CheckStatus::kOk, "ports",
                       bound.empty() ? "nothing fixed to bind (port 0 or none)"
                                     : absl::StrCat("can bind ", absl::StrJoin(bound, ", "))));
  }
}

void CheckFdLimit(const ParsedCommandLine& cli, std::vector<CheckLine>& out) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const bool root = geteuid() == 0;
  // Root may raise the hard limit, but not above fs.nr_open.
  uint64_t nr_open = 1 << 20;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1) nr_open = v;
    std::fclose(f);
  }
  const uint64_t hard = root ? std::max<uint64_t>(limit.rlim_max, nr_open) : limit.rlim_max;
  FdLimitPlan plan = PlanFdLimit(cli.max_connections, cli.max_special_connections,
                                 limit.rlim_cur, hard, false);
  const std::string limits = absl::StrFormat("soft %d, hard %d%s", limit.rlim_cur,
                                             limit.rlim_max,
                                             root ? absl::StrFormat(", fs.nr_open %d", nr_open)
                                                  : std::string());
  if (!plan.warning.empty()) {
    out.push_back(Line(CheckStatus::kWarn, "fd limit", absl::StrCat(plan.warning, " (", limits,
                                                                    "; raise LimitNOFILE)")));
  } else {
    out.push_back(Line(CheckStatus::kOk, "fd limit",
                       absl::StrFormat("-c %d fits (%s%s)", plan.max_connections, limits,
                                       plan.new_soft_limit ? ", raised at start-up" : "")));
  }
}

void CheckIoUring(const ParsedCommandLine& cli, std::vector<CheckLine>& out) {
  absl::StatusOr<UringProbeResult> probe = ProbeIoUring();
  if (probe.ok()) {
    out.push_back(Line(CheckStatus::kOk, "io_uring", absl::StrCat("available (", probe->description,
                                                                  ")")));
    return;
  }
  // Without io_uring the epoll backend serves, unless --io-backend io_uring was asked for.
  out.push_back(Line(cli.io_backend == IoBackend::kIoUring ? CheckStatus::kFail : CheckStatus::kWarn,
                     "io_uring",
                     absl::StrCat("not available: ", probe.status().message(),
                                  cli.io_backend == IoBackend::kIoUring
                                      ? " (--io-backend io_uring cannot start)"
                                      : "; the epoll backend will serve")));
}

// The files SIGHUP re-reads, as the user the proxy runs as after the privilege drop.
void CheckUserCanRead(const ParsedCommandLine& cli, std::vector<CheckLine>& out) {
  std::vector<std::string> files;
  if (!cli.direct && !cli.config_file.empty()) files.push_back(cli.config_file);
  if (!cli.direct && (cli.aes_pwd_explicit() || access(cli.AesPwdPath().c_str(), F_OK) == 0)) {
    files.push_back(cli.AesPwdPath());
  }
  if (cli.secret_file) files.push_back(*cli.secret_file);
  if (cli.config_toml) files.push_back(*cli.config_toml);
  if (cli.log_file) {
    // SIGUSR1 reopens it (created if missing): its directory must be writable then.
  }
  const bool root = getuid() == 0 || geteuid() == 0;
  std::string warning;
  absl::StatusOr<std::optional<UserIds>> user = ChooseDropUser(cli.user, root, LookupUser,
                                                                &warning);
  if (!user.ok()) {
    out.push_back(Line(CheckStatus::kFail, "user", std::string(user.status().message())));
    return;
  }
  const std::string who = *user ? absl::StrFormat("user %s", (*user)->name) : "this user";
  if (files.empty()) {
    out.push_back(Line(CheckStatus::kOk, "user", absl::StrCat(who, ": no file is re-read on SIGHUP")));
    return;
  }
  // A child drops to the user and opens every file; the parent keeps its privileges.
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    out.push_back(Line(CheckStatus::kWarn, "user", "cannot check (pipe)"));
    return;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string report;
    if (*user && !DropPrivileges(**user).ok()) report = "cannot switch to the user\n";
    for (const std::string& f : files) {
      const int fd = open(f.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        absl::StrAppend(&report, f, ": ", std::strerror(errno), "\n");
      } else {
        close(fd);
      }
    }
    (void)!write(pipe_fds[1], report.data(), report.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) report.append(buf, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  if (pid < 0) {
    out.push_back(Line(CheckStatus::kWarn, "user", "cannot check (fork)"));
  } else if (report.empty()) {
    out.push_back(Line(CheckStatus::kOk, "user",
                       absl::StrCat(who, " can read what SIGHUP re-reads: ",
                                    absl::StrJoin(files, ", "))));
  } else {
    while (!report.empty() && report.back() == '\n') report.pop_back();
    std::replace(report.begin(), report.end(), '\n', ';');
    out.push_back(Line(CheckStatus::kFail, "user",
                       absl::StrCat(who, " cannot read what SIGHUP re-reads: ", report)));
  }
}

void CheckDomains(const ParsedCommandLine& cli, std::vector<CheckLine>& out) {
  if (cli.domains.empty()) return;
  FakeTlsOptions options = FakeTlsOptionsFrom(cli);
  SystemHostResolver resolver;
  for (const std::string& domain : cli.domains) {
    DomainSpec spec{domain, std::nullopt, 443};
    for (const DomainSpec& t : options.targets) {
      if (t.name == domain) spec = t;
    }
    std::optional<SocketAddress> address = ResolveDomainFront(spec, resolver);
    if (!address) {
      out.push_back(Line(CheckStatus::kFail, "domain " + domain,
                         absl::StrCat("cannot resolve ",
                                      spec.host.value_or(spec.ProbeName()))));
      continue;
    }
    DomainProbeOptions probe;
    probe.connections = 2;
    probe.deadline_ms = 5000;
    DomainProbeOutcome outcome = ProbeTlsServer(*address, spec.ProbeName(), probe);
    if (outcome.ok) {
      out.push_back(Line(CheckStatus::kOk, "domain " + domain,
                         absl::StrCat(address->ToString(), " answers TLS 1.3")));
    } else {
      out.push_back(Line(CheckStatus::kFail, "domain " + domain,
                         absl::StrCat(address->ToString(), ": ", outcome.error)));
    }
  }
}

void CheckUpstream(const ParsedCommandLine& cli, const ConfigSnapshot* snapshot,
                   int timeout_ms, std::vector<CheckLine>& out) {
  std::vector<std::pair<std::string, SocketAddress>> peers;  // label, address
  if (cli.direct) {
    DcTable table = DcTable::Production();
    for (const DcOverride& o : cli.dc_overrides) {
      std::string host = o.host.find(':') != std::string::npos ? absl::StrCat("[", o.host, "]")
                                                               : o.host;
      if (absl::Status st = table.AddOverride(absl::StrCat(o.dc_id, ":", host, ":", o.port));
          !st.ok()) {
        out.push_back(Line(CheckStatus::kFail, "DCs", std::string(st.message())));
        return;
      }
    }
    for (int32_t dc : {1, 2, 3, 4, 5}) {
      if (std::optional<SocketAddress> a = table.Lookup(dc, cli.ipv6)) {
        peers.emplace_back(absl::StrCat("DC ", dc), *a);
      }
    }
  } else {
    if (snapshot == nullptr || !snapshot->proxy_config) return;  // the config check failed
    for (const MeTarget& t : snapshot->proxy_config->targets) {
      absl::StatusOr<SocketAddress> a = SocketAddress::FromIp(t.address.ToString(), t.port);
      if (a.ok()) peers.emplace_back(t.ToString(), *a);
    }
  }
  const std::string what = cli.direct ? "DCs" : "middle-ends";
  std::vector<std::string> failed;
  for (const auto& [label, address] : peers) {
    std::string error = TryConnect(address, timeout_ms);
    if (!error.empty()) failed.push_back(absl::StrCat(label, " (", address.ToString(), "): ", error));
  }
  if (peers.empty()) {
    out.push_back(Line(CheckStatus::kFail, what, "none configured"));
  } else if (failed.size() == peers.size()) {
    out.push_back(Line(CheckStatus::kFail, what,
                       absl::StrCat("none of ", peers.size(), " reachable: ",
                                    absl::StrJoin(failed, "; "))));
  } else if (!failed.empty()) {
    out.push_back(Line(CheckStatus::kWarn, what,
                       absl::StrCat(peers.size() - failed.size(), " of ", peers.size(),
                                    " reachable; ", absl::StrJoin(failed, "; "))));
  } else {
    out.push_back(Line(CheckStatus::kOk, what,
                       absl::StrCat("all ", peers.size(), " reachable (TCP connect)")));
  }
}

}  // namespace

std::string FormatCheckLine(const CheckLine& line) {
  const char* tag = line.status == CheckStatus::kOk     ? "ok  "
                    : line.status == CheckStatus::kWarn ? "warn"
                                                        : "FAIL";
  return absl::StrCat(tag, " ", line.name, ": ", line.detail, "\n");
}

CheckLine CheckClock(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  const int year = utc.tm_year + 1900;
  char text[32];
  strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc);
  if (year < 2024 || year > 2099) {
    return Line(CheckStatus::kFail, "clock",
                absl::StrCat(text, " is not a plausible date: fake-TLS and TLS certificates "
                                   "need the right time (NTP?)"));
  }
  return Line(CheckStatus::kOk, "clock", text);
}

std::vector<CheckLine> RunChecks(const ParsedCommandLine& cli, int connect_timeout_ms) {
  std::vector<CheckLine> out;
  if (std::optional<CommandLineError> e = ValidateForServing(cli)) {
    out.push_back(Line(CheckStatus::kFail, "command line", e->message.substr(0, e->message.find('\n'))));
  } else {
    out.push_back(Line(CheckStatus::kOk, "command line",
                       cli.config_toml ? absl::StrCat("with ", *cli.config_toml) : "valid"));
  }
  SystemHostResolver resolver;
  std::vector<std::string> warnings = ServingWarnings(cli);
  auto snapshot = LoadConfigSnapshot(cli, resolver, nullptr, static_cast<int64_t>(time(nullptr)),
                                     &warnings);
  if (snapshot.ok()) {
    const ConfigSnapshot& s = **snapshot;
    std::string detail =
        s.proxy_config ? absl::StrFormat("%s: %d clusters, %d middle-ends", cli.config_file,
                                         s.auth_clusters(), s.proxy_config->targets.size())
                       : std::string("direct mode (no proxy-multi.conf)");
    absl::StrAppend(&detail, "; ", s.secrets.size(), " client secret(s)");
    if (s.proxy_secret) absl::StrAppend(&detail, "; proxy secret ", cli.AesPwdPath());
    out.push_back(Line(CheckStatus::kOk, "config", detail));
  } else {
    out.push_back(Line(CheckStatus::kFail, "config", std::string(snapshot.status().message())));
  }
  for (const std::string& w : warnings) out.push_back(Line(CheckStatus::kWarn, "config", w));
  CheckUserCanRead(cli, out);
  CheckPorts(cli, out);
  CheckFdLimit(cli, out);
  CheckIoUring(cli, out);
  out.push_back(CheckClock(static_cast<int64_t>(time(nullptr))));
  CheckDomains(cli, out);
  CheckUpstream(cli, snapshot.ok() ? snapshot->get() : nullptr, connect_timeout_ms, out);
  return out;
}

int RunCheckCommand(const ParsedCommandLine& cli, std::string* out) {
  bool failed = false;
  for (const CheckLine& line : RunChecks(cli)) {
    absl::StrAppend(out, FormatCheckLine(line));
    failed |= line.status == CheckStatus::kFail;
  }
  absl::StrAppend(out, failed ? "check failed\n" : "check passed\n");
  return failed ? 1 : 0;
}

}  // namespace mtp
