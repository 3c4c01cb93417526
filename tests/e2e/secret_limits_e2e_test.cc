// Named secrets' limits through the real binary (direct mode, the fake DC standing in for every
// DC, two shards): max-connections refuses the next client and a reload raising it keeps the
// open one; a spent quota closes its client, survives a restart and is reset over the stats
// port; disabling a secret with SIGHUP closes its clients and leaves the others alone.
#include <arpa/inet.h>
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
#include "core/hex.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/tool_run.h"
#include "tests/e2e/victim_client.h"
#include "tests/tools/child_process.h"

namespace mtp::e2e {
namespace {

constexpr char kAlice[] = "00112233445566778899aabbccddeeff";
constexpr char kBob[] = "ffeeddccbbaa99887766554433221100";

// POST with no body on the stats port; returns the status line's code (0 on failure).
int HttpPost(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string request =
        absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[1024];
      for (;;) {
        const ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  if (answer.size() < 12 || !answer.starts_with("HTTP/1.1 ")) return 0;
  return std::atoi(answer.substr(9, 3).c_str());
}

tools::ClientCodecConfig CodecFor(const char* hex) {
  tools::ClientCodecConfig c;
  std::optional<std::vector<uint8_t>> bytes = HexDecode(hex);
  ClientSecret s{};
  std::copy(bytes->begin(), bytes->end(), s.begin());
  c.secret = s;
  return c;
}

class SecretLimitsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dc = SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
    ASSERT_TRUE(dc.ok()) << dc.status();
    dc_ = std::move(dc->process);
    dc_port_ = dc->port;
    for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
      overrides_ += absl::StrCat(overrides_.empty() ? "" : ", ", "\"", id, ":127.0.0.1:",
                                 dc->port, "\"");
    }
    state_ = absl::StrCat(dir_.path(), "/secrets.state");
  }

  // The TOML file: direct mode to the fake DC, alice with `alice_limits`, bob without limits.
  void WriteConfig(const std::string& alice_limits) {
    toml_ = dir_.Write(
        "proxy.toml",
        absl::StrCat("direct = true\n", "dc-override = [", overrides_, "]\n",
                     "drain-timeout = 1\n", "[[secret]]\nname = \"alice\"\nsecret = \"", kAlice,
                     "\"\n", alice_limits, "\n[[secret]]\nname = \"bob\"\nsecret = \"", kBob,
                     "\"\n"));
  }

  void StartProxy(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--config", toml_,    "-H", "0", "-p", "0", "--http-stats",
                                     "--shards", "2", "--secret-state-file", state_};
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_ = ProxyProcess::Start(args, 30000);
    ASSERT_NE(proxy_, nullptr);
    std::optional<uint16_t> port = StatsPort(*proxy_);
    ASSERT_TRUE(port.has_value()) << proxy_->Log();
    stats_port_ = *port;
  }

  void Reload() {
    const double before = Metric("mtproxy_config_reloads_total{result=\"ok\"}");
    proxy_->Signal(SIGHUP);
    ASSERT_TRUE(WaitFor(
        [&] { return Metric("mtproxy_config_reloads_total{result=\"ok\"}") > before; }, 5000))
        << proxy_->Log();
  }

  // mtp-client: a new connection echoing 2 frames; true when it was served.
  // `from`: the local address (the whole 127/8 is loopback: 127.0.0.2 stands for another host).
  bool Served(const char* secret, const char* from = "127.0.0.1") {
    std::string json;
    return RunTool(ClientArgv(proxy_->port(), {"--secret", secret, "--packets", "2",
                                               "--timeout-ms", "3000", "--bind", from}),
                   20000, &json) == 0;
  }
  std::unique_ptr<VictimClient> Hold(const char* secret) {
    return VictimClient::Connect(proxy_->port(), CodecFor(secret));
  }

  double Metric(const std::string& series) {
    return MetricValue(HttpBody(HttpGet(stats_port_, "/metrics")), series).value_or(-1);
  }
  static std::string Closes(const std::string& reason) {
    return absl::StrCat("mtproxy_client_closes_total{reason=\"", reason, "\"}");
  }

  SharedDir dir_;
  std::string overrides_;
  std::string toml_;
  std::string state_;
  std::unique_ptr<tools::ChildProcess> dc_;
  uint16_t dc_port_ = 0;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

