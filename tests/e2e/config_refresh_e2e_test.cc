// The in-process config refresh through the real binary, against a local HTTP server on
// 127.0.0.1 (tests/e2e/config_http_server.py): a changed config is picked up without a
// restart, broken downloads keep the running config and are counted, downloads go through a
// SOCKS5 proxy (microsocks), and tools/run.sh falls back to direct mode when nothing can be
// fetched. Every URL points to 127.0.0.1: no test reaches core.telegram.org.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "proto/rpc_messages.h"
#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/loopback_echo.h"
#include "tests/e2e/proxy_process.h"
#include "tests/tools/child_process.h"

namespace mtp {
namespace {

using e2e::EchoFrame;
using e2e::HttpBody;
using e2e::HttpGet;
using e2e::MetricValue;
using e2e::ProxyProcess;
using e2e::SharedDir;
using e2e::StatsInt;
using testing_peers::FakeMe;
using testing_peers::TestClient;

std::string SourceRoot() {
  const char* root = getenv("MTP_SOURCE_ROOT");
  return root != nullptr ? root : ".";
}

int CountRequests(FakeMe& me) {
  int n = 0;
  for (const auto& e : me.Events()) n += e.type == kRpcProxyReq ? 1 : 0;
  return n;
}

// Three DCs on one middle-end: enough proxy_for lines for the refresh's lower bound (3).
std::string ConfigFor(uint16_t me_port) {
  const std::string p = std::to_string(me_port);
  return "min_connections 1;\nmax_connections 2;\ndefault 2;\nproxy_for 1 127.0.0.1:" + p +
         ";\nproxy_for 2 127.0.0.1:" + p + ";\nproxy_for 3 127.0.0.1:" + p + ";\n";
}

class ConfigServer {
 public:
  ConfigServer() {
    auto child = tools::ChildProcess::Spawn(
        {"/usr/bin/python3", SourceRoot() + "/tests/e2e/config_http_server.py", files_.path()});
    if (!child.ok()) return;
    child_.emplace(*std::move(child));
    auto port = child_->ReadListeningPort(10000);
    if (port.ok()) port_ = static_cast<uint16_t>(*port);
  }
  uint16_t port() const { return port_; }
  std::string Url(const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + name;
  }
  void Put(const std::string& name, const std::string& body) { files_.Write(name, body); }
  void Remove(const std::string& name) { unlink(files_.Path(name).c_str()); }

 private:
  SharedDir files_;
  std::optional<tools::ChildProcess> child_;
  uint16_t port_ = 0;
};

class ConfigRefreshE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(server_.port(), 0) << "config_http_server.py did not start";
    server_.Put("getProxySecret", e2e::ProxySecretText());
  }
  std::vector<std::string> RefreshArgs(int interval_s = 1) {
    return {"--config-refresh-interval", std::to_string(interval_s), "--config-url",
            server_.Url("getProxyConfig"), "--secret-url", server_.Url("getProxySecret"),
            "--config-cache-dir", dir_.path()};
  }
  std::unique_ptr<ProxyProcess> Start(const ClientSecret& secret, std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", "0", "-p", "0", "--http-stats", "--shards", "1",
                                     "--msg-buffers-size", "64m", "--drain-timeout", "1",
                                     "-S", e2e::Hex(secret)};
    args.insert(args.end(), extra.begin(), extra.end());
    return ProxyProcess::Start(args);
  }
  std::string Metrics(uint16_t stats_port) {
    return HttpBody(HttpGet(stats_port, "/metrics"));
  }
  double Failures(uint16_t stats_port, const std::string& reason) {
    return MetricValue(Metrics(stats_port),
                       "mtproxy_config_refresh_failures_total{reason=\"" + reason + "\"}")
        .value_or(-1);
  }

  ConfigServer server_;
  SharedDir dir_;
};

