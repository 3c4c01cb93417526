// -l ownership across the privilege drop and reopen diagnostics.
#include "control/log_setup.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace mtp {
namespace {

std::string UserName(uid_t uid) {
  passwd pw;
  passwd* found = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) return pw.pw_name;
  return absl::StrFormat("%d", uid);
}

std::string GroupName(gid_t gid) {
  group gr;
  group* found = nullptr;
  char buf[1024];
  if (getgrgid_r(gid, &gr, buf, sizeof(buf), &found) == 0 && found != nullptr) return gr.gr_name;
  return absl::StrFormat("%d", gid);
}

std::string Describe(const char* what, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::StrFormat("%s %s is missing", what, path);
  return absl::StrFormat("%s %s is %s:%s %04o", what, path, UserName(st.st_uid),
                         GroupName(st.st_gid), st.st_mode & 07777);
}

}  // namespace

absl::Status HandLogFileTo(const std::string& path, uid_t uid, gid_t gid) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::OkStatus();  // not created (yet)
  if (st.st_uid != 0 || uid == 0) return absl::OkStatus();
  if (chown(path.c_str(), uid, gid) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("cannot hand the log file %s to uid %d: %s (SIGUSR1 may fail to reopen it)",
                        path, uid, strerror(errno)));
  }
  return absl::OkStatus();
}

std::string LogReopenHint(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string me = UserName(geteuid());
  const std::string my_group = GroupName(getegid());
  return absl::StrFormat(
      "running as %s: %s, %s; the new file must be writable by %s (logrotate: \"create 0640 %s "
      "%s\"), or the directory writable to create it",
      me, Describe("file", path), Describe("directory", dir), me, me, my_group);
}

}  // namespace mtp
