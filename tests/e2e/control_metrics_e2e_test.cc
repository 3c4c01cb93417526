// /metrics and the log through the real binary: per-secret series (labelled by index, the
// secret never appears), traffic each way, handshakes by outcome and rejection reason agree
// with what the test sent; -v levels change what is logged and every line carries a timestamp
// and a level.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
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

class MetricsE2eTest : public e2e::FakeMeProxyTest {
 protected:
  std::unique_ptr<ProxyProcess> Start(std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", "0", "-p", "0", "--http-stats", "--shards", "2",
                                     "--msg-buffers-size", "64m", "--drain-timeout", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartBehindFakeMe(args, 2);
  }
};

TEST_F(MetricsE2eTest, PerSecretSeriesTrafficAndHandshakesAgreeWithTheTraffic) {
  const ClientSecret first = e2e::MakeSecret(71);
  const ClientSecret second = e2e::MakeSecret(72);
  const ClientSecret unknown = e2e::MakeSecret(73);
  auto proxy = Start({"-S", e2e::Hex(first), "-S", e2e::Hex(second)});
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());

  // Secret 0: two clients, 3 frames of 1000 bytes each. Secret 1: one client, 2 frames of 500.
  {
    std::vector<TestClient> clients;
    for (int i = 0; i < 2; ++i) {
      auto c = TestClient::Connect(proxy->port(), &first, Transport::kIntermediate, 2);
      ASSERT_TRUE(c.has_value());
      for (int f = 0; f < 3; ++f) ASSERT_TRUE(EchoFrame(*c, 1000, static_cast<uint8_t>(10 * i + f)));
      clients.push_back(std::move(*c));
    }
    auto c = TestClient::Connect(proxy->port(), &second, Transport::kPadded, 2);
    ASSERT_TRUE(c.has_value());
    for (int f = 0; f < 2; ++f) ASSERT_TRUE(EchoFrame(*c, 500, static_cast<uint8_t>(50 + f)));
    clients.push_back(std::move(*c));

    // While they are open: the per-secret gauge.
    std::string metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
    EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_active_connections{secret=\"0\"}"), 2);
    EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_active_connections{secret=\"1\"}"), 1);
  }
  // A client with a secret the proxy does not know: skip mode, a rejection.
  auto stranger = TestClient::Connect(proxy->port(), &unknown, Transport::kIntermediate, 2);
  ASSERT_TRUE(stranger.has_value());
  ASSERT_TRUE(stranger->SendFrame(e2e::Message(100, 1)));
  EXPECT_TRUE(stranger->StaysSilent(300));
  stranger.reset();

  std::string metrics;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
        return MetricValue(metrics, "mtproxy_client_connections") == 0 &&
               MetricValue(metrics, "mtproxy_bindings") == 0 &&
               MetricValue(metrics, "mtproxy_me_links{state=\"connecting\"}") == 0;
      },
      5000))
      << metrics;

  EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_connections_total{secret=\"0\"}"), 2);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_connections_total{secret=\"1\"}"), 1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_active_connections{secret=\"0\"}"), 0);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_secret_active_connections{secret=\"1\"}"), 0);
  // The 64-byte header, then intermediate framing: a 4-byte length per frame; padded
  // intermediate adds up to 15 bytes of padding.
  const double from_first =
      MetricValue(metrics,
                  "mtproxy_secret_bytes_total{secret=\"0\",direction=\"from_clients\"}")
          .value_or(-1);
  EXPECT_EQ(from_first, 2 * 64 + 6 * 1004);
  const double to_first =
      MetricValue(metrics, "mtproxy_secret_bytes_total{secret=\"0\",direction=\"to_clients\"}")
          .value_or(-1);
  EXPECT_EQ(to_first, 6 * 1004);
  const double from_second =
      MetricValue(metrics,
                  "mtproxy_secret_bytes_total{secret=\"1\",direction=\"from_clients\"}")
          .value_or(-1);
  EXPECT_GE(from_second, 64 + 2 * 504);
  EXPECT_LE(from_second, 64 + 2 * (504 + 15));
  EXPECT_GE(MetricValue(metrics,
                        "mtproxy_secret_bytes_total{secret=\"1\",direction=\"to_clients\"}")
                .value_or(-1),
            2 * 504);
  // Labelled by index only: neither secret appears anywhere in either endpoint.
  std::string stats = HttpBody(HttpGet(*stats_port, "/stats"));
  for (const ClientSecret* s : {&first, &second}) {
    EXPECT_EQ(metrics.find(e2e::Hex(*s)), std::string::npos);
    EXPECT_EQ(stats.find(e2e::Hex(*s)), std::string::npos);
  }

  // Buffer figures in the reference's units: --msg-buffers-size 64m = 32 chunks of 2 MiB - 64.
  EXPECT_EQ(StatsInt(stats, "max_allocated_buffer_bytes"), 64 << 20);
  EXPECT_EQ(StatsInt(stats, "max_buffer_chunks"), 32);
  EXPECT_EQ(StatsInt(stats, "total_network_buffer_chunks_allocated"), 32);
  // Summed over the two shards: 8 frames, 3 bindings.
  EXPECT_EQ(StatsInt(stats, "tot_forwarded_queries"), 8);
  EXPECT_EQ(StatsInt(stats, "tot_forwarded_responses"), 8);
  EXPECT_EQ(StatsInt(stats, "ext_connections_created"), 3);
  EXPECT_EQ(StatsInt(stats, "inbound_connections_accepted"), 4);
  // Every connection numbered: 4 clients and the middle-end connections made so far.
  EXPECT_EQ(StatsInt(stats, "conn_generation"),
            4 + StatsInt(stats, "outbound_connections_created").value_or(-100));

  // Packets each way: 8 frames in, 8 answers out, 8 requests to the ME and 8 answers back.
  for (const char* direction : {"from_clients", "to_clients", "to_upstream", "from_upstream"}) {
    EXPECT_EQ(MetricValue(metrics, std::string("mtproxy_packets_total{direction=\"") +
                                       direction + "\"}"),
              8)
        << direction;
  }
  EXPECT_EQ(MetricValue(metrics, "mtproxy_bytes_total{direction=\"to_clients\"}"),
            to_first + MetricValue(metrics, "mtproxy_secret_bytes_total{secret=\"1\",direction="
                                            "\"to_clients\"}")
                           .value_or(-1));
  EXPECT_GE(MetricValue(metrics, "mtproxy_bytes_total{direction=\"to_upstream\"}").value_or(0),
            6 * 1000 + 2 * 500);
  EXPECT_GE(MetricValue(metrics, "mtproxy_bytes_total{direction=\"from_upstream\"}").value_or(0),
            6 * 1000 + 2 * 500);

  // Handshakes: 3 good, 1 with no matching secret; nothing else.
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"ok\"}"), 3);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"no_secret_match\"}"), 1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"rate_limited\"}"), 0);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"no_secret_match\"}"),
            1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"rate_limited\"}"),
            0);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"tls_replay\"}"), 0);
  // ME links: one per shard, ready, none draining. A shard whose link carried both secret-0
  // clients at a tick opens a second link (MePool::LinksWanted grows a shared link) and keeps
  // it: 3 ready then, never more with 3 bound clients.
  const double ready_links =
      MetricValue(metrics, "mtproxy_me_links{state=\"ready\"}").value_or(-1);
  EXPECT_GE(ready_links, 2);
  EXPECT_LE(ready_links, 3);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_me_links{state=\"draining\"}"), 0);
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_F(MetricsE2eTest, HandshakeRateRefusalsAreRejectionsByReason) {
  const ClientSecret secret = e2e::MakeSecret(74);
  // A budget of 2 handshakes per second, starting full: of 6 immediate handshakes at most
  // 2 (+ the refill of the time they take) succeed, and every other one is refused.
  auto proxy = Start({"-S", e2e::Hex(secret), "--max-dh-accept-rate", "2"});
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value());
  std::vector<TestClient> clients;
  for (int i = 0; i < 6; ++i) {
    auto c = TestClient::Connect(proxy->port(), &secret, Transport::kIntermediate, 2);
    ASSERT_TRUE(c.has_value());
    clients.push_back(std::move(*c));
  }
  std::string metrics;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        metrics = HttpBody(HttpGet(*stats_port, "/metrics"));
        return MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"ok\"}").value_or(0) +
                   MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"rate_limited\"}")
                       .value_or(0) ==
               6;
      },
      5000))
      << metrics;
  const double refused =
      MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"rate_limited\"}")
          .value_or(-1);
  EXPECT_GE(refused, 1);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshakes_total{outcome=\"rate_limited\"}"), refused);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_rate_limit_refusals_total{kind=\"handshake\"}"),
            refused);
  EXPECT_EQ(MetricValue(metrics, "mtproxy_handshake_rejections_total{reason=\"no_secret_match\"}"),
            0);
  clients.clear();
  EXPECT_EQ(proxy->Stop(), 0);
}

