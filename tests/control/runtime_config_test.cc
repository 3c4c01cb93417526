#include "control/runtime_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/hex.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

// Numeric literals only: tests never touch DNS.
class LiteralResolver : public HostResolver {
 public:
  std::optional<ResolvedAddress> Resolve(std::string_view name) override {
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    return ResolvedAddress::FromLiteral(name);
  }
};

class RuntimeConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    return tmp_.Write(name, content);
  }
  ParsedCommandLine MeMode() {
    ParsedCommandLine cli;
    cli.config_file = Write("proxy-multi.conf", "default 2;\nproxy_for 2 127.0.0.1:8888;\n");
    cli.aes_pwd_file = Write("proxy-secret", std::string(128, 'x'));
    cli.allow_no_secret = true;  // the tests that need secrets add them
    return cli;
  }
  static ClientSecret Secret(uint8_t fill) {
    ClientSecret s;
    s.fill(fill);
    return s;
  }
  absl::StatusOr<std::shared_ptr<const ConfigSnapshot>> Load(
      const ParsedCommandLine& cli, const ConfigSnapshot* previous = nullptr) {
    warnings_.clear();
    return LoadConfigSnapshot(cli, resolver_, previous, 1700000000, &warnings_);
  }

  testing_util::TempDir tmp_{"mtp-runtime-config"};
  const std::string dir_ = tmp_.path();
  std::vector<std::string> files_;
  std::vector<std::string> warnings_;
  LiteralResolver resolver_;
};

TEST_F(RuntimeConfigTest, MiddleEndModeLoadsEverything) {
  ParsedCommandLine cli = MeMode();
  cli.secrets = {Secret(1)};
  auto snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const ConfigSnapshot& s = **snap;
  EXPECT_EQ(s.generation, 1u);
  EXPECT_EQ(s.loaded_at_unix, 1700000000);
  EXPECT_FALSE(s.direct);
  ASSERT_NE(s.proxy_config, nullptr);
  EXPECT_EQ(s.proxy_config->targets.size(), 1u);
  EXPECT_EQ(s.auth_clusters(), 1u);
  ASSERT_NE(s.proxy_secret, nullptr);
  EXPECT_EQ(s.proxy_secret->size(), 128u);
  EXPECT_EQ(s.aes_pwd_hash(), s.proxy_secret->Md5Hex());
  EXPECT_EQ(s.secrets.size(), 1u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(RuntimeConfigTest, GenerationFollowsPrevious) {
  ParsedCommandLine cli = MeMode();
  auto first = Load(cli);
  ASSERT_TRUE(first.ok());
  auto second = Load(cli, first->get());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->generation, 2u);
}

TEST_F(RuntimeConfigTest, BrokenConfigKeepsReferenceMessageAndExitCode) {
  ParsedCommandLine cli = MeMode();
  cli.config_file = Write("bad.conf", "proxy_for 2 127.0.0.1:8888\n");  // no ';'
  auto snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.status().message().find("; expected"), std::string::npos) << snap.status();
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 1);
  cli.config_file = dir_ + "/missing.conf";
  snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 1);
}

TEST_F(RuntimeConfigTest, MiddleEndModeNeedsConfigFile) {
  ParsedCommandLine cli = MeMode();
  cli.config_file.clear();
  auto snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 2);
}

TEST_F(RuntimeConfigTest, DirectModeReadsNoConfigNorProxySecret) {
  ParsedCommandLine cli;
  cli.direct = true;
  cli.allow_no_secret = true;
  cli.config_file = dir_ + "/does-not-exist.conf";
  cli.aes_pwd_file = dir_ + "/does-not-exist-either";
  auto snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE((*snap)->direct);
  EXPECT_EQ((*snap)->proxy_config, nullptr);
  EXPECT_EQ((*snap)->proxy_secret, nullptr);
  EXPECT_EQ((*snap)->aes_pwd_hash(), "none");
}

