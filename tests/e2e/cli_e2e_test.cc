// The command-line features an operator uses before serving, through the real binary:
// --version (the commit baked in at build time), strict validation of values, secrets and links.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "control/links.h"
#include "crypto/secret.h"
#include "tests/control/openssl_server.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/tool_run.h"

namespace mtp {
namespace {

using e2e::ProxyProcess;
using e2e::RunProxyToExit;
using e2e::SharedDir;

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";
// "example.com" in hex, for the ee form.
constexpr char kExampleComHex[] = "6578616d706c652e636f6d";

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

TEST(CliE2eTest, GenerateSecretInTheEeFormForADomain) {
  e2e::RunResult r = RunProxyToExit({"--generate-secret", "ee", "--domain", "example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(r.output.size(), 2 + 32 + 22 + 1u) << r.output;
  EXPECT_EQ(r.output.substr(0, 2), "ee");
  EXPECT_EQ(r.output.substr(34), std::string(kExampleComHex) + "\n");
  absl::StatusOr<LinkSecret> parsed = ParseLinkSecret(r.output.substr(0, r.output.size() - 1));
  ASSERT_TRUE(parsed.ok()) << r.output;
  EXPECT_EQ(parsed->domain, "example.com");
  e2e::RunResult again = RunProxyToExit({"--generate-secret=ee", "-D", "example.com"});
  EXPECT_NE(again.output, r.output);  // a fresh key each time
  r = RunProxyToExit({"--generate-secret", "dd"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.substr(0, 2), "dd");
  EXPECT_EQ(r.output.size(), 35u);
  r = RunProxyToExit({"--generate-secret", "ee"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("add -D <domain>"), std::string::npos) << r.output;
}

TEST(CliE2eTest, LinkPrintsLinksAndQrCodes) {
  SharedDir dir;
  const std::string secrets = dir.Write("secrets", std::string(kSecretHex) + "\n");
  e2e::RunResult r = RunProxyToExit({"--link", "-H", "8443", "--mtproto-secret-file", secrets,
                                     "--public-host", "proxy.example.org"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string query =
      std::string("proxy?server=proxy.example.org&port=8443&secret=dd") + kSecretHex;
  EXPECT_NE(r.output.find("tg://" + query), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("https://t.me/" + query), std::string::npos) << r.output;
  // The QR code: rows of block characters, all of one width.
  int rows = 0;
  size_t width = 0;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(r.output, '\n'))) {
    if (line.rfind("\u2588\u2588", 0) != 0) continue;
    ++rows;
    const size_t glyphs = std::count_if(line.begin(), line.end(),
                                        [](char c) { return (c & 0xc0) != 0x80; });
    if (width == 0) width = glyphs;
    EXPECT_EQ(glyphs, width);
  }
  EXPECT_GE(rows, 12) << r.output;

  // Without --public-host: this host's address by the documented rule (SERVER_IP only when
  // there is none).
  r = RunProxyToExit({"--link", "-H", "8443", "-S", kSecretHex});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::optional<PublicAddress> mine = ChoosePublicAddress(ListInterfaceAddresses());
  const std::string server = mine ? mine->text : kUnknownLinkServer;
  EXPECT_NE(r.output.find("tg://proxy?server=" + server + "&port=8443&secret="),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("SERVER_IP") == std::string::npos, mine.has_value()) << r.output;

  r = RunProxyToExit({"--link", "-S", kSecretHex});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliE2eTest, TomlConfigServesNamedSecretsAndReloadsThemOnSighup) {
  auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
  ASSERT_TRUE(dc.ok()) << dc.status();
  SharedDir dir;
  const std::string alice = "00112233445566778899aabbccddeeff";
  const std::string bob = "ffeeddccbbaa99887766554433221100";
  std::string overrides;
  for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
    overrides += absl::StrCat(overrides.empty() ? "" : ", ", "\"", id, ":127.0.0.1:", dc->port,
                              "\"");
  }
  auto toml = [&](const std::string& secrets) {
    return absl::StrCat("http-ports = [1]  # replaced by -H 0 on the command line\n",
                        "direct = true\n", "dc-override = [", overrides, "]\n",
                        "drain-timeout = 1\n", secrets);
  };
  const std::string path = dir.Write(
      "proxy.toml",
      toml(absl::StrCat("[[secret]]\nname = \"alice\"\nsecret = \"dd", alice, "\"\n")));
  auto proxy = ProxyProcess::Start({"--config", path, "-H", "0", "-p", "0", "--http-stats"});
  ASSERT_NE(proxy, nullptr);
  auto served = [&](const std::string& key) {
    std::string json;
    return e2e::RunTool(e2e::ClientArgv(proxy->port(), {"--secret", key, "--packets", "2"}),
                        20000, &json) == 0;
  };
  EXPECT_TRUE(served(alice));
  // The secret's name labels its /metrics series.
  const std::optional<uint16_t> stats = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats.has_value()) << proxy->Log();
  auto named_handshakes = [&](const std::string& name) {
    return e2e::MetricValue(e2e::HttpBody(e2e::HttpGet(*stats, "/metrics")),
                       absl::StrCat("mtproxy_secret_connections_total{secret=\"0\",name=\"",
                                    name, "\"}"));
  };
  EXPECT_EQ(named_handshakes("alice"), std::optional<double>(1)) << e2e::HttpGet(*stats, "/metrics");
  // bob replaces alice in the file; SIGHUP applies it without a restart.
  dir.Write("proxy.toml",
            toml(absl::StrCat("[[secret]]\nname = \"bob\"\nsecret = \"", bob, "\"\n")));
  proxy->Signal(SIGHUP);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("secrets re-read successfully"); },
                           5000))
      << proxy->Log();
  EXPECT_TRUE(served(bob));
  EXPECT_FALSE(served(alice));
  EXPECT_TRUE(named_handshakes("bob").has_value()) << e2e::HttpGet(*stats, "/metrics");
  // A broken file is refused with its line; bob keeps working.
  dir.Write("proxy.toml", toml("[[secret]]\nname = \"carol\"\nsecret = 42\n"));
  proxy->Signal(SIGHUP);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("proxy.toml:7:"); }, 5000))
      << proxy->Log();
  EXPECT_TRUE(served(bob));
  EXPECT_EQ(proxy->Stop(), 0);

  // Start-up errors name the line and exit 2.
  e2e::RunResult r =
      RunProxyToExit({"--config", dir.Write("bad.toml", "direct = true\nshards = \"many\"\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.toml:2: shards: invalid --shards value 'many'"), std::string::npos)
      << r.output;
}