TEST_F(SecretLimitsE2eTest, MaxConnectionsRefusesTheNextClientAndAReloadRaisesIt) {
  WriteConfig("max-connections = 1");
  StartProxy();
  if (HasFatalFailure()) return;
  std::unique_ptr<VictimClient> first = Hold(kAlice);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Echo(64, 5000)) << first->error() << proxy_->Log();
  EXPECT_EQ(Metric("mtproxy_secret_limit_connections{name=\"alice\"}"), 1);
  // Whichever shard the next one lands on, the cap is the secrets', over both shards.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(Served(kAlice)) << "client " << i;
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("secret_conn_limit")) >= 4; }, 5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_TRUE(Served(kBob));  // bob has no limit
  // Raised by a reload: the open client stays, a second one gets in.
  WriteConfig("max-connections = 2");
  Reload();
  if (HasFatalFailure()) return;
  EXPECT_TRUE(WaitFor([&] { return Served(kAlice); }, 5000)) << proxy_->Log();
  EXPECT_TRUE(first->Echo(64, 5000)) << first->error();
  EXPECT_EQ(Metric("mtproxy_secret_limit_max_connections{name=\"alice\"}"), 2);
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(SecretLimitsE2eTest, SpentQuotaClosesItsClientSurvivesARestartAndIsReset) {
  WriteConfig("quota-bytes = 20000");
  StartProxy();
  if (HasFatalFailure()) return;
  std::unique_ptr<VictimClient> client = Hold(kAlice);
  ASSERT_NE(client, nullptr);
  // Each echo is ~2 KiB each way: the quota is spent after about five; the control thread
  // sees it on its next tick and the proxy closes the client (an echo fails). Bounded poll.
  int echoes = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        if (!client->Echo(2048, 5000)) return true;
        ++echoes;
        return false;
      },
      20000))
      << "the client was never closed\n"
      << HttpGet(stats_port_, "/metrics");
  EXPECT_GE(echoes, 3);
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("secret_quota")) >= 1; }, 5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_EQ(Metric("mtproxy_secret_quota_remaining_bytes{name=\"alice\"}"), 0);
  EXPECT_EQ(Metric("mtproxy_secret_open{name=\"alice\",reason=\"secret_quota\"}"), 0);
  EXPECT_FALSE(Served(kAlice));
  EXPECT_TRUE(Served(kBob));
  const double used = Metric("mtproxy_secret_quota_used_bytes{name=\"alice\"}");
  EXPECT_GE(used, 20000);
  ASSERT_EQ(proxy_->Stop(), 0);

  // A restart keeps the spent quota (the state file written at shutdown).
  EXPECT_NE(ReadFile(state_).find("alice "), std::string::npos) << ReadFile(state_);
  StartProxy();
  if (HasFatalFailure()) return;
  EXPECT_EQ(Metric("mtproxy_secret_quota_used_bytes{name=\"alice\"}"), used);
  EXPECT_FALSE(Served(kAlice));
  // Reset over the stats port: served again.
  EXPECT_EQ(HttpPost(stats_port_, "/secrets/nobody/reset-quota"), 404);
  EXPECT_EQ(HttpPost(stats_port_, "/secrets/alice/reset-quota"), 200);
  EXPECT_TRUE(WaitFor([&] { return Served(kAlice); }, 5000)) << proxy_->Log();
  EXPECT_LT(Metric("mtproxy_secret_quota_used_bytes{name=\"alice\"}"), 20000);
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(SecretLimitsE2eTest, UniqueAddressLimitAdmitsOnlyAddressesInTheWindow) {
  WriteConfig("max-unique-ips = 1\nunique-ips-window = 600");
  StartProxy();
  if (HasFatalFailure()) return;
  EXPECT_TRUE(Served(kAlice, "127.0.0.1"));
  // The control thread has the address in the window (and published it) before the next one.
  ASSERT_TRUE(
      WaitFor([&] { return Metric("mtproxy_secret_limit_unique_ips{name=\"alice\"}") == 1; }, 5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_FALSE(Served(kAlice, "127.0.0.2"));
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("secret_ip_limit")) >= 1; }, 5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_TRUE(Served(kAlice, "127.0.0.1"));  // already in the window
  EXPECT_TRUE(Served(kBob, "127.0.0.2"));    // another secret
  // A reload raising the limit lets the second address in.
  WriteConfig("max-unique-ips = 2\nunique-ips-window = 600");
  Reload();
  if (HasFatalFailure()) return;
  EXPECT_TRUE(WaitFor([&] { return Served(kAlice, "127.0.0.2"); }, 5000)) << proxy_->Log();
  EXPECT_EQ(proxy_->Stop(), 0);
}

