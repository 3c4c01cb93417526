// --upstream-socks5 and its credentials: the command line's checks and the
// password file's rules (1..255 bytes, one trailing newline stripped, errors
// that never echo the password).
#include "control/upstream_socks5_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include "control/toml_config.h"

namespace mtp {
namespace {

constexpr std::string_view kProg = "mtproto-proxy";

std::variant<ParsedCommandLine, CommandLineError> Parse(std::vector<std::string_view> args) {
  args.insert(args.begin(), kProg);
  args.insert(args.end(), {"--direct", "-H", "443", "-S", "0123456789abcdef0123456789abcdef"});
  return ParseCommandLine(args);
}

std::string WriteTemp(const std::string& content) {
  char path[] = "/tmp/mtp_socks5_pass_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  return path;
}

TEST(UpstreamSocks5ConfigTest, CommandLine) {
  auto ok = Parse({"--upstream-socks5", "127.0.0.1:1080"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(ok));
  const ParsedCommandLine& cli = std::get<ParsedCommandLine>(ok);
  ASSERT_TRUE(cli.upstream_socks5.has_value());
  EXPECT_EQ(cli.upstream_socks5->ToString(), "127.0.0.1:1080");
  EXPECT_FALSE(cli.upstream_socks5_user.has_value());
  auto v6 = Parse({"--upstream-socks5", "[::1]:1080", "--upstream-socks5-user", "bob",
                   "--upstream-socks5-pass-file", "/x"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(v6));
  EXPECT_EQ(std::get<ParsedCommandLine>(v6).upstream_socks5->ToString(), "[::1]:1080");
  EXPECT_EQ(*std::get<ParsedCommandLine>(v6).upstream_socks5_user, "bob");

  for (std::vector<std::string_view> bad : {
           std::vector<std::string_view>{"--upstream-socks5", "localhost:1080"},
           std::vector<std::string_view>{"--upstream-socks5", "127.0.0.1"},
           std::vector<std::string_view>{"--upstream-socks5", "127.0.0.1:0"},
           std::vector<std::string_view>{"--upstream-socks5", "::1:1080"},
           // user and password file go together, and need the server
           std::vector<std::string_view>{"--upstream-socks5", "127.0.0.1:1080",
                                         "--upstream-socks5-user", "bob"},
           std::vector<std::string_view>{"--upstream-socks5", "127.0.0.1:1080",
                                         "--upstream-socks5-pass-file", "/x"},
           std::vector<std::string_view>{"--upstream-socks5-user", "bob",
                                         "--upstream-socks5-pass-file", "/x"},
       }) {
    auto r = Parse(bad);
    ASSERT_TRUE(std::holds_alternative<CommandLineError>(r)) << bad[0] << " " << bad[1];
    EXPECT_EQ(std::get<CommandLineError>(r).exit_code, 2);
  }
  const std::string long_user(256, 'u');
  auto r = Parse({"--upstream-socks5", "127.0.0.1:1080", "--upstream-socks5-user", long_user,
                  "--upstream-socks5-pass-file", "/x"});
  EXPECT_TRUE(std::holds_alternative<CommandLineError>(r));
}

TEST(UpstreamSocks5ConfigTest, PasswordFile) {
  ParsedCommandLine cli;
  cli.upstream_socks5 = SocketAddress::Parse("127.0.0.1:1080").value();
  // No credentials: the server alone.
  auto plain = LoadUpstreamSocks5(cli);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->with_credentials());
  EXPECT_EQ(plain->server.ToString(), "127.0.0.1:1080");

  cli.upstream_socks5_user = "bob";
  struct Case {
    std::string content;
    bool ok;
    std::string password;
  };
  const std::vector<Case> cases = {
      {"hunter2\n", true, "hunter2"},
      {"hunter2\r\n", true, "hunter2"},
      {"hunter2", true, "hunter2"},
      {"two words \n\n", true, "two words \n"},  // only one newline is stripped
      {std::string(255, 'p') + "\n", true, std::string(255, 'p')},
      {std::string(256, 'p'), false, ""},
      {std::string(4000, 'p'), false, ""},
      {"\n", false, ""},
      {"", false, ""},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp(c.content);
    cli.upstream_socks5_password_file = path;
    auto got = LoadUpstreamSocks5(cli);
    EXPECT_EQ(got.ok(), c.ok) << c.content.size();
    if (got.ok()) {
      EXPECT_EQ(got->user, "bob");
      EXPECT_EQ(got->password, c.password);
      EXPECT_TRUE(got->with_credentials());
    } else if (!c.content.empty()) {
      EXPECT_EQ(std::string(got.status().message()).find(c.content.substr(0, 8)),
                std::string::npos);  // the password is never echoed
    }
    std::remove(path.c_str());
  }
  cli.upstream_socks5_password_file = "/nonexistent/mtp-socks5-pass";
  EXPECT_FALSE(LoadUpstreamSocks5(cli).ok());
}

// The TOML config takes the long option names (control/toml_config.h), the
// credentials too.
TEST(UpstreamSocks5ConfigTest, TomlKeys) {
  const std::string pass = WriteTemp("from toml\n");
  const std::string toml = WriteTemp(
      "direct = true\nhttp-ports = [443]\nmtproto-secret = "
      "[\"0123456789abcdef0123456789abcdef\"]\n"
      "upstream-socks5 = \"[::1]:1080\"\nupstream-socks5-user = \"alice\"\n"
      "upstream-socks5-pass-file = \"" +
      pass + "\"\n");
  const std::string path = toml + ".toml";
  ASSERT_EQ(std::rename(toml.c_str(), path.c_str()), 0);
  const std::vector<std::string_view> argv = {kProg, "--config", path};
  CommandLineResult r = ParseCommandLineWithConfig(argv);
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r))
      << std::get<CommandLineError>(r).message;
  const ParsedCommandLine& cli = std::get<ParsedCommandLine>(r);
  ASSERT_TRUE(cli.upstream_socks5.has_value());
  EXPECT_EQ(cli.upstream_socks5->ToString(), "[::1]:1080");
  auto loaded = LoadUpstreamSocks5(cli);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->user, "alice");
  EXPECT_EQ(loaded->password, "from toml");
  std::remove(path.c_str());
  std::remove(pass.c_str());
}

}  // namespace
}  // namespace mtp