TEST_F(ConfigRefreshE2eTest, StartsWithoutFilesAndPicksUpANewMiddleEndWithoutRestart) {
  const std::vector<uint8_t> proxy_secret = e2e::ProxySecretBytes();
  FakeMe old_me(proxy_secret);
  FakeMe new_me(proxy_secret);
  server_.Put("getProxyConfig", ConfigFor(old_me.port()));
  const ClientSecret secret = e2e::MakeSecret(4);
  // No proxy-multi.conf or proxy-secret yet: the first download happens before they are read.
  auto proxy = Start(secret, RefreshArgs());
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(dir_.Read("proxy-multi.conf"), ConfigFor(old_me.port()));
  EXPECT_EQ(dir_.Read("proxy-secret"), e2e::ProxySecretText());
  // Safe defaults: without -c the cap comes from memory and is stated (control/conn_limits.h).
  EXPECT_TRUE(proxy->LogContains("no -c: connection cap ")) << proxy->Log();
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  ASSERT_TRUE(e2e::WaitFor([&] { return old_me.links_ready() >= 1; }, 8000)) << proxy->Log();
  auto before = TestClient::Connect(proxy->port(), &secret, Transport::kIntermediate, 2);
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(EchoFrame(*before, 300, 1));
  EXPECT_EQ(CountRequests(old_me), 1);

  // Telegram publishes a new list: the proxy reloads it by itself.
  server_.Put("getProxyConfig", ConfigFor(new_me.port()));
  ASSERT_TRUE(e2e::WaitFor(
      [&] { return proxy->LogContains("config refresh: configuration file"); }, 10000))
      << proxy->Log();
  ASSERT_TRUE(e2e::WaitFor([&] { return new_me.links_ready() >= 1; }, 8000)) << proxy->Log();
  auto after = TestClient::Connect(proxy->port(), &secret, Transport::kAbridged, 2);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(EchoFrame(*after, 500, 2));
  EXPECT_EQ(CountRequests(new_me), 1);
  EXPECT_TRUE(EchoFrame(*before, 300, 3));  // the established client was not dropped
  EXPECT_EQ(dir_.Read("proxy-multi.conf"), ConfigFor(new_me.port()));

  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  EXPECT_EQ(StatsInt(stats, "config_refresh_interval"), 1) << stats;
  EXPECT_GE(StatsInt(stats, "config_refresh_installed").value_or(0), 2) << stats;
  EXPECT_EQ(StatsInt(stats, "config_refresh_target_lines"), 3) << stats;
  EXPECT_EQ(StatsInt(stats, "config_refresh_failed"), 0) << stats;
  std::string metrics = Metrics(*stats_port);
  EXPECT_GE(MetricValue(metrics, "mtproxy_config_reloads_total{result=\"ok\"}").value_or(0), 1)
      << metrics;
  EXPECT_GE(MetricValue(metrics, "mtproxy_config_refresh_total{result=\"ok\"}").value_or(0), 2);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_F(ConfigRefreshE2eTest, BrokenDownloadsKeepTheRunningConfigAndAreCounted) {
  const std::vector<uint8_t> proxy_secret = e2e::ProxySecretBytes();
  FakeMe me(proxy_secret);
  FakeMe decoy(proxy_secret);  // named only by the rejected "too few targets" file
  const std::string good = ConfigFor(me.port());
  server_.Put("getProxyConfig", good);
  const ClientSecret secret = e2e::MakeSecret(6);
  std::vector<std::string> args = RefreshArgs();
  args.insert(args.end(), {"--config-fetch-timeout", "1"});
  auto proxy = Start(secret, args);
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  ASSERT_TRUE(e2e::WaitFor([&] { return me.links_ready() >= 1; }, 8000)) << proxy->Log();
  auto client = TestClient::Connect(proxy->port(), &secret, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(EchoFrame(*client, 200, 1));

  struct Case {
    const char* reason;
    std::function<void()> break_it;
    std::function<void()> undo;
  };
  const std::vector<Case> cases = {
      {"bad_config", [&] { server_.Put("getProxyConfig", "<html>captive portal</html>\n"); },
       [&] { server_.Put("getProxyConfig", good); }},
      {"target_count",
       [&] {
         server_.Put("getProxyConfig", "default 2;\nproxy_for 2 127.0.0.1:" +
                                           std::to_string(decoy.port()) + ";\n");
       },
       [&] { server_.Put("getProxyConfig", good); }},
      {"http_status", [&] { server_.Put("getProxyConfig.status", "500"); },
       [&] { server_.Remove("getProxyConfig.status"); }},
      {"timeout", [&] { server_.Put("getProxyConfig.delay", "3"); },
       [&] { server_.Remove("getProxyConfig.delay"); }},
      {"bad_secret", [&] { server_.Put("getProxySecret", "short"); },
       [&] { server_.Put("getProxySecret", e2e::ProxySecretText()); }},
  };
  for (const Case& c : cases) {
    c.break_it();
    EXPECT_TRUE(e2e::WaitFor([&] { return Failures(*stats_port, c.reason) >= 1; }, 15000))
        << c.reason << "\n"
        << Metrics(*stats_port);
    c.undo();
    // The last good copy stays on disk and in use.
    EXPECT_EQ(dir_.Read("proxy-multi.conf"), good) << c.reason;
    EXPECT_EQ(dir_.Read("proxy-secret"), e2e::ProxySecretText()) << c.reason;
  }
  EXPECT_TRUE(proxy->LogContains("config refresh failed (bad_config)")) << proxy->Log();
  EXPECT_TRUE(proxy->LogContains("config refresh failed (timeout)"));
  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  EXPECT_GE(StatsInt(stats, "config_refresh_failed").value_or(0), 5) << stats;
  EXPECT_GE(StatsInt(stats, "config_refresh_failed_http_status").value_or(0), 1) << stats;
  // Nothing was swapped in: the start-up configuration is the only one loaded.
  EXPECT_EQ(MetricValue(Metrics(*stats_port), "mtproxy_config_reloads_total{result=\"ok\"}"), 0);
  EXPECT_EQ(decoy.links_ready(), 0);
  EXPECT_TRUE(EchoFrame(*client, 300, 2));
  auto fresh = TestClient::Connect(proxy->port(), &secret, Transport::kAbridged, 2);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(EchoFrame(*fresh, 400, 3));
  EXPECT_EQ(CountRequests(me), 3);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_F(ConfigRefreshE2eTest, DownloadsThroughASocks5Proxy) {
  if (access("/usr/bin/microsocks", X_OK) != 0) GTEST_SKIP() << "microsocks is not installed";
  server_.Put("getProxyConfig", ConfigFor(1234));
  const uint16_t socks_port = e2e::UnusedLoopbackPort();
  auto socks = tools::ChildProcess::Spawn(
      {"/usr/bin/microsocks", "-i", "127.0.0.1", "-p", std::to_string(socks_port)});
  ASSERT_TRUE(socks.ok());
  auto fetch = [&](uint16_t proxy_port) {
    return e2e::RunProxyToExit(
        {"--fetch-config", "--config-proxy", "socks5h://127.0.0.1:" + std::to_string(proxy_port),
         "--config-url", server_.Url("getProxyConfig"), "--secret-url",
         server_.Url("getProxySecret"), "--config-cache-dir", dir_.path(),
         "--config-fetch-timeout", "5"},
        15000);
  };
  // microsocks may take a moment to listen.
  e2e::RunResult ok;
  ASSERT_TRUE(e2e::WaitFor([&] { return (ok = fetch(socks_port)).exit_code == 0; }, 10000))
      << ok.output;
  EXPECT_NE(ok.output.find("updated"), std::string::npos) << ok.output;
  EXPECT_EQ(dir_.Read("proxy-multi.conf"), ConfigFor(1234));
  // The proxy setting is really used: a dead proxy fails the same download.
  e2e::RunResult dead = fetch(e2e::UnusedLoopbackPort());
  EXPECT_EQ(dead.exit_code, 1) << dead.output;
  EXPECT_NE(dead.output.find("cannot fetch the config (network)"), std::string::npos)
      << dead.output;
}

// tools/run.sh without network: the URLs point at a closed 127.0.0.1 port.
TEST_F(ConfigRefreshE2eTest, RunShFallsBackToDirectModeWhenTheConfigCannotBeFetched) {
  const std::string closed = "http://127.0.0.1:" + std::to_string(e2e::UnusedLoopbackPort());
  setenv("MTP_RUN_BIN", e2e::ProxyBinaryPath().c_str(), 1);
  setenv("MTP_RUN_DIR", dir_.path().c_str(), 1);
  auto run = tools::ChildProcess::Spawn(
      {"/bin/bash", "-c",
       "cd \"$MTP_SOURCE_ROOT\" && exec tools/run.sh --port 0 --stats-port 0 --config-url " +
           closed + "/getProxyConfig --secret-url " + closed + "/getProxySecret 2>&1"});
  unsetenv("MTP_RUN_BIN");
  unsetenv("MTP_RUN_DIR");
  ASSERT_TRUE(run.ok()) << run.status();
  std::string seen;
  bool listening = false;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto line = run->ReadLineWithPrefix("", 200);
        if (line.ok()) seen += *line + "\n";
        listening = seen.find("listening on port") != std::string::npos;
        return listening;
      },
      20000))
      << seen;
  EXPECT_NE(seen.find("WARNING: falling back to direct mode: cannot fetch Telegram's config"),
            std::string::npos)
      << seen;
  EXPECT_NE(seen.find("(network)"), std::string::npos) << seen;  // it says why
  EXPECT_NE(seen.find("mode: direct to the Telegram DCs"), std::string::npos) << seen;
  EXPECT_NE(seen.find("upstream direct to DCs"), std::string::npos) << seen;
  run->Signal(SIGTERM);
  auto code = run->Wait(15000);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

// tools/run.sh with the config reachable: middle-end mode, refreshed.
TEST_F(ConfigRefreshE2eTest, RunShDefaultsToMiddleEndModeWithRefresh) {
  const std::vector<uint8_t> proxy_secret = e2e::ProxySecretBytes();
  FakeMe me(proxy_secret);
  server_.Put("getProxyConfig", ConfigFor(me.port()));
  setenv("MTP_RUN_BIN", e2e::ProxyBinaryPath().c_str(), 1);
  setenv("MTP_RUN_DIR", dir_.path().c_str(), 1);
  auto run = tools::ChildProcess::Spawn(
      {"/bin/bash", "-c",
       "cd \"$MTP_SOURCE_ROOT\" && exec tools/run.sh --port 0 --stats-port 0 --refresh 3600 "
       "--config-url " + server_.Url("getProxyConfig") + " --secret-url " +
           server_.Url("getProxySecret") + " 2>&1"});
  unsetenv("MTP_RUN_BIN");
  unsetenv("MTP_RUN_DIR");
  ASSERT_TRUE(run.ok()) << run.status();
  std::string seen;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto line = run->ReadLineWithPrefix("", 200);
        if (line.ok()) seen += *line + "\n";
        return seen.find("main loop") != std::string::npos;
      },
      20000))
      << seen;
  EXPECT_NE(seen.find("mode: middle-ends"), std::string::npos) << seen;
  EXPECT_NE(seen.find("refreshed every 3600s"), std::string::npos) << seen;
  EXPECT_NE(seen.find("config refresh every 3600 s"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("WARNING"), std::string::npos) << seen;
  EXPECT_TRUE(e2e::WaitFor([&] { return me.links_ready() >= 1; }, 8000)) << seen;
  run->Signal(SIGTERM);
  auto code = run->Wait(15000);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace mtp
