// SIGHUP under traffic: established clients keep flowing through the middle-end they were
// bound to, new clients use the new middle-ends, secrets from the secret file change, and a
// broken file keeps the running configuration and is reported in /metrics.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/hex.h"
#include "crypto/hash.h"
#include "proto/rpc_messages.h"
#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/loopback_echo.h"
#include "tests/e2e/proxy_process.h"

namespace mtp {
namespace {

using e2e::EchoFrame;
using e2e::HttpBody;
using e2e::HttpGet;
using e2e::MetricValue;
using e2e::ProxyProcess;
using e2e::SharedDir;
using e2e::StatsField;
using e2e::StatsInt;
using testing_peers::FakeMe;
using testing_peers::TestClient;

std::string Md5Hex(const std::vector<uint8_t>& bytes) {
  return HexEncode(Md5(ByteSpan(bytes.data(), bytes.size())));
}

int CountRequests(FakeMe& me) {
  int n = 0;
  for (const auto& e : me.Events()) n += e.type == kRpcProxyReq ? 1 : 0;
  return n;
}

class ReloadE2eTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    aes_pwd_ = dir_.Write("proxy-secret", e2e::ProxySecretText());
  }

  std::unique_ptr<ProxyProcess> Start(const std::string& config, std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", "0", "-p", "0", "--http-stats", "--shards", "2",
                                     "--io-backend", GetParam(), "--aes-pwd", aes_pwd_,
                                     "--msg-buffers-size", "64m",
                                     "--drain-timeout", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(dir_.Write("proxy-multi.conf", config));
    return ProxyProcess::Start(args);
  }


  // SIGHUP, then wait for one more line with the outcome it must log.
  bool Reload(ProxyProcess& proxy, const std::string& expect_in_log) {
    const int before = e2e::CountOf(proxy.Log(), expect_in_log);
    proxy.Signal(SIGHUP);
    return e2e::WaitFor([&] { return e2e::CountOf(proxy.Log(), expect_in_log) > before; }, 5000);
  }


  SharedDir dir_;
  std::string aes_pwd_;
};

