// Process set-up around the privileged start: the open-file limit for -c, --nice, -d
// (daemonize), and the -u privilege drop done after every socket is bound.
//
// Control thread, at start-up only (before or while the shard threads start: glibc applies
// setuid/setgid to every thread of the process).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/cli.h"

namespace mtp {

// The reference's default -u when started as root.
inline constexpr char kDefaultProxyUser[] = "mtproxy";
// Ours: used as root when -u is absent and kDefaultProxyUser does not exist (the reference
// exits with "cannot change user to mtproxy" instead).
inline constexpr char kFallbackProxyUser[] = "nobody";

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// getpwnam_r; nullopt if the user does not exist (or the lookup failed).
std::optional<UserIds> LookupUser(const std::string& name);
using UserLookup = std::function<std::optional<UserIds>(const std::string&)>;

// Who to become after binding (config-and-cli.md §7):
//   * not root (neither real nor effective uid 0): nobody, -u is ignored (as in the reference);
//   * root with -u NAME: NAME; unknown -> error "cannot change user to NAME" (exit 1);
//   * root without -u: "mtproxy" if it exists, else "nobody" with a `warning`, else an error
//     asking for -u (we never keep running as root by accident).
absl::StatusOr<std::optional<UserIds>> ChooseDropUser(const std::optional<std::string>& user,
                                                      bool is_root, const UserLookup& lookup,
                                                      std::string* warning);

// setgroups({gid}), setgid(gid), setuid(uid), then checks that uid 0 cannot be regained.
absl::Status DropPrivileges(const UserIds& user);

// getrlimit(RLIMIT_NOFILE) + PlanFdLimit + setrlimit (retrying without raising the hard limit
// if that is refused). The returned plan holds the effective -c / -C and a warning when -c had
// to be lowered.
FdLimitPlan ApplyFdLimit(int max_connections, int max_special_connections);

// nice(n). Errors are reported (EPERM when lowering niceness without privileges).
absl::Status ApplyNice(int increment);

// The -l log on SIGUSR1, as the reference does it: stdout and stderr (where the log is
// written) are pointed at `path` (append, created 0640). A renamed file is thus replaced by a
// new one (log rotation).
absl::Status RedirectOutputToLog(const std::string& path);

// -d as the reference does it: no fork; setsid(), stdin -> /dev/null, stdout and stderr -> the
// -l file (append, 0640) or /dev/null.
absl::Status Daemonize(const std::optional<std::string>& log_file);

}  // namespace mtp
