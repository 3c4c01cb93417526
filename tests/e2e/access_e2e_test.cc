// Client access through the real binary: PROXY protocol behind a real HAProxy (Debian's, with
// send-proxy-v2), a client without a header, an untrusted balancer, and the allow/block lists
// with a reload. Clients on 127.0.0.2 stand for another host (the whole 127/8 is loopback).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/tool_run.h"
#include "tests/tools/child_process.h"

namespace mtp::e2e {
namespace {

using tools::ChildProcess;

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";
constexpr char kHaproxy[] = "/usr/sbin/haproxy";

class AccessE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aes_pwd_ = dir_.Write("proxy-secret", ProxySecretText());
    me_log_ = dir_.Write("fake-me.log", "");
    auto me = SpawnListening("mtp-fake-me", {"--listen", "127.0.0.1:0", "--aes-pwd", aes_pwd_,
                                             "--log-file", me_log_});
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::move(me->process);
    config_ = dir_.Write("proxy-multi.conf", ConfigFor(me->port));
  }

  // One shard, ME mode, stats on; waits for the ME link (a frame that finds none is dropped).
  void StartProxy(std::vector<std::string> flags) {
    std::vector<std::string> argv = {"-H", "0", "-p", "0", "--http-stats", "--shards", "1",
                                     "-S", kSecretHex, "--aes-pwd", aes_pwd_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(config_);
    proxy_ = ProxyProcess::Start(argv);
    ASSERT_NE(proxy_, nullptr);
    std::optional<uint16_t> port = StatsPort(*proxy_);
    ASSERT_TRUE(port.has_value()) << proxy_->Log();
    stats_port_ = *port;
    ASSERT_TRUE(WaitFor(
        [&] {
          return StatsInt(HttpBody(HttpGet(stats_port_, "/stats")), "ready_outbound_connections")
                     .value_or(0) >= 1;
        },
        10000))
        << proxy_->Log();
  }

  // mtp-client echoing 2 frames to `port`, from `from` (an IPv4 loopback address).
  int Client(uint16_t port, const std::string& from, std::string* json = nullptr) {
    return RunTool(ClientArgv(port, {"--secret", kSecretHex, "--packets", "2", "--timeout-ms",
                                     "5000", "--bind", from}),
                   30000, json);
  }

  double Metric(const std::string& series) {
    return MetricValue(HttpBody(HttpGet(stats_port_, "/metrics")), series).value_or(-1);
  }
  std::string Closes(const std::string& reason) {
    return absl::StrCat("mtproxy_client_closes_total{reason=\"", reason, "\"}");
  }

  SharedDir dir_;
  std::string aes_pwd_;
  std::string me_log_;
  std::string config_;
  std::unique_ptr<ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

TEST_F(AccessE2eTest, HaproxySendProxyV2GivesTheMiddleEndTheOriginalClient) {
  if (access(kHaproxy, X_OK) != 0) GTEST_SKIP() << "haproxy is not installed";
  StartProxy({"--proxy-protocol", "--proxy-protocol-trusted", "127.0.0.1/32"});
  if (HasFatalFailure()) return;
  const uint16_t front = UnusedLoopbackPort();
  ASSERT_NE(front, 0);
  const std::string cfg = dir_.Write(
      "haproxy.cfg",
      absl::StrCat("global\n  maxconn 64\n"
                   "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
                   "  timeout server 30s\n"
                   "frontend f\n  bind 127.0.0.1:", front, "\n  default_backend b\n"
                   "backend b\n  server proxy 127.0.0.1:", proxy_->port(), " send-proxy-v2\n"));
  auto haproxy = ChildProcess::Spawn({kHaproxy, "-db", "-f", cfg});
  ASSERT_TRUE(haproxy.ok()) << haproxy.status();
  std::string json;
  // HAProxy needs a moment to bind: the first client may find the port closed.
  ASSERT_TRUE(WaitFor([&] { return Client(front, "127.0.0.2", &json) == 0; }, 10000)) << json;
  // The middle-end saw the client HAProxy served (127.0.0.2), not HAProxy (127.0.0.1).
  ASSERT_TRUE(WaitFor([&] { return ReadFile(me_log_).find("127.0.0.2") != std::string::npos; },
                      5000))
      << ReadFile(me_log_);
  EXPECT_EQ(Metric(Closes("proxy_header_error")), 0);
  // A client that skips the balancer sends no header: refused, counted.
  EXPECT_NE(Client(proxy_->port(), "127.0.0.1", &json), 0) << json;
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("proxy_header_error")) >= 1; }, 5000))
      << proxy_->Log();
  // And HAProxy's clients go on.
  EXPECT_EQ(Client(front, "127.0.0.2", &json), 0) << json;
  haproxy->Signal(SIGTERM);
  EXPECT_TRUE(haproxy->Wait(5000).ok());
}

TEST_F(AccessE2eTest, AnUntrustedBalancerIsRefusedAtAcceptAndASilentOneTimesOut) {
  StartProxy({"--proxy-protocol", "--proxy-protocol-trusted", "127.0.0.2",
              "--proxy-protocol-timeout", "500"});
  if (HasFatalFailure()) return;
  std::string json;
  EXPECT_NE(Client(proxy_->port(), "127.0.0.1", &json), 0) << json;
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("untrusted_proxy")) >= 1; }, 5000))
      << proxy_->Log();
  // A trusted peer that sends nothing is closed at the header timeout.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(0x7f000002);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(proxy_->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("proxy_header_timeout")) >= 1; }, 5000))
      << proxy_->Log();
  char byte;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0);  // closed by the proxy
  close(fd);
}

TEST_F(AccessE2eTest, TheBlockListRefusesAnAddressAndAReloadChangesIt) {
  const std::string block = dir_.Write("block.list", "# test\n127.0.0.2\n");
  StartProxy({"--block-list", block});
  if (HasFatalFailure()) return;
  std::string json;
  EXPECT_NE(Client(proxy_->port(), "127.0.0.2", &json), 0) << json;
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("access_denied")) >= 1; }, 5000))
      << proxy_->Log();
  EXPECT_EQ(Client(proxy_->port(), "127.0.0.1", &json), 0) << json;
  // A broken list on reload keeps the running one.
  dir_.Write("block.list", "127.0.0.2\nnot an address\n");
  proxy_->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return Metric("mtproxy_config_reloads_total{result=\"failed\"}") >= 1; },
                      5000))
      << proxy_->Log();
  EXPECT_NE(Client(proxy_->port(), "127.0.0.2", &json), 0) << json;
  // A good one replaces it.
  dir_.Write("block.list", "127.0.0.3\n");
  proxy_->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return Metric("mtproxy_config_reloads_total{result=\"ok\"}") >= 1; },
                      5000))
      << proxy_->Log();
  EXPECT_TRUE(WaitFor([&] { return Client(proxy_->port(), "127.0.0.2", &json) == 0; }, 5000))
      << json;
}

}  // namespace
}  // namespace mtp::e2e