TEST_F(RuntimeConfigTest, ProxySecretRules) {
  ParsedCommandLine cli = MeMode();
  cli.secrets = {Secret(1)};
  // Explicit and missing: fatal.
  cli.aes_pwd_file = dir_ + "/missing-secret";
  auto snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 1);
  // Explicit and too short: fatal.
  cli.aes_pwd_file = Write("short-secret", std::string(31, 'x'));
  EXPECT_FALSE(Load(cli).ok());
  // Default path ("secret" in the working directory), missing: a warning only.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  cli.aes_pwd_file.reset();
  snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ((*snap)->proxy_secret, nullptr);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("no proxy secret"), std::string::npos);
  // Once loaded, the default file disappearing fails the reload instead of dropping it.
  std::string default_path = Write("secret", std::string(64, 's'));
  snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_NE((*snap)->proxy_secret, nullptr);
  unlink(default_path.c_str());
  EXPECT_FALSE(Load(cli, snap->get()).ok());
  ASSERT_EQ(chdir(cwd), 0);
}

TEST_F(RuntimeConfigTest, SecretFileAddsAfterCommandLine) {
  ParsedCommandLine cli = MeMode();
  cli.secrets = {Secret(0xaa)};
  cli.secret_file = Write("secrets", std::string(32, 'b') + "\n# comment\n" +
                                         "dd" + std::string(32, 'c') + "\n");
  auto snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ((*snap)->secrets.size(), 3u);
  EXPECT_EQ((*snap)->file_secret_count, 2u);
  EXPECT_EQ((*snap)->secrets[0], Secret(0xaa));
  EXPECT_EQ((*snap)->secrets[1], Secret(0xbb));
  EXPECT_EQ((*snap)->secrets[2], Secret(0xcc));
}

TEST_F(RuntimeConfigTest, SixteenSecretCapAcrossCommandLineAndFile) {
  ParsedCommandLine cli = MeMode();
  for (int i = 0; i < 10; ++i) cli.secrets.push_back(Secret(static_cast<uint8_t>(i)));
  std::string six, seven;
  for (int i = 0; i < 6; ++i) six += HexEncode(Secret(static_cast<uint8_t>(0x40 + i))) + "\n";
  seven = six + HexEncode(Secret(0x50)) + "\n";
  cli.secret_file = Write("six", six);
  auto snap = Load(cli);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ((*snap)->secrets.size(), 16u);
  cli.secret_file = Write("seven", seven);
  snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.status().message().find("too many client secrets"), std::string::npos);
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 2);
}

TEST_F(RuntimeConfigTest, BadSecretFileFails) {
  ParsedCommandLine cli = MeMode();
  cli.secret_file = Write("bad-secrets", "not a secret\n");
  auto snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 1);
  cli.secret_file = dir_ + "/no-such-secret-file";
  EXPECT_FALSE(Load(cli).ok());
}

TEST_F(RuntimeConfigTest, DomainNeedsASecretAfterTheFileIsRead) {
  ParsedCommandLine cli = MeMode();
  cli.domains = {"example.com"};
  auto snap = Load(cli);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().message(),
            "You must specify at least one mtproto-secret to use when using TLS-transport");
  EXPECT_EQ(ConfigSnapshotExitCode(snap.status()), 2);
  // An empty secret file does not help...
  cli.secret_file = Write("empty", "# nothing yet\n");
  EXPECT_FALSE(Load(cli).ok());
  // ... a file with one secret does.
  cli.secret_file = Write("one", std::string(32, 'e') + "\n");
  EXPECT_TRUE(Load(cli).ok());
}

TEST_F(RuntimeConfigTest, NoSecretIsAnErrorUnlessAllowed) {
  ParsedCommandLine cli = MeMode();
  cli.allow_no_secret = false;
  cli.secret_file = Write("empty", "# nothing yet\n");
  auto refused = Load(cli);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no client secret"), std::string::npos);
  EXPECT_EQ(ConfigSnapshotExitCode(refused.status()), 2);
  // A reload to an empty file fails too (the running secrets stay).
  cli.secret_file = Write("one", std::string(32, 'e') + "\n");
  auto running = Load(cli);
  ASSERT_TRUE(running.ok());
  cli.secret_file = Write("one", "");
  EXPECT_FALSE(LoadConfigSnapshot(cli, resolver_, running->get(), 0, nullptr).ok());
  // --allow-no-secret: a warning.
  cli.allow_no_secret = true;
  warnings_.clear();
  auto snap = Load(cli);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("no client secret"), std::string::npos);
}

}  // namespace
}  // namespace mtp