// Every line the proxy writes: "[pid][YYYY-MM-DD hh:mm:ss.uuuuuu local] L message".
void ExpectEveryLineStamped(const std::string& log) {
  static const std::regex kLine(
      R"(^\[\d+\]\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} local\] [IWE] .*$)");
  std::istringstream in(log);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_TRUE(std::regex_match(line, kLine)) << "line: " << line;
  }
  EXPECT_GT(lines, 5);
}

TEST_F(MetricsE2eTest, VerbosityLevelsChangeWhatIsLogged) {
  const ClientSecret secret = e2e::MakeSecret(75);
  for (int verbosity : {0, 1}) {
    std::vector<std::string> extra = {"-S", e2e::Hex(secret)};
    if (verbosity > 0) extra.push_back("-v");
    auto proxy = Start(extra);
    ASSERT_NE(proxy, nullptr);
    {
      auto c = TestClient::Connect(proxy->port(), &secret, Transport::kIntermediate, 2);
      ASSERT_TRUE(c.has_value());
      ASSERT_TRUE(EchoFrame(*c, 100, 1));
    }
    // The close is logged by the shard once it has seen the EOF.
    if (verbosity > 0) {
      EXPECT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("closing client"); }, 5000))
          << proxy->Log();
    }
    EXPECT_EQ(proxy->Stop(), 0);
    const std::string log = proxy->Log();
    // Level 0 lines always; level-1 (per-connection) lines only with -v.
    EXPECT_NE(log.find("Started as ["), std::string::npos);
    EXPECT_NE(log.find("Terminated by SIGTERM."), std::string::npos);
    EXPECT_EQ(log.find("New inbound connection") != std::string::npos, verbosity > 0) << log;
    EXPECT_EQ(log.find("closing client") != std::string::npos, verbosity > 0) << log;
    ExpectEveryLineStamped(log);
    // A fresh fake ME for the next run (the old one saw the links close).
    me_ = std::make_unique<FakeMe>(e2e::ProxySecretBytes());
  }
}

}  // namespace
}  // namespace mtp
