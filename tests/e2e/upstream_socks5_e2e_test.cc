// Upstream chaining (--upstream-socks5) through the real binary, everything on
// 127.0.0.1: direct mode through microsocks with user/password (the fake DC's
// connections really come through it: with the server stopped or a wrong
// password the DC sees none, and the failures are counted by stage and reason),
// and ME mode through Debian's Dante server and tests/e2e/socks5_server.py (which,
// unlike microsocks, report the bound address the middle-end derives its keys from; the
// script also does user/password and byte-at-a-time replies).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/tools/child_process.h"

namespace mtp {
namespace {

using e2e::ConfigFor;
using e2e::HttpBody;
using e2e::HttpGet;
using e2e::Message;
using e2e::MetricValue;
using e2e::ProxyProcess;
using e2e::ProxySecretBytes;
using e2e::WaitFor;
using testing_peers::FakeDc;
using testing_peers::FakeMe;
using testing_peers::TestClient;

constexpr char kMicrosocks[] = "/usr/bin/microsocks";
constexpr char kUser[] = "bob";
constexpr char kPassword[] = "correct horse";

bool Accepts(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class UpstreamSocks5E2eTest : public ::testing::Test {
 protected:
  // The proxy with a stats port; `extra` adds the mode and upstream options.
  void StartProxy(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "-H", "0", "-p", "0", "--http-stats", "-M", "1", "--allow-no-secret", "--handshake-timeout",
        "5"};
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_ = ProxyProcess::Start(args);
    ASSERT_NE(proxy_, nullptr);
    auto port = e2e::StatsPort(*proxy_);
    ASSERT_TRUE(port.has_value()) << proxy_->Log();
    stats_port_ = *port;
  }

  std::vector<std::string> DirectArgs(const FakeDc& dc) {
    std::vector<std::string> args = {"--direct"};
    // Every DC points at the fake DC: never a real one.
    for (int id : {1, 2, 3, 4, 5, 203, -1, -2, -3, -4, -5, -203}) {
      args.insert(args.end(), {"--dc-override",
                               std::to_string(id) + ":127.0.0.1:" + std::to_string(dc.port())});
    }
    return args;
  }

  std::vector<std::string> SocksArgs(uint16_t port, const std::string& password) {
    return {"--upstream-socks5",           "127.0.0.1:" + std::to_string(port),
            "--upstream-socks5-user",      kUser,
            "--upstream-socks5-pass-file", dir_.Write("socks-pass", password + "\n")};
  }

  // A microsocks with user/password on a fresh port, accepting connections.
  uint16_t StartMicrosocks() {
    const uint16_t port = e2e::UnusedLoopbackPort();
    auto p = tools::ChildProcess::Spawn(
        {kMicrosocks, "-i", "127.0.0.1", "-p", std::to_string(port), "-u", kUser, "-P", kPassword});
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return 0;
    socks_ = std::make_unique<tools::ChildProcess>(std::move(*p));
    EXPECT_TRUE(WaitFor([&] { return Accepts(port); }, 10000));
    return port;
  }

  double Metric(const std::string& series) {
    return MetricValue(HttpBody(HttpGet(stats_port_, "/metrics")), series).value_or(-1);
  }
  static std::string Failures(const char* stage, const char* reason) {
    return std::string("mtproxy_upstream_socks5_failures_total{stage=\"") + stage + "\",reason=\"" +
           reason + "\"}";
  }

  // One echo round trip of a fresh client through the proxy.
  bool EchoOnce(int16_t dc_id, uint8_t fill) {
    auto client = TestClient::Connect(proxy_->port(), nullptr, Transport::kIntermediate, dc_id);
    if (!client) return false;
    const auto msg = Message(1000, fill);
    if (!client->SendFrame(msg)) return false;
    auto echo = client->ReadFrame(8000);
    return echo.has_value() && *echo == msg;
  }

  e2e::SharedDir dir_;
  std::unique_ptr<tools::ChildProcess> socks_;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

TEST_F(UpstreamSocks5E2eTest, DirectModeThroughMicrosocks) {
  if (access(kMicrosocks, X_OK) != 0) GTEST_SKIP() << "microsocks is not installed";
  FakeDc dc;
  const uint16_t socks_port = StartMicrosocks();
  ASSERT_NE(socks_port, 0);
  std::vector<std::string> args = DirectArgs(dc);
  for (const std::string& a : SocksArgs(socks_port, kPassword)) args.push_back(a);
  StartProxy(args);
  for (int16_t id : {2, -3}) {
    auto client = TestClient::Connect(proxy_->port(), nullptr, Transport::kIntermediate, id);
    ASSERT_TRUE(client.has_value());
    for (size_t size : {64u, 300000u}) {
      const auto msg = Message(size, 7);
      ASSERT_TRUE(client->SendFrame(msg));
      auto echo = client->ReadFrame(8000);
      ASSERT_TRUE(echo.has_value()) << proxy_->Log();
      EXPECT_EQ(*echo, msg);
    }
    EXPECT_EQ(dc.last_dc_id(), id);
  }
  EXPECT_EQ(dc.connections(), 2);
  EXPECT_EQ(Metric(Failures("auth", "auth_rejected")), 0);
  EXPECT_EQ(Metric(Failures("tcp_connect", "io_error")), 0);

  // The DC legs really go through microsocks: without it, new clients are
  // closed (counted) and the DC sees no new connection.
  socks_.reset();
  ASSERT_TRUE(WaitFor([&] { return !Accepts(socks_port); }, 10000));
  auto client = TestClient::Connect(proxy_->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(client->SendFrame(Message(64, 1)));
  EXPECT_TRUE(client->WaitClosed(10000));
  EXPECT_TRUE(WaitFor([&] { return Metric(Failures("tcp_connect", "io_error")) >= 1; }, 10000));
  EXPECT_EQ(dc.connections(), 2);
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(UpstreamSocks5E2eTest, DirectModeWrongPasswordIsRefusedAndCounted) {
  if (access(kMicrosocks, X_OK) != 0) GTEST_SKIP() << "microsocks is not installed";
  FakeDc dc;
  const uint16_t socks_port = StartMicrosocks();
  ASSERT_NE(socks_port, 0);
  std::vector<std::string> args = DirectArgs(dc);
  for (const std::string& a : SocksArgs(socks_port, "wrong horse")) args.push_back(a);
  StartProxy(args);
  for (int i = 0; i < 2; ++i) {
    auto client = TestClient::Connect(proxy_->port(), nullptr, Transport::kIntermediate, 2);
    ASSERT_TRUE(client.has_value());
    ASSERT_TRUE(client->SendFrame(Message(64, 1)));
    EXPECT_TRUE(client->WaitClosed(10000));
  }
  EXPECT_TRUE(WaitFor([&] { return Metric(Failures("auth", "auth_rejected")) == 2; }, 10000))
      << HttpBody(HttpGet(stats_port_, "/metrics"));
  EXPECT_EQ(dc.connections(), 0);
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(UpstreamSocks5E2eTest, DirectModeRefusedConnectIsCounted) {
  if (access(kMicrosocks, X_OK) != 0) GTEST_SKIP() << "microsocks is not installed";
  const uint16_t socks_port = StartMicrosocks();
  ASSERT_NE(socks_port, 0);
  // The DCs point at a closed port: microsocks answers the CONNECT with "connection refused".
  const std::string closed = "127.0.0.1:" + std::to_string(e2e::UnusedLoopbackPort());
  std::vector<std::string> args = {"--direct"};
  for (int id : {1, 2, 3, 4, 5, 203, -1, -2, -3, -4, -5, -203}) {
    args.insert(args.end(), {"--dc-override", std::to_string(id) + ":" + closed});
  }
  for (const std::string& a : SocksArgs(socks_port, kPassword)) args.push_back(a);
  StartProxy(args);
  auto client = TestClient::Connect(proxy_->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(client->SendFrame(Message(64, 1)));
  EXPECT_TRUE(client->WaitClosed(10000));
  EXPECT_TRUE(WaitFor([&] { return Metric(Failures("connect", "request_failed")) == 1; }, 10000))
      << HttpBody(HttpGet(stats_port_, "/metrics"));
  EXPECT_EQ(proxy_->Stop(), 0);
}

class MeSocks5E2eTest : public UpstreamSocks5E2eTest {
 protected:
  // tests/e2e/socks5_server.py with user/password; its CONNECTs are logged. `drip`: every
  // reply byte in its own segment.
  uint16_t StartPythonSocks(const std::string& password, bool drip = false) {
    const std::string port_file = dir_.Path("socks.port");
    log_ = dir_.Path("socks.log");
    const std::string script =
        std::string(getenv("MTP_SOURCE_ROOT")) + "/tests/e2e/socks5_server.py";
    std::vector<std::string> argv = {
        "/usr/bin/python3", script,   "--port-file", port_file, "--user", kUser,
        "--password",       password, "--log",       log_};
    if (drip) argv.push_back("--drip");
    auto p = tools::ChildProcess::Spawn(argv);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return 0;
    socks_ = std::make_unique<tools::ChildProcess>(std::move(*p));
    uint16_t port = 0;
    EXPECT_TRUE(WaitFor(
        [&] {
          const std::string text = ReadFile(port_file);
          if (text.empty() || text.back() != '\n') return false;
          port = static_cast<uint16_t>(std::stoi(text));
          return true;
        },
        10000));
    return port;
  }

  void StartMeProxy(uint16_t me_port, uint16_t socks_port, const std::string& password) {
    std::vector<std::string> args = {"--aes-pwd",
                                     dir_.Write("proxy-secret", e2e::ProxySecretText())};
    for (const std::string& a : SocksArgs(socks_port, password)) args.push_back(a);
    args.push_back(dir_.Write("proxy-multi.conf", ConfigFor(me_port, 2, 4)));
    StartProxy(args);
  }

  std::string log_;
};

TEST_F(MeSocks5E2eTest, MiddleEndLinksThroughSocks5) {
  FakeMe me(ProxySecretBytes());
  const uint16_t socks_port = StartPythonSocks(kPassword);
  ASSERT_NE(socks_port, 0);
  StartMeProxy(me.port(), socks_port, kPassword);
  ASSERT_TRUE(WaitFor([&] { return me.links_ready() >= 2; }, 15000)) << proxy_->Log();
  // Both links were CONNECTs through the SOCKS5 server to the ME's port.
  const std::string connect_line = "connect 127.0.0.1:" + std::to_string(me.port()) + " from";
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadFile(log_);
        size_t n = 0;
        for (size_t at = log.find(connect_line); at != std::string::npos;
             at = log.find(connect_line, at + 1)) {
          ++n;
        }
        return n >= 2;
      },
      10000))
      << ReadFile(log_);
  EXPECT_TRUE(EchoOnce(2, 3)) << proxy_->Log();
  EXPECT_EQ(Metric(Failures("auth", "auth_rejected")), 0);
  EXPECT_EQ(proxy_->Stop(), 0);
}

// ME links through Debian's Dante server (danted), which reports the address it connects
// from in its CONNECT reply (microsocks sends 0.0.0.0:0, which leaves the proxy no address
// for the ME's key derivation). No authentication here: user/password is covered above.
TEST_F(MeSocks5E2eTest, MiddleEndLinksThroughDante) {
  constexpr char kDanted[] = "/usr/sbin/danted";
  if (access(kDanted, X_OK) != 0) GTEST_SKIP() << "dante-server is not installed";
  if (geteuid() != 0) GTEST_SKIP() << "danted needs root to switch to its unprivileged user";
  FakeMe me(ProxySecretBytes());
  const uint16_t socks_port = e2e::UnusedLoopbackPort();
  ASSERT_NE(socks_port, 0);
  const std::string dante_log = dir_.Path("danted.log");
  const std::string conf = dir_.Write(
      "danted.conf",
      "logoutput: " + dante_log + "\n" + "internal: 127.0.0.1 port = " +
          std::to_string(socks_port) +
          "\nexternal: 127.0.0.1\nclientmethod: none\nsocksmethod: none\n"
          "user.privileged: root\nuser.unprivileged: nobody\n"
          "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
          "socks pass {\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: connect\n"
          "  log: connect\n}\n");
  auto danted = tools::ChildProcess::Spawn({kDanted, "-f", conf, "-N", "1"});
  ASSERT_TRUE(danted.ok()) << danted.status();
  ASSERT_TRUE(WaitFor([&] { return Accepts(socks_port); }, 10000)) << ReadFile(dante_log);
  std::vector<std::string> args = {"--aes-pwd",
                                   dir_.Write("proxy-secret", e2e::ProxySecretText()),
                                   "--upstream-socks5", "127.0.0.1:" + std::to_string(socks_port),
                                   dir_.Write("proxy-multi.conf", ConfigFor(me.port(), 2, 4))};
  StartProxy(args);
  ASSERT_TRUE(WaitFor([&] { return me.links_ready() >= 2; }, 15000))
      << proxy_->Log() << ReadFile(dante_log);
  // Dante logged the links' CONNECTs to the ME's port (it writes addresses as ip.port).
  EXPECT_TRUE(WaitFor(
      [&] {
        return ReadFile(dante_log).find("127.0.0.1." + std::to_string(me.port())) !=
               std::string::npos;
      },
      5000))
      << ReadFile(dante_log);
  EXPECT_TRUE(EchoOnce(2, 5)) << proxy_->Log();
  EXPECT_EQ(proxy_->Stop(), 0);
  danted->Signal(SIGTERM);
  EXPECT_TRUE(danted->Wait(5000).ok());
}

// Replies that arrive a byte at a time (the reader is incremental; nothing is sent before the
// reply to the previous request is complete), in direct mode and for ME links.
TEST_F(MeSocks5E2eTest, FragmentedRepliesDirectAndMiddleEnd) {
  FakeDc dc;
  FakeMe me(ProxySecretBytes());
  const uint16_t socks_port = StartPythonSocks(kPassword, /*drip=*/true);
  ASSERT_NE(socks_port, 0);
  std::vector<std::string> args = DirectArgs(dc);
  for (const std::string& a : SocksArgs(socks_port, kPassword)) args.push_back(a);
  StartProxy(args);
  EXPECT_TRUE(EchoOnce(2, 5)) << proxy_->Log();
  EXPECT_EQ(dc.connections(), 1);
  EXPECT_EQ(proxy_->Stop(), 0);
  proxy_.reset();

  StartMeProxy(me.port(), socks_port, kPassword);
  ASSERT_TRUE(WaitFor([&] { return me.links_ready() >= 2; }, 15000)) << proxy_->Log();
  EXPECT_TRUE(EchoOnce(2, 6)) << proxy_->Log();
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_F(MeSocks5E2eTest, MiddleEndWrongPasswordIsRefusedAndRetried) {
  FakeMe me(ProxySecretBytes());
  const uint16_t socks_port = StartPythonSocks(kPassword);
  ASSERT_NE(socks_port, 0);
  StartMeProxy(me.port(), socks_port, "wrong horse");
  // Refused, counted, and retried with the reconnect backoff (~1 s, then
  // growing).
  EXPECT_TRUE(WaitFor([&] { return Metric(Failures("auth", "auth_rejected")) >= 3; }, 20000))
      << HttpBody(HttpGet(stats_port_, "/metrics"));
  EXPECT_EQ(me.links_ready(), 0);
  EXPECT_EQ(ReadFile(log_).find("connect "), std::string::npos);
  EXPECT_EQ(proxy_->Stop(), 0);
}

}  // namespace
}  // namespace mtp
