// Runs the project's tool binaries (mtp-client, mtp-fake-me, mtp-fake-dc) from end-to-end
// tests: a peer left listening on a free loopback port, a client run to its end. Test thread
// only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/tools/child_process.h"

namespace mtp::e2e {

// A tool that printed "listening HOST:PORT"; killed when `process` dies.
struct ListeningTool {
  std::unique_ptr<tools::ChildProcess> process;
  uint16_t port = 0;
};
// Spawns tool `name` with `args` and reads the port it listens on.
absl::StatusOr<ListeningTool> SpawnListening(std::string_view name,
                                             const std::vector<std::string>& args,
                                             int timeout_ms = 5000);

// mtp-client's argv: --server 127.0.0.1:port, then `flags`.
std::vector<std::string> ClientArgv(uint16_t port, const std::vector<std::string>& flags);
// Runs `argv` to its end: its exit code (-1 if it did not start or end within wait_ms) and, in
// *out, what it printed on stdout.
int RunTool(const std::vector<std::string>& argv, int wait_ms, std::string* out = nullptr);

}  // namespace mtp::e2e
