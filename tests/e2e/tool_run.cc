// Spawning and running tool binaries for the e2e suites.
#include "tests/e2e/tool_run.h"

namespace mtp::e2e {

absl::StatusOr<ListeningTool> SpawnListening(std::string_view name,
                                             const std::vector<std::string>& args,
                                             int timeout_ms) {
  std::vector<std::string> argv = {tools::ToolPath(name)};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<tools::ChildProcess> child = tools::ChildProcess::Spawn(argv);
  if (!child.ok()) return child.status();
  ListeningTool tool;
  tool.process = std::make_unique<tools::ChildProcess>(std::move(*child));
  absl::StatusOr<int> port = tool.process->ReadListeningPort(timeout_ms);
  if (!port.ok()) return port.status();
  tool.port = static_cast<uint16_t>(*port);
  return tool;
}

std::vector<std::string> ClientArgv(uint16_t port, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {tools::ToolPath("mtp-client"), "--server",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

int RunTool(const std::vector<std::string>& argv, int wait_ms, std::string* out) {
  absl::StatusOr<tools::ChildProcess> child = tools::ChildProcess::Spawn(argv);
  if (!child.ok()) return -1;
  absl::StatusOr<int> rc = child->Wait(wait_ms);
  if (out != nullptr) *out = child->ReadToEnd(1000);
  return rc.ok() ? *rc : -1;
}

}  // namespace mtp::e2e
