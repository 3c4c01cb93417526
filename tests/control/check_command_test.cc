#include "control/check_command.h"
#include "tests/control/temp_dir.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace mtp {
namespace {

constexpr char kHex[] = "0123456789abcdef0123456789abcdef";

// A loopback TCP listener on a free port (accepts are left to the kernel backlog).
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A free port nobody listens on (bound, then released).
uint16_t ClosedPort() {
  Listener l;
  return l.port();
}

ParsedCommandLine Cli(std::vector<std::string> args) {
  std::vector<std::string_view> argv = {"mtproto-proxy", "--check"};
  for (const std::string& a : args) argv.push_back(a);
  CommandLineResult r = ParseCommandLine(argv);
  EXPECT_TRUE(std::holds_alternative<ParsedCommandLine>(r))
      << std::get<CommandLineError>(r).message;
  return std::get<ParsedCommandLine>(r);
}

std::vector<std::string> DcArgs(uint16_t port) {
  std::vector<std::string> args;
  for (int dc = 1; dc <= 5; ++dc) {  // never a real DC
    args.push_back("--dc-override");
    args.push_back(std::to_string(dc) + ":127.0.0.1:" + std::to_string(port));
  }
  return args;
}

const CheckLine* Find(const std::vector<CheckLine>& lines, const std::string& name) {
  for (const CheckLine& l : lines) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

TEST(CheckCommandTest, LineFormatAndClock) {
  EXPECT_EQ(FormatCheckLine({CheckStatus::kOk, "ports", "can bind 443"}),
            "ok   ports: can bind 443\n");
  EXPECT_EQ(FormatCheckLine({CheckStatus::kFail, "clock", "x"}), "FAIL clock: x\n");
  EXPECT_EQ(FormatCheckLine({CheckStatus::kWarn, "io_uring", "y"}), "warn io_uring: y\n");
  EXPECT_EQ(CheckClock(1798761600).status, CheckStatus::kOk);  // 2027-01-01
  EXPECT_EQ(CheckClock(1798761600).detail, "2027-01-01 00:00:00 UTC");
  EXPECT_EQ(CheckClock(0).status, CheckStatus::kFail);           // 1970: no RTC, no NTP
  EXPECT_EQ(CheckClock(4102444800 + 86400).status, CheckStatus::kFail);  // 2100
}

TEST(CheckCommandTest, DirectModeAllPassAgainstLocalPeers) {
  Listener dc;
  std::vector<std::string> args = {"-H", std::to_string(ClosedPort()), "-S", kHex, "--direct"};
  for (const std::string& a : DcArgs(dc.port())) args.push_back(a);
  std::vector<CheckLine> lines = RunChecks(Cli(args), 1000);
  for (const CheckLine& l : lines) {
    EXPECT_NE(l.status, CheckStatus::kFail) << FormatCheckLine(l);
  }
  for (const char* name : {"command line", "config", "user", "ports", "fd limit", "io_uring",
                           "clock", "DCs"}) {
    EXPECT_NE(Find(lines, name), nullptr) << name;
  }
  EXPECT_EQ(Find(lines, "DCs")->detail, "all 5 reachable (TCP connect)");
  std::string out;
  EXPECT_EQ(RunCheckCommand(Cli(args), &out), 0) << out;
  EXPECT_NE(out.find("check passed"), std::string::npos);
}

TEST(CheckCommandTest, FailuresAreReported) {
  Listener busy;  // the client port is taken
  std::vector<std::string> args = {"-H", std::to_string(busy.port()), "--direct",
                                   "--allow-no-secret"};
  for (const std::string& a : DcArgs(ClosedPort())) args.push_back(a);  // nobody listens
  std::vector<CheckLine> lines = RunChecks(Cli(args), 1000);
  const CheckLine* ports = Find(lines, "ports");
  ASSERT_NE(ports, nullptr);
  EXPECT_EQ(ports->status, CheckStatus::kFail);
  EXPECT_NE(ports->detail.find(std::to_string(busy.port())), std::string::npos);
  const CheckLine* dcs = Find(lines, "DCs");
  ASSERT_NE(dcs, nullptr);
  EXPECT_EQ(dcs->status, CheckStatus::kFail);
  EXPECT_NE(dcs->detail.find("none of 5 reachable"), std::string::npos) << dcs->detail;
  // A warning (no secret, allowed) is not a failure; the config line says so.
  bool warned = false;
  for (const CheckLine& l : lines) warned |= l.name == "config" && l.status == CheckStatus::kWarn;
  EXPECT_TRUE(warned);
  std::string out;
  EXPECT_EQ(RunCheckCommand(Cli(args), &out), 1);
  EXPECT_NE(out.find("FAIL ports: "), std::string::npos) << out;
  EXPECT_NE(out.find("check failed"), std::string::npos);

  // A missing -H and a broken proxy-multi.conf.
  testing_util::TempDir dir("mtp-check");
  ASSERT_FALSE(dir.path().empty());
  const std::string conf = dir.Write("proxy-multi.conf", "proxy 127.0.0.1:1\n");  // no ';'
  lines = RunChecks(Cli({"-S", kHex, "--aes-pwd", conf, conf}), 500);
  EXPECT_EQ(Find(lines, "command line")->status, CheckStatus::kFail);
  EXPECT_EQ(Find(lines, "config")->status, CheckStatus::kFail);
}

TEST(CheckCommandTest, MiddleEndsAndTheUserThatRereadsTheFiles) {
  Listener me;
  testing_util::TempDir dir("mtp-check");
  ASSERT_FALSE(dir.path().empty());
  chmod(dir.path().c_str(), 0755);
  const std::string conf =
      dir.Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:" + std::to_string(me.port()) +
                                        ";\nproxy_for 4 127.0.0.1:" +
                                        std::to_string(ClosedPort()) + ";\n");
  const std::string secret = dir.Write("proxy-secret", std::string(128, 'p'));
  chmod(conf.c_str(), 0644);
  chmod(secret.c_str(), 0644);
  std::vector<std::string> args = {"-H", std::to_string(ClosedPort()), "-S", kHex, "--aes-pwd",
                                   secret, "-u", "nobody", conf};
  std::vector<CheckLine> lines = RunChecks(Cli(args), 1000);
  const CheckLine* mes = Find(lines, "middle-ends");
  ASSERT_NE(mes, nullptr);
  EXPECT_EQ(mes->status, CheckStatus::kWarn) << mes->detail;  // one of two answers
  EXPECT_NE(mes->detail.find("1 of 2 reachable"), std::string::npos) << mes->detail;
  EXPECT_EQ(Find(lines, "user")->status, CheckStatus::kOk) << Find(lines, "user")->detail;
  if (geteuid() == 0) {
    // As root the proxy drops to nobody, who cannot read a 0600 file on SIGHUP.
    chmod(conf.c_str(), 0600);
    lines = RunChecks(Cli(args), 1000);
    const CheckLine* user = Find(lines, "user");
    EXPECT_EQ(user->status, CheckStatus::kFail);
    EXPECT_NE(user->detail.find("proxy-multi.conf: Permission denied"), std::string::npos)
        << user->detail;
  }
}

}  // namespace
}  // namespace mtp
