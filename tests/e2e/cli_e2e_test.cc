// The command-line features an operator uses before serving, through the real binary:
// --version (the commit baked in at build time), strict validation of values, secrets and links.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/e2e/control_e2e_util.h"

namespace mtp {
namespace {

using e2e::RunProxyToExit;

// Runs `command` through the shell; its stdout with the trailing newline removed, or nullopt if
// it failed.
std::optional<std::string> Shell(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return std::nullopt;
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  if (pclose(f) != 0) return std::nullopt;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string SourceRoot() {
  const char* root = std::getenv("MTP_SOURCE_ROOT");
  return root != nullptr ? root : ".";
}

TEST(CliE2eTest, VersionNamesTheCommitItWasBuiltFrom) {
  e2e::RunResult r = RunProxyToExit({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string first = r.output.substr(0, r.output.find('\n'));
  const std::string prefix = absl::StrCat("mtproto-proxy ", MTP_VERSION, " (commit ");
  ASSERT_EQ(first.rfind(prefix, 0), 0u) << r.output;
  const std::string commit = first.substr(prefix.size(), first.size() - prefix.size() - 1);
  EXPECT_EQ(first.back(), ')');
  EXPECT_NE(r.output.find("\nbuild type "), std::string::npos) << r.output;

  const std::string git = absl::StrCat("git -C '", SourceRoot(), "' ");
  std::optional<std::string> head = Shell(git + "rev-parse HEAD 2>/dev/null");
  std::optional<std::string> top = Shell(git + "rev-parse --show-toplevel 2>/dev/null");
  std::optional<std::string> root = Shell(absl::StrCat("cd '", SourceRoot(), "' && pwd -P"));
  if (!head || !top || !root || *top != *root) {
    // A tarball build: nothing to compare with.
    EXPECT_EQ(commit, "unknown") << r.output;
    return;
  }
  std::optional<std::string> changes = Shell(git + "status --porcelain --untracked-files=no");
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(commit, changes->empty() ? *head : *head + "-dirty") << r.output;
}

}  // namespace
}  // namespace mtp
