// `mtproto-proxy --check`: validates a configuration without serving, one line per check
// ("ok   <check>: <detail>", "warn ...", "FAIL ..."); the exit code is 0 only when no check
// failed. Checks: the command line, the config and the files it names, that the -u user can
// read what SIGHUP re-reads, that the ports can be bound, the fd limit against -c, io_uring,
// the clock, the fronting domains (resolve + TLS probe), the middle-ends or DCs (TCP connect).
//
// Runs on the main thread before anything serves; blocks (bounded by short timeouts).
#pragma once

#include <string>
#include <vector>

#include "control/cli.h"

namespace mtp {

enum class CheckStatus : uint8_t { kOk, kWarn, kFail };

struct CheckLine {
  CheckStatus status = CheckStatus::kOk;
  std::string name;    // "config", "ports", ...
  std::string detail;
};

// "ok   name: detail" / "warn name: detail" / "FAIL name: detail".
std::string FormatCheckLine(const CheckLine& line);

// The clock is sane when its year is 2024..2099 (fake-TLS timestamps and TLS certificates
// need a correct wall clock).
CheckLine CheckClock(int64_t unix_seconds);

// Runs every check for `cli`; `connect_timeout_ms` bounds each upstream connect.
std::vector<CheckLine> RunChecks(const ParsedCommandLine& cli, int connect_timeout_ms = 2000);

// --check: prints the lines to `out`, returns 0 if none failed, else 1.
int RunCheckCommand(const ParsedCommandLine& cli, std::string* out);

}  // namespace mtp