// -D: a client its secret refuses is fronted at its ClientHello, like an address the lists
// refuse (the "site" here is the fake DC's port: what matters is that the proxy does not serve).
TEST_F(SecretLimitsE2eTest, UnderFakeTlsARefusedClientIsFronted) {
  WriteConfig("max-connections = 1");
  StartProxy({"-D", "echo.example", "--domain-target",
              absl::StrCat("echo.example=127.0.0.1:", dc_port_)});
  if (HasFatalFailure()) return;
  tools::ClientCodecConfig tls = CodecFor(kAlice);
  tls.tls_domain = "echo.example";
  tls.transport = Transport::kPadded;
  std::unique_ptr<VictimClient> first = VictimClient::Connect(proxy_->port(), tls);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Echo(64, 10000)) << first->error() << proxy_->Log();
  std::unique_ptr<VictimClient> second = VictimClient::Connect(proxy_->port(), tls);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(second->Echo(64, 3000));
  EXPECT_TRUE(WaitFor(
      [&] {
        return Metric(Closes("secret_conn_limit")) >= 1 &&
               Metric("mtproxy_handshake_rejections_total{reason=\"tls_access_denied\"}") >= 1;
      },
      5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_TRUE(first->Echo(64, 5000)) << first->error();
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(SecretLimitsE2eTest, DisablingASecretWithSighupClosesItsClients) {
  WriteConfig("");
  StartProxy();
  if (HasFatalFailure()) return;
  std::unique_ptr<VictimClient> alice = Hold(kAlice);
  std::unique_ptr<VictimClient> bob = Hold(kBob);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  ASSERT_TRUE(alice->Echo(64, 5000)) << alice->error();
  ASSERT_TRUE(bob->Echo(64, 5000)) << bob->error();
  WriteConfig("enabled = false");
  Reload();
  if (HasFatalFailure()) return;
  EXPECT_TRUE(WaitFor([&] { return Metric(Closes("secret_disabled")) >= 1; }, 5000))
      << HttpGet(stats_port_, "/metrics");
  EXPECT_FALSE(alice->Echo(64, 5000));
  EXPECT_TRUE(bob->Echo(64, 5000)) << bob->error();  // another secret: untouched
  EXPECT_FALSE(Served(kAlice));
  EXPECT_EQ(Metric("mtproxy_secret_open{name=\"alice\",reason=\"secret_disabled\"}"), 0);
  EXPECT_EQ(Metric("mtproxy_secret_open{name=\"bob\"}"), 1);
  EXPECT_EQ(proxy_->Stop(), 0);
}

}  // namespace
}  // namespace mtp::e2e
