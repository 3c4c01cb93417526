// Bad input and overload through the real binary: mtproto-proxy between mtp-client and
// mtp-fake-me on 127.0.0.1. Handshake timeout (short header and skip mode), idle timeout,
// write stall (a client that stops reading), shedding the largest stalled holders when the
// shard's buffer budget runs low, an unreachable middle-end (its clients closed, the others
// served, reported once), oversized / tiny frames and garbage after a valid handshake, and in
// direct mode a DC that stops reading. Every case also checks that a well-behaved client keeps
// flowing and that the counters show it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/tool_run.h"

namespace mtp {
namespace {

using e2e::CountOf;
using e2e::ProxyProcess;
using e2e::ReadFile;
using e2e::WaitFor;
using e2e::WriteTempFile;
using tools::ChildProcess;

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";
constexpr int kExitClosed = 5;  // mtp-client: closed by the server

// A loopback port nothing listens on (bound, then closed: connects are refused).
uint16_t RefusingPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

class OverloadE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aes_pwd_ = WriteTempFile("proxy-secret", e2e::ProxySecretText());
    me_log_ = WriteTempFile("fake-me.log", "");
  }

  // mtp-fake-me, then a one-shard proxy routing DC 2 (the default) to it and `extra_config`
  // lines; waits for the pool to be ready.
  void Start(std::vector<std::string> proxy_flags, const std::string& extra_config = "") {
    auto me = e2e::SpawnListening("mtp-fake-me", {"--listen", "127.0.0.1:0", "--aes-pwd",
                                                  aes_pwd_, "--log-file", me_log_,
                                                  "--no-log-requests"});
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::move(me->process);
    std::string config = e2e::ConfigFor(me->port, 1, 1) + extra_config;
    std::vector<std::string> args = {"-H", "0", "-M", "1", "-p", "0", "--http-stats",
                                     "--aes-pwd", aes_pwd_, "-S", kSecretHex};
    args.insert(args.end(), proxy_flags.begin(), proxy_flags.end());
    args.push_back(WriteTempFile("proxy-multi.conf", config));
    proxy_ = ProxyProcess::Start(args);
    ASSERT_NE(proxy_, nullptr);
    auto stats = e2e::StatsPort(*proxy_);
    ASSERT_TRUE(stats.has_value()) << proxy_->Log();
    stats_port_ = *stats;
    ASSERT_TRUE(WaitFor([&] { return CountOf(ReadFile(me_log_), "\"event\":\"link\"") >= 1; },
                        8000))
        << ReadFile(me_log_);
  }

  std::vector<std::string> ClientArgv(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--secret", kSecretHex, "--dc", "2"});
    return e2e::ClientArgv(proxy_->port(), flags);
  }

  // Runs mtp-client to its end; its exit code (-1 if it did not end in time).
  int RunClient(std::vector<std::string> flags, std::string* json = nullptr) {
    return e2e::RunTool(ClientArgv(std::move(flags)), 30000, json);
  }

  // A client left running (killed by its destructor).
  std::unique_ptr<ChildProcess> SpawnClient(std::vector<std::string> flags) {
    auto client = ChildProcess::Spawn(ClientArgv(std::move(flags)));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    return std::make_unique<ChildProcess>(std::move(*client));
  }

  // A well-behaved client: 20 echoed frames of mixed sizes.
  void ExpectOthersFlow() {
    std::string json;
    EXPECT_EQ(RunClient({"--packets", "20", "--size", "56-20000", "--window", "4",
                         "--timeout-ms", "8000"},
                        &json),
              0)
        << json << proxy_->Log();
  }

  double Metric(const std::string& series) {
    std::string body = e2e::HttpBody(e2e::HttpGet(stats_port_, "/metrics"));
    return e2e::MetricValue(body, series).value_or(-1);
  }
  double Closed(const std::string& reason) {
    return Metric("mtproxy_client_closes_total{reason=\"" + reason + "\"}");
  }
  int64_t Stat(const std::string& key) {
    std::string body = e2e::HttpBody(e2e::HttpGet(stats_port_, "/stats"));
    return e2e::StatsInt(body, key).value_or(-1);
  }

