// ME-to-direct fallback through the real binary (--direct-fallback-after): with its only
// middle-end unreachable, a DC's new clients are served by the DC directly (mtp-fake-dc,
// through --dc-override); once the middle-end comes up, new clients go through it again.
// Without the option, the same client is not served.
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

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";

class FallbackE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aes_pwd_ = dir_.Write("proxy-secret", ProxySecretText());
    dc_log_ = dir_.Write("fake-dc.log", "");
    auto dc = SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0", "--log-file", dc_log_});
    ASSERT_TRUE(dc.ok()) << dc.status();
    dc_ = std::move(dc->process);
    dc_port_ = dc->port;
    me_port_ = UnusedLoopbackPort();
    ASSERT_NE(me_port_, 0);
    config_ = dir_.Write("proxy-multi.conf", ConfigFor(me_port_));
  }

  // ME mode, one shard; every DC the client could name points at mtp-fake-dc.
  void StartProxy(std::vector<std::string> flags) {
    std::vector<std::string> argv = {"-H", "0", "-p", "0", "--http-stats", "--shards", "1",
                                     "-S", kSecretHex, "--aes-pwd", aes_pwd_,
                                     "--handshake-timeout", "2"};
    for (const char* id : {"1", "2", "3", "4", "5"}) {
      argv.push_back("--dc-override");
      argv.push_back(absl::StrCat(id, ":127.0.0.1:", dc_port_));
    }
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(config_);
    proxy_ = ProxyProcess::Start(argv);
    ASSERT_NE(proxy_, nullptr);
    std::optional<uint16_t> port = StatsPort(*proxy_);
    ASSERT_TRUE(port.has_value()) << proxy_->Log();
    stats_port_ = *port;
  }

  int Client(std::string* json) {
    return RunTool(ClientArgv(proxy_->port(), {"--secret", kSecretHex, "--packets", "2",
                                               "--timeout-ms", "5000"}),
                   30000, json);
  }

  double Metric(const std::string& series) {
    return MetricValue(HttpBody(HttpGet(stats_port_, "/metrics")), series).value_or(-1);
  }

  SharedDir dir_;
  std::string aes_pwd_;
  std::string dc_log_;
  std::string config_;
  std::unique_ptr<tools::ChildProcess> dc_;
  uint16_t dc_port_ = 0;
  uint16_t me_port_ = 0;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

constexpr char kToDirect[] = "mtproxy_direct_fallback_switches_total{to=\"direct\"}";
constexpr char kToMe[] = "mtproxy_direct_fallback_switches_total{to=\"middle_end\"}";
constexpr char kFallbackClients[] = "mtproxy_direct_fallback_clients_total";

TEST_F(FallbackE2eTest, ClientsGoDirectWhileTheMiddleEndIsDownAndBackOnceItIsUp) {
  StartProxy({"--direct-fallback-after", "1"});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitFor([&] { return Metric(kToDirect) >= 1; }, 15000)) << proxy_->Log();
  EXPECT_TRUE(WaitFor([&] { return proxy_->LogContains("connect to the DC directly"); }, 5000))
      << proxy_->Log();
  std::string json;
  ASSERT_EQ(Client(&json), 0) << json << proxy_->Log();
  EXPECT_EQ(Metric(kFallbackClients), 1);
  EXPECT_TRUE(WaitFor([&] { return CountOf(ReadFile(dc_log_), "\"dc\"") >= 1; }, 5000))
      << ReadFile(dc_log_);

  // The middle-end comes up on its port: the next reconnect finds it, and new clients use it.
  const std::string me_log = dir_.Write("fake-me.log", "");
  auto me = SpawnListening("mtp-fake-me", {"--listen", absl::StrCat("127.0.0.1:", me_port_),
                                           "--aes-pwd", aes_pwd_, "--log-file", me_log});
  ASSERT_TRUE(me.ok()) << me.status();
  ASSERT_TRUE(WaitFor([&] { return Metric(kToMe) >= 1; }, 40000)) << proxy_->Log();
  EXPECT_TRUE(WaitFor([&] { return proxy_->LogContains("a middle-end is ready again"); }, 5000))
      << proxy_->Log();
  ASSERT_EQ(Client(&json), 0) << json << proxy_->Log();
  EXPECT_TRUE(WaitFor([&] { return CountOf(ReadFile(me_log), "\"req\"") >= 1; }, 5000))
      << ReadFile(me_log);
  EXPECT_EQ(Metric(kFallbackClients), 1);  // the second client went through the middle-end
  EXPECT_EQ(CountOf(ReadFile(dc_log_), "\"dc\""), 1) << ReadFile(dc_log_);
}

TEST_F(FallbackE2eTest, WithoutTheOptionAClientOfAnUnreachableMiddleEndIsNotServed) {
  StartProxy({});
  if (HasFatalFailure()) return;
  std::string json;
  EXPECT_NE(Client(&json), 0) << json;
  EXPECT_EQ(Metric(kFallbackClients), 0);
  EXPECT_EQ(Metric(kToDirect), 0);
  EXPECT_EQ(CountOf(ReadFile(dc_log_), "\"dc\""), 0) << ReadFile(dc_log_);
}

}  // namespace
}  // namespace mtp::e2e