TEST_P(ReloadE2eTest, NewTargetsForNewClientsEstablishedOnesKeepFlowing) {
  std::vector<uint8_t> secret = e2e::ProxySecretBytes();
  FakeMe old_me(secret);
  FakeMe new_me(secret);
  const ClientSecret client_secret = e2e::MakeSecret(9);
  auto proxy = Start(e2e::ConfigFor(old_me.port()), {"-S", e2e::Hex(client_secret)});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(e2e::WaitFor([&] { return old_me.links_ready() >= 2; }, 8000));
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());

  // Two established clients, bound to the old middle-end.
  std::vector<TestClient> established;
  for (int i = 0; i < 2; ++i) {
    auto c = TestClient::Connect(proxy->port(), &client_secret, Transport::kIntermediate, 2);
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(EchoFrame(*c, 300, static_cast<uint8_t>(i)));
    established.push_back(std::move(*c));
  }
  // A third one keeps echoing without pause while the reloads happen.
  auto pumped = TestClient::Connect(proxy->port(), &client_secret, Transport::kAbridged, 2);
  ASSERT_TRUE(pumped.has_value());
  std::atomic<bool> pump_stop{false};
  std::atomic<int> pump_ok{0};
  std::atomic<int> pump_failed{0};
  std::thread pump([&] {
    for (uint8_t seed = 0; !pump_stop.load() && pump_failed.load() == 0; ++seed) {
      (EchoFrame(*pumped, 200 + 4 * (seed % 32), seed) ? pump_ok : pump_failed).fetch_add(1);
    }
  });
  ASSERT_TRUE(e2e::WaitFor([&] { return pump_ok.load() >= 5; }, 5000));

  // A broken file first (kept running), then the new file naming only the new middle-end.
  dir_.Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:1\n");
  ASSERT_TRUE(Reload(*proxy, "configuration not reloaded")) << proxy->Log();
  dir_.Write("proxy-multi.conf", e2e::ConfigFor(new_me.port()));
  ASSERT_TRUE(Reload(*proxy, "re-read successfully")) << proxy->Log();
  ASSERT_TRUE(e2e::WaitFor([&] { return new_me.links_ready() >= 2; }, 8000));
  const int pumped_at_reload = pump_ok.load();
  ASSERT_TRUE(e2e::WaitFor([&] { return pump_ok.load() >= pumped_at_reload + 5; }, 5000));
  pump_stop = true;
  pump.join();
  EXPECT_EQ(pump_failed.load(), 0);
  pumped.reset();

  // The removed middle-end is an inactive target while its links still serve clients.
  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  EXPECT_EQ(StatsInt(stats, "total_declared_targets"), 1) << stats;
  EXPECT_EQ(StatsInt(stats, "total_inactive_targets"), 1) << stats;
  EXPECT_EQ(StatsInt(stats, "total_allocated_targets"), 2) << stats;
  std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
  EXPECT_GE(MetricValue(metrics, "mtproxy_me_links{state=\"draining\"}").value_or(0), 1)
      << metrics;
  const int old_before = CountRequests(old_me);

  // Established clients were not dropped and still go through the old middle-end.
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < established.size(); ++i) {
      EXPECT_TRUE(EchoFrame(established[i], 1000 + 100 * round, static_cast<uint8_t>(round + i)))
          << "client " << i << " round " << round;
    }
  }
  EXPECT_EQ(CountRequests(old_me), old_before + 6);
  // A new client is served by the new middle-end.
  auto fresh = TestClient::Connect(proxy->port(), &client_secret, Transport::kPadded, 2);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(EchoFrame(*fresh, 4000, 77));
  EXPECT_EQ(CountRequests(new_me), 1);
  EXPECT_EQ(CountRequests(old_me), old_before + 6);

  // Once its clients are gone, the links to the removed middle-end are closed.
  established.clear();
  EXPECT_TRUE(e2e::WaitFor(
      [&] { return proxy->LogContains("target removed by a reload, its clients are gone"); },
      5000))
      << proxy->Log();

  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        stats = HttpBody(HttpGet(*stats_port, "/stats"));
        return StatsInt(stats, "total_inactive_targets") == 0;
      },
      5000))
      << stats;
  EXPECT_EQ(StatsInt(stats, "total_declared_targets"), 1);
  EXPECT_EQ(StatsInt(stats, "total_allocated_targets"), 1);
  metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
  EXPECT_EQ(MetricValue(metrics, "mtproxy_config_reloads_total{result=\"ok\"}"), 1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_config_reloads_total{result=\"failed\"}"), 1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_me_links{state=\"draining\"}"), 0);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_P(ReloadE2eTest, BrokenFilesKeepTheRunningConfigAndAreReported) {
  std::vector<uint8_t> secret = e2e::ProxySecretBytes();
  FakeMe me(secret);
  const ClientSecret client_secret = e2e::MakeSecret(3);
  auto proxy = Start(e2e::ConfigFor(me.port()), {"-S", e2e::Hex(client_secret)});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(e2e::WaitFor([&] { return me.links_ready() >= 2; }, 8000));
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  auto before = TestClient::Connect(proxy->port(), &client_secret, Transport::kIntermediate, 2);
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(EchoFrame(*before, 100, 1));

  // A syntax error (missing ';').
  dir_.Write("proxy-multi.conf", "proxy_for 2 127.0.0.1:1\n");
  ASSERT_TRUE(Reload(*proxy, "configuration not reloaded")) << proxy->Log();
  EXPECT_TRUE(proxy->LogContains("; expected"));
  // An unresolvable host.
  dir_.Write("proxy-multi.conf", "proxy_for 2 no-such-host-mtproxy-ng:443;\n");
  ASSERT_TRUE(Reload(*proxy, "configuration not reloaded")) << proxy->Log();
  // A proxy secret of the wrong size.
  dir_.Write("proxy-multi.conf", e2e::ConfigFor(me.port()));
  dir_.Write("proxy-secret", "short");
  ASSERT_TRUE(Reload(*proxy, "configuration not reloaded")) << proxy->Log();

  std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
  EXPECT_EQ(MetricValue(metrics, "mtproxy_config_reloads_total{result=\"failed\"}"), 3);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_config_reloads_total{result=\"ok\"}"), 0);
  // Everything still runs on the start-up configuration.
  EXPECT_TRUE(EchoFrame(*before, 200, 2));
  auto after = TestClient::Connect(proxy->port(), &client_secret, Transport::kAbridged, 2);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(EchoFrame(*after, 400, 3));
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_P(ReloadE2eTest, SecretFileChangesApplyToNewClients) {
  std::vector<uint8_t> secret = e2e::ProxySecretBytes();
  FakeMe me(secret);
  const ClientSecret first = e2e::MakeSecret(20);
  const ClientSecret second = e2e::MakeSecret(40);
  const ClientSecret fixed = e2e::MakeSecret(60);  // -S: stays across reloads
  std::string secrets_file = dir_.Write("secrets", e2e::Hex(first) + "\n");
  auto proxy = Start(e2e::ConfigFor(me.port()),
                     {"-S", e2e::Hex(fixed), "--mtproto-secret-file", secrets_file});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(e2e::WaitFor([&] { return me.links_ready() >= 2; }, 8000));
  auto with_first = TestClient::Connect(proxy->port(), &first, Transport::kIntermediate, 2);
  ASSERT_TRUE(with_first.has_value());
  ASSERT_TRUE(EchoFrame(*with_first, 100, 1));

  dir_.Write("secrets", "# rotated\ndd" + e2e::Hex(second) + "\n");
  ASSERT_TRUE(Reload(*proxy, "re-read successfully")) << proxy->Log();
  // The established client keeps its keys.
  EXPECT_TRUE(EchoFrame(*with_first, 200, 2));
  // New clients: the new secret and the -S one work, the removed one gets skip mode.
  auto with_second = TestClient::Connect(proxy->port(), &second, Transport::kPadded, 2);
  ASSERT_TRUE(with_second.has_value());
  EXPECT_TRUE(EchoFrame(*with_second, 300, 3));
  auto with_fixed = TestClient::Connect(proxy->port(), &fixed, Transport::kIntermediate, 2);
  ASSERT_TRUE(with_fixed.has_value());
  EXPECT_TRUE(EchoFrame(*with_fixed, 300, 4));
  auto stale = TestClient::Connect(proxy->port(), &first, Transport::kIntermediate, 2);
  ASSERT_TRUE(stale.has_value());
  ASSERT_TRUE(stale->SendFrame(e2e::Message(100, 5)));
  EXPECT_TRUE(stale->StaysSilent(500));

  // A broken secrets file keeps the secrets in use, and says why.
  dir_.Write("secrets", e2e::Hex(first) + "\nnot-a-secret\n");
  ASSERT_TRUE(Reload(*proxy, "configuration not reloaded")) << proxy->Log();
  EXPECT_TRUE(proxy->LogContains("line 2")) << proxy->Log();
  auto still_second = TestClient::Connect(proxy->port(), &second, Transport::kIntermediate, 2);
  ASSERT_TRUE(still_second.has_value());
  EXPECT_TRUE(EchoFrame(*still_second, 300, 6));
  auto still_stale = TestClient::Connect(proxy->port(), &first, Transport::kIntermediate, 2);
  ASSERT_TRUE(still_stale.has_value());
  ASSERT_TRUE(still_stale->SendFrame(e2e::Message(100, 7)));
  EXPECT_TRUE(still_stale->StaysSilent(500));
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_P(ReloadE2eTest, ProxySecretRotationReachesNewMiddleEnds) {
  std::vector<uint8_t> old_secret = e2e::ProxySecretBytes();
  std::vector<uint8_t> new_secret = old_secret;
  for (uint8_t& b : new_secret) b ^= 0x5a;
  FakeMe old_me(old_secret);
  FakeMe new_me(new_secret);  // completes handshakes made with the new proxy secret only
  const ClientSecret client_secret = e2e::MakeSecret(30);
  auto proxy = Start(e2e::ConfigFor(old_me.port()), {"-S", e2e::Hex(client_secret)});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(e2e::WaitFor([&] { return old_me.links_ready() >= 2; }, 8000));
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  EXPECT_EQ(StatsField(HttpBody(HttpGet(*stats_port, "/stats")), "aes_pwd_hash"),
            Md5Hex(old_secret));
  auto before = TestClient::Connect(proxy->port(), &client_secret, Transport::kIntermediate, 2);
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(EchoFrame(*before, 100, 1));

  dir_.Write("proxy-secret", std::string(new_secret.begin(), new_secret.end()));
  dir_.Write("proxy-multi.conf", e2e::ConfigFor(new_me.port()));
  ASSERT_TRUE(Reload(*proxy, "re-read successfully")) << proxy->Log();
  ASSERT_TRUE(e2e::WaitFor([&] { return new_me.links_ready() >= 2; }, 8000)) << proxy->Log();
  EXPECT_EQ(StatsField(HttpBody(HttpGet(*stats_port, "/stats")), "aes_pwd_hash"),
            Md5Hex(new_secret));
  // The established client still uses its link to the old middle-end; a new one the new.
  EXPECT_TRUE(EchoFrame(*before, 200, 2));
  auto after = TestClient::Connect(proxy->port(), &client_secret, Transport::kIntermediate, 2);
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(EchoFrame(*after, 300, 3));
  EXPECT_EQ(CountRequests(new_me), 1);
  EXPECT_EQ(proxy->Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReloadE2eTest, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace mtp
