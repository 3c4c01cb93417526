// Start-up process set-up: fd limit, nice, daemonize, privilege drop.
#include "control/privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"

namespace mtp {
namespace {

std::string Errno(int err) { return std::strerror(err); }

uint64_t FromRlim(rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(v); }
rlim_t ToRlim(uint64_t v) { return v == UINT64_MAX ? RLIM_INFINITY : static_cast<rlim_t>(v); }

}  // namespace

std::optional<UserIds> LookupUser(const std::string& name) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw{};
  passwd* result = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return std::nullopt;
  }
  return UserIds{name, pw.pw_uid, pw.pw_gid};
}

absl::StatusOr<std::optional<UserIds>> ChooseDropUser(const std::optional<std::string>& user,
                                                      bool is_root, const UserLookup& lookup,
                                                      std::string* warning) {
  if (!is_root) return std::optional<UserIds>();
  if (user) {
    std::optional<UserIds> ids = lookup(*user);
    if (!ids) {
      return absl::NotFoundError(absl::StrFormat("fatal: cannot change user to %s", *user));
    }
    return ids;
  }
  if (std::optional<UserIds> ids = lookup(kDefaultProxyUser)) return ids;
  if (std::optional<UserIds> ids = lookup(kFallbackProxyUser)) {
    if (warning != nullptr) {
      *warning = absl::StrFormat(
          "running as root without -u and user '%s' does not exist: dropping privileges to '%s' "
          "(pass -u to choose)",
          kDefaultProxyUser, kFallbackProxyUser);
    }
    return ids;
  }
  return absl::NotFoundError(absl::StrFormat(
      "fatal: cannot change user to %s (neither '%s' nor '%s' exists; pass -u <user>)",
      kDefaultProxyUser, kDefaultProxyUser, kFallbackProxyUser));
}

absl::Status DropPrivileges(const UserIds& user) {
  gid_t groups[1] = {user.gid};
  if (setgroups(1, groups) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("fatal: cannot change user to %s: setgroups: %s", user.name, Errno(errno)));
  }
  if (setgid(user.gid) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("fatal: cannot change user to %s: setgid: %s", user.name, Errno(errno)));
  }
  if (setuid(user.uid) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("fatal: cannot change user to %s: setuid: %s", user.name, Errno(errno)));
  }
  // A uid that can become root again was not really dropped (e.g. a saved set-user-id).
  if (user.uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
    return absl::PermissionDeniedError(
        absl::StrFormat("fatal: privileges of %s could be regained after the drop", user.name));
  }
  return absl::OkStatus();
}

FdLimitPlan ApplyFdLimit(int max_connections, int max_special_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    limit.rlim_cur = limit.rlim_max = 1024;
  }
  bool can_raise_hard = geteuid() == 0;
  FdLimitPlan plan = PlanFdLimit(max_connections, max_special_connections,
                                 FromRlim(limit.rlim_cur), FromRlim(limit.rlim_max),
                                 can_raise_hard);
  auto apply = [&](const FdLimitPlan& p) {
    if (!p.new_soft_limit && !p.new_hard_limit) return true;
    rlimit next = limit;
    if (p.new_soft_limit) next.rlim_cur = ToRlim(*p.new_soft_limit);
    if (p.new_hard_limit) next.rlim_max = ToRlim(*p.new_hard_limit);
    return setrlimit(RLIMIT_NOFILE, &next) == 0;
  };
  if (apply(plan)) return plan;
  if (plan.new_hard_limit) {
    // Root in a container without CAP_SYS_RESOURCE: live within the hard limit instead.
    plan = PlanFdLimit(max_connections, max_special_connections, FromRlim(limit.rlim_cur),
                       FromRlim(limit.rlim_max), /*can_raise_hard=*/false);
    if (apply(plan)) return plan;
  }
  // The soft limit could not be raised at all: serve what the current soft limit allows.
  plan = PlanFdLimit(max_connections, max_special_connections, FromRlim(limit.rlim_cur),
                     FromRlim(limit.rlim_cur), /*can_raise_hard=*/false);
  plan.new_soft_limit.reset();
  plan.new_hard_limit.reset();
  return plan;
}

absl::Status ApplyNice(int increment) {
  errno = 0;
  if (nice(increment) == -1 && errno != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("cannot change niceness by %d: %s", increment, Errno(errno)));
  }
  return absl::OkStatus();
}

absl::Status RedirectOutputToLog(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InternalError(absl::StrFormat("cannot open log file %s: %s", path, Errno(errno)));
  }
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
  return absl::OkStatus();
}

absl::Status Daemonize(const std::optional<std::string>& log_file) {
  (void)setsid();  // fails only for a process group leader, which is harmless here
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    return absl::InternalError(absl::StrFormat("cannot open /dev/null: %s", Errno(errno)));
  }
  int out_fd = null_fd;
  if (log_file) {
    out_fd = open(log_file->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (out_fd < 0) {
      int err = errno;
      close(null_fd);
      return absl::InternalError(
          absl::StrFormat("cannot open log file %s: %s", *log_file, Errno(err)));
    }
  }
  dup2(null_fd, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(out_fd, STDERR_FILENO);
  if (out_fd != null_fd) close(out_fd);
  close(null_fd);
  return absl::OkStatus();
}

}  // namespace mtp
