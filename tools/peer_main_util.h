// Start-up and shut-down steps the test peers' mains share (mtp-fake-me, mtp-fake-dc): a
// listener on every --listen address with its "listening HOST:PORT" line, and the final
// summary JSON line. Main thread, once each.
#pragma once

#include <string>
#include <vector>

#include "tools/net_util.h"

namespace mtp::tools {

// Listens on every "host:port" of `specs` and prints "listening HOST:PORT" for each (tests read
// the chosen port from it), then flushes stdout. kExitOk, or the exit code after a message
// naming `program` on stderr: kExitUsage for an address that does not parse, kExitFailure when
// listening fails.
int ListenOnAll(const char* program, const std::vector<std::string>& specs,
                std::vector<Listener>* listeners);

// Writes `summary` as one line to `stats_file`, or to stdout when it is empty. kExitOk, or
// kExitFailure (with a message) when the file cannot be written.
int WriteSummary(const char* program, const std::string& summary, const std::string& stats_file);

}  // namespace mtp::tools