TEST(CliE2eTest, CheckValidatesWithoutServing) {
  SharedDir dir;
  const std::string aes_pwd = dir.Write("proxy-secret", e2e::ProxySecretText());
  auto me = e2e::SpawnListening("mtp-fake-me", {"--listen", "127.0.0.1:0", "--aes-pwd", aes_pwd});
  ASSERT_TRUE(me.ok()) << me.status();
  auto site = testing::OpenSslServer::Start();  // the real site of -D a.example
  ASSERT_NE(site, nullptr);
  const std::string conf = dir.Write("proxy-multi.conf", e2e::ConfigFor(me->port));
  const std::vector<std::string> args = {
      "--check", "-H", "0", "-S", kSecretHex, "--aes-pwd", aes_pwd, "-D", "a.example",
      "--domain-target", "a.example=127.0.0.1:" + std::to_string(site->port()), conf};
  e2e::RunResult r = RunProxyToExit(args, 30000);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* line : {"ok   command line: ", "ok   config: ", "ok   user: ", "ok   ports: ",
                           "ok   clock: ", "ok   domain a.example: ",
                           "ok   middle-ends: all 1 reachable", "check passed"}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  }
  EXPECT_EQ(r.output.find("listening on port"), std::string::npos);  // it did not serve
  // The same with the middle-end and the site gone: FAIL lines and exit 1.
  me->process.reset();
  site.reset();
  r = RunProxyToExit(args, 30000);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL middle-ends: none of 1 reachable"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("FAIL domain a.example: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("check failed"), std::string::npos) << r.output;
}

TEST(CliE2eTest, BadValuesPrintOneLineAndAHintNotTheUsage) {
  const std::vector<std::vector<std::string>> cases = {
      {"-M", "abc", "--direct"},    {"-p", "x", "--direct"},        {"-H", "1,a", "--direct"},
      {"-c", "lots", "--direct"},   {"-C", "1e3", "--direct"},      {"-W", "64k", "--direct"},
      {"-b", "x", "--direct"},      {"-D", "bad domain!", "--direct"}, {"-S", "ee00", "--direct"},
      {"--nice", "x", "--direct"},  {"--direct", "-c"},
  };
  for (const std::vector<std::string>& args : cases) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    e2e::RunResult r = RunProxyToExit(args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    std::vector<std::string> lines = absl::StrSplit(r.output, '\n', absl::SkipEmpty());
    ASSERT_GE(lines.size(), 2u) << r.output;
    EXPECT_LE(lines.size(), 3u) << r.output;  // glibc's line + "Unrecognized option" + hint
    EXPECT_EQ(lines.back().rfind("hint: ", 0), 0u) << r.output;
    EXPECT_EQ(r.output.find("\t--ipv6"), std::string::npos) << "usage printed: " << r.output;
  }
}

TEST(CliE2eTest, NoClientPortOrNoSecretIsRefusedUnlessAllowed) {
  SharedDir dir;
  e2e::RunResult r = RunProxyToExit({"--direct", "-S", kSecretHex});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no client port"), std::string::npos) << r.output;
  r = RunProxyToExit({"-H", "0", "--direct"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no client secret"), std::string::npos) << r.output;
  // A secret file without a secret in it: refused once it is read.
  const std::string empty = dir.Write("secrets", "# none yet\n");
  r = RunProxyToExit({"-H", "0", "--direct", "--mtproto-secret-file", empty});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no client secret"), std::string::npos) << r.output;
  // Explicitly allowed: it serves.
  auto proxy = ProxyProcess::Start({"-H", "0", "--direct", "--mtproto-secret-file", empty,
                                    "--allow-no-secret", "--dc-override", "2:127.0.0.1:1"});
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST(CliE2eTest, SecretInDdAndEeFormsServesClientsOfItsKey) {
  auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
  ASSERT_TRUE(dc.ok()) << dc.status();
  const std::string other = "00112233445566778899aabbccddeeff";
  std::vector<std::string> args = {"-H",  "0", "--direct", "-S", std::string("dd") + kSecretHex,
                                   "-S", std::string("ee") + other + kExampleComHex};
  for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
    args.insert(args.end(),
                {"--dc-override", std::string(id) + ":127.0.0.1:" + std::to_string(dc->port)});
  }
  auto proxy = ProxyProcess::Start(args);
  ASSERT_NE(proxy, nullptr);
  // The ee secret's domain is not a -D domain: said so at start-up.
  EXPECT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("-S #1 is an ee secret"); }, 3000))
      << proxy->Log();
  for (const std::string& key : {std::string(kSecretHex), other}) {
    std::string json;
    EXPECT_EQ(e2e::RunTool(e2e::ClientArgv(proxy->port(), {"--secret", key, "--packets", "2"}),
                           20000, &json),
              0)
        << key << ": " << json;
  }
  EXPECT_EQ(proxy->Stop(), 0);
}

}  // namespace
}  // namespace mtp
