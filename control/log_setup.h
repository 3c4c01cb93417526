// The -l log file around the privilege drop: it is opened at start-up as the launching user
// (with or without -d), then handed to the user the process drops to, so that SIGUSR1 (which
// reopens it as that user) works after logrotate's `create` mode copies the old file's owner.
//
// Control thread, at start-up and on SIGUSR1.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"

namespace mtp {

// chown(path, uid, gid) when the file is owned by root (the start-up open created it, or root
// pre-created it); a file owned by someone else is left alone. Ok when there is nothing to do.
absl::Status HandLogFileTo(const std::string& path, uid_t uid, gid_t gid);

// Why a reopen as the current user failed, and what to do: names the file's owner and mode and
// the directory's, plus the logrotate line that works ("create 0640 USER GROUP").
std::string LogReopenHint(const std::string& path);

}  // namespace mtp