  std::string aes_pwd_;
  std::string me_log_;
  std::unique_ptr<ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

TEST_F(OverloadE2eTest, HandshakeTimeoutClosesShortHeadersAndSkipMode) {
  Start({"--handshake-timeout", "1"});
  std::string json;
  // 10 bytes of a header that never completes, then 64 bytes no secret matches (skip mode):
  // both are held silently, then closed at the deadline.
  EXPECT_EQ(RunClient({"--send-garbage", "10", "--packets", "0", "--expect", "silence",
                       "--hold-seconds", "15"},
                      &json),
            kExitClosed)
      << json;
  // The short header's handshake timed out: one outcome, one close, both "timeout".
  EXPECT_EQ(Closed("handshake_timeout"), 1);
  EXPECT_EQ(Metric("mtproxy_handshakes_total{outcome=\"timeout\"}"), 1);
  EXPECT_EQ(Metric("mtproxy_handshakes_total{outcome=\"no_secret_match\"}"), 0);
  EXPECT_EQ(RunClient({"--send-garbage", "64", "--packets", "0", "--expect", "silence",
                       "--hold-seconds", "15"},
                      &json),
            kExitClosed)
      << json;
  // Skip mode: its handshake ended at the 64th byte (no_secret_match, as the reference counts
  // it); the close at the deadline is a skip_mode close, not a second (timeout) outcome.
  EXPECT_EQ(Metric("mtproxy_handshakes_total{outcome=\"no_secret_match\"}"), 1);
  EXPECT_EQ(Metric("mtproxy_handshake_rejections_total{reason=\"no_secret_match\"}"), 1);
  EXPECT_EQ(Closed("skip_mode"), 1);
  EXPECT_EQ(Closed("handshake_timeout"), 1);
  EXPECT_EQ(Metric("mtproxy_handshakes_total{outcome=\"timeout\"}"), 1);
  // A served client is not subject to it: echoes, then holds past the deadline, echoes again.
  EXPECT_EQ(RunClient({"--packets", "2", "--hold-seconds", "3"}, &json), 0) << json;
  ExpectOthersFlow();
  EXPECT_TRUE(WaitFor([&] { return Stat("total_special_connections") == 0; }, 5000));
}

TEST_F(OverloadE2eTest, IdleTimeoutClosesQuietClients) {
  // 3 s, not 1: the well-behaved client of ExpectOthersFlow must not look idle on a slow build.
  Start({"--client-idle-timeout", "3"});
  std::string json;
  EXPECT_EQ(RunClient({"--packets", "2", "--hold-seconds", "15"}, &json), kExitClosed) << json;
  EXPECT_GE(Closed("idle_timeout"), 1);
  ExpectOthersFlow();
}

TEST_F(OverloadE2eTest, WriteStallClosesAClientThatStopsReading) {
  // 3 s, not 1: a sanitizer build's reading client must not look stalled.
  Start({"--write-stall-timeout", "3"});
  // 16 MiB of echoes the client does not read: the proxy stops reading its requests once its
  // own output is over the queue cap, then closes it when the send makes no progress.
  auto hog = SpawnClient({"--packets", "256", "--size", "65536", "--window", "256",
                          "--read-pause-ms", "60000", "--timeout-ms", "60000"});
  ASSERT_NE(hog, nullptr);
  EXPECT_TRUE(WaitFor([&] { return Closed("write_stall") >= 1; }, 20000)) << proxy_->Log();
  EXPECT_EQ(Closed("flood"), 0);  // bounded by backpressure long before the 32-MiB cap
  EXPECT_GE(Metric("mtproxy_client_read_pauses_total"), 1);  // that backpressure
  ExpectOthersFlow();
}

TEST_F(OverloadE2eTest, BufferPressureShedsTheLargestStalledClients) {
  // One shard with the smallest budget (16 MiB of buffers, ~7 MiB for queues); write stalls
  // off so only shedding acts. Non-reading clients are added until one is shed.
  Start({"--write-stall-timeout", "0", "--msg-buffers-size", "16m"});
  std::vector<std::unique_ptr<ChildProcess>> hogs;
  for (int i = 0; i < 12 && Stat("connections_failed_lru") < 1; ++i) {
    hogs.push_back(SpawnClient({"--packets", "256", "--size", "65536", "--window", "256",
                                "--read-pause-ms", "60000", "--timeout-ms", "60000"}));
    WaitFor([&] { return Stat("connections_failed_lru") >= 1; }, 2500);
  }
  // On a loaded machine the queues fill more slowly than the 2.5-s steps above: give the
  // holders that are already connected time to fill the budget before judging.
  WaitFor([&] { return Stat("connections_failed_lru") >= 1; }, 30000);
  EXPECT_GE(Stat("connections_failed_lru"), 1) << proxy_->Log();
  EXPECT_GE(Closed("shed"), 1);
  // The shard counts each close before it logs the summary line: wait for the line.
  EXPECT_TRUE(WaitFor([&] { return proxy_->LogContains("stalled client(s)"); }, 5000))
      << proxy_->Log();
  // With the stalled holders still connected, a reading client is served.
  ExpectOthersFlow();
  hogs.clear();
  ExpectOthersFlow();
}

TEST_F(OverloadE2eTest, UnreachableMiddleEndClosesItsClientsAndIsReportedOnce) {
  const uint16_t dead = RefusingPort();
  ASSERT_NE(dead, 0);
  Start({"--handshake-timeout", "1"},
        "proxy_for 4 127.0.0.1:" + std::to_string(dead) + ";\n");
  // DC 4's only middle-end refuses: its client's frame is dropped and it is closed within the
  // timeout instead of hanging; DC 2's clients flow meanwhile.
  std::string json;
  EXPECT_EQ(RunClient({"--dc", "4", "--packets", "1", "--timeout-ms", "15000"}, &json),
            kExitClosed)
      << json;
  EXPECT_GE(Closed("upstream_timeout"), 1);
  EXPECT_GE(Metric("mtproxy_dropped_total{kind=\"queries\"}"), 1);
  ExpectOthersFlow();
  // Reconnects go on with backoff, but the log says it once (per shard) per minute.
  ASSERT_TRUE(WaitFor([&] { return Stat("total_connect_failures") >= 3; }, 15000))
      << proxy_->Log();
  const std::string needle = "127.0.0.1:" + std::to_string(dead) + " unreachable";
  EXPECT_EQ(CountOf(proxy_->Log(), needle), 1) << proxy_->Log();
  EXPECT_EQ(CountOf(proxy_->Log(), "still unreachable"), 0);
  EXPECT_EQ(Metric("mtproxy_me_unreachable_reports_total"), 1);
  EXPECT_EQ(Metric("mtproxy_me_write_stalls_total"), 0);
}

TEST_F(OverloadE2eTest, OversizedTinyAndGarbageFramesAfterAValidHandshake) {
  Start({});
  std::string json;
  // Intermediate length 0x7fffffff: over the 1044480-byte limit, closed at once.
  EXPECT_EQ(RunClient({"--transport", "intermediate", "--send-raw", "ffffff7f", "--packets", "1"},
                      &json),
            kExitClosed)
      << json;
  // Length 1044484 (just over the limit) on intermediate; 0x7f + 3-byte length on abridged.
  EXPECT_EQ(RunClient({"--transport", "intermediate", "--send-raw", "04f00f00", "--packets", "1"},
                      &json),
            kExitClosed)
      << json;
  EXPECT_EQ(RunClient({"--transport", "abridged", "--send-raw", "7f01fc03", "--packets", "1"},
                      &json),
            kExitClosed)
      << json;
  // A zero-length frame is a bad frame too (client-transports §4.1).
  EXPECT_EQ(RunClient({"--transport", "abridged", "--send-raw", "00", "--packets", "1"}, &json),
            kExitClosed)
      << json;
  EXPECT_GE(Closed("frame_error"), 4);
  // Tiny frames (8 bytes intermediate, 4 bytes abridged) are dropped; the stream goes on.
  EXPECT_EQ(RunClient({"--transport", "intermediate", "--send-raw", "080000000102030405060708",
                       "--packets", "3"},
                      &json),
            0)
      << json;
  EXPECT_EQ(RunClient({"--transport", "abridged", "--send-raw", "0101020304", "--packets", "3"},
                      &json),
            0)
      << json;
  // Random bytes after a valid handshake: the proxy closes the client or drops what it cannot
  // parse; either way it stays up and serves the others.
  std::string garbage;
  for (int i = 0; i < 512; ++i) {
    static const char kHex[] = "0123456789abcdef";
    unsigned v = (i * 73u + 19u) * 2654435761u >> 24;
    garbage.push_back(kHex[(v >> 4) & 15]);
    garbage.push_back(kHex[v & 15]);
  }
  int rc = RunClient({"--transport", "abridged", "--send-raw", garbage, "--packets", "2",
                      "--timeout-ms", "3000"},
                     &json);
  EXPECT_NE(rc, -1) << json;
  ExpectOthersFlow();
}

// Direct mode: a DC that stops reading (mtp-fake-dc --stop-reading-after) holds the session
// and its queued bytes until the write-stall timer closes it, as for clients and ME links.
TEST(OverloadDirectE2eTest, WriteStallClosesASessionWhoseDcStopsReading) {
  auto dc = e2e::SpawnListening("mtp-fake-dc",
                                {"--listen", "127.0.0.1:0", "--stop-reading-after", "1"});
  ASSERT_TRUE(dc.ok()) << dc.status();
  auto proxy = ProxyProcess::Start({"-H", "0", "-M", "1", "-p", "0", "--http-stats", "-S",
                                    kSecretHex, "--direct", "--write-stall-timeout", "3",
                                    "--dc-override", "2:127.0.0.1:" + std::to_string(dc->port)});
  ASSERT_NE(proxy, nullptr);
  auto stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value()) << proxy->Log();
  auto metric = [&](const std::string& series) {
    std::string body = e2e::HttpBody(e2e::HttpGet(*stats_port, "/metrics"));
    return e2e::MetricValue(body, series).value_or(-1);
  };
  const std::string stalls = "mtproxy_client_closes_total{reason=\"dc_write_stall\"}";
  auto run_client = [&](std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--secret", kSecretHex, "--dc", "2"});
    return e2e::RunTool(e2e::ClientArgv(proxy->port(), flags), 30000);
  };
  // The DC echoes one frame, then reads no more: one frame goes through, nothing is closed.
  EXPECT_EQ(run_client({"--packets", "1"}), 0) << proxy->Log();
  EXPECT_EQ(metric(stalls), 0);
  // 64 MiB toward it: far beyond the socket buffers and the 1-MiB queue, so the proxy's send to
  // the DC stops making progress; the session is closed after ~3 s instead of the idle timeout.
  const int rc = run_client({"--packets", "64", "--size", "1044480", "--window", "64",
                             "--timeout-ms", "25000"});
  EXPECT_NE(rc, 0);
  EXPECT_NE(rc, -1) << "the client was not closed";
  EXPECT_EQ(metric(stalls), 1) << proxy->Log();
  EXPECT_EQ(metric("mtproxy_client_closes_total{reason=\"write_stall\"}"), 0);
  EXPECT_TRUE(WaitFor([&] { return metric("mtproxy_client_connections") == 0; }, 5000));
}

}  // namespace
}  // namespace mtp
