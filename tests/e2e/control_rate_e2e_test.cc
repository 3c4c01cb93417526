// --max-accept-rate and --max-dh-accept-rate on the real binary: connections within the rate
// are all served, a burst above it is cut to the bucket, and refusals are counted in /stats
// and /metrics. Bounds are computed from the measured elapsed time, never asserted on it.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/fake_me_proxy_fixture.h"
#include "tests/e2e/loopback_echo.h"
#include "tests/e2e/proxy_process.h"

namespace mtp {
namespace {

using e2e::EchoFrame;
using e2e::HttpBody;
using e2e::HttpGet;
using e2e::MetricValue;
using e2e::ProxyProcess;
using e2e::StatsInt;
using testing_peers::FakeMe;
using testing_peers::TestClient;

class RateE2eTest : public e2e::FakeMeProxyTest {
 protected:
  std::unique_ptr<ProxyProcess> Start(std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", "0", "-p", "0", "--http-stats", "-S",
                                     e2e::Hex(secret_), "--msg-buffers-size", "64m"};
    args.insert(args.end(), extra.begin(), extra.end());
    int shards = 1;
    for (size_t i = 0; i + 1 < extra.size(); ++i) {
      if (extra[i] == "--shards") shards = std::stoi(extra[i + 1]);
    }
    return StartBehindFakeMe(args, shards);
  }

  // One client: connect, handshake, one echoed frame. False if the proxy refused it. A refused
  // client sees its connection closed at once; the long wait is for a served one's echo on a
  // slow (sanitizer) build, where a miss would count a served client as refused.
  bool Served(uint16_t port, uint8_t seed) {
    auto client = TestClient::Connect(port, &secret_, Transport::kIntermediate, 2);
    return client && EchoFrame(*client, 64, seed, 10000);
  }

  // `burst` clients back to back against a full bucket of `rate` per second: how many were
  // served, expected to be at least the bucket and at most the bucket plus what refilled while
  // they ran.
  int ServeBurst(uint16_t port, int burst, int rate) {
    // Let the bucket fill (it starts full, this only guards a slow start-up).
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    int served = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < burst; ++i) served += Served(port, static_cast<uint8_t>(i)) ? 1 : 0;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GE(served, rate);
    // The control thread hands out refilled tokens at its ticks: half a second of slack for a
    // tick that a loaded machine delays across the start of the burst.
    EXPECT_LE(served, rate + static_cast<int>(rate * (elapsed + 0.5)) + 1)
        << "elapsed " << elapsed;
    return served;
  }

  const ClientSecret secret_ = e2e::MakeSecret(5);
};

TEST_F(RateE2eTest, AcceptRateCutsABurstToTheBucketAndCountsRefusals) {
  // One shard, then two sharing the process-wide bucket: together they never exceed it.
  for (int shards : {1, 2}) {
    SCOPED_TRACE(shards);
    constexpr int kRate = 5;
    me_ = std::make_unique<FakeMe>(e2e::ProxySecretBytes());
    auto proxy = Start({"--shards", std::to_string(shards), "--max-accept-rate",
                        std::to_string(kRate)});
    ASSERT_NE(proxy, nullptr);
    auto stats_port = e2e::StatsPort(*proxy);
    ASSERT_TRUE(stats_port.has_value());
    constexpr int kBurst = 20;
    const int served = ServeBurst(proxy->port(), kBurst, kRate);
    std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
    EXPECT_EQ(StatsInt(stats, "max_accept_rate"), kRate);
    EXPECT_EQ(StatsInt(stats, "accept_rate_limit_failed"), kBurst - served);
    EXPECT_EQ(StatsInt(stats, "inbound_connections_accepted"), served);
    std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
    EXPECT_EQ(MetricValue(metrics, "mtproxy_rate_limit_refusals_total{kind=\"accept\"}"),
              kBurst - served);
    EXPECT_EQ(proxy->Stop(), 0);
  }
}

TEST_F(RateE2eTest, ConnectionsWithinTheRateAreNeverRefused) {
  // Two shards share the process-wide budget; 8 connections paced at ~5/s against 20/s.
  auto proxy = Start({"--shards", "2", "--max-accept-rate", "20", "--max-dh-accept-rate", "20"});
  ASSERT_NE(proxy, nullptr);
  auto stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(Served(proxy->port(), static_cast<uint8_t>(i))) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  EXPECT_EQ(StatsInt(stats, "accept_rate_limit_failed"), 0);
  std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
  EXPECT_EQ(MetricValue(metrics, "mtproxy_rate_limit_refusals_total{kind=\"handshake\"}"), 0);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_F(RateE2eTest, HandshakeRateCutsABurstAndCountsRefusals) {
  for (int shards : {1, 2}) {
    SCOPED_TRACE(shards);
    constexpr int kRate = 4;
    me_ = std::make_unique<FakeMe>(e2e::ProxySecretBytes());
    auto proxy = Start({"--shards", std::to_string(shards), "--max-dh-accept-rate",
                        std::to_string(kRate)});
    ASSERT_NE(proxy, nullptr);
    auto stats_port = e2e::StatsPort(*proxy);
    ASSERT_TRUE(stats_port.has_value());
    constexpr int kBurst = 16;
    const int served = ServeBurst(proxy->port(), kBurst, kRate);
    std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
    // Every connection was accepted; the refused ones were closed at their handshake.
    EXPECT_EQ(StatsInt(stats, "inbound_connections_accepted"), kBurst);
    EXPECT_EQ(StatsInt(stats, "accept_rate_limit_failed"), 0);
    std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
    EXPECT_EQ(MetricValue(metrics, "mtproxy_rate_limit_refusals_total{kind=\"handshake\"}"),
              kBurst - served);
    EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"rate_limited\"}"),
              kBurst - served);
    EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"ok\"}"), served);
    EXPECT_EQ(proxy->Stop(), 0);
  }
}

}  // namespace
}  // namespace mtp
