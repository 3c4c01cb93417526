// mtp-loadgen against mtp-fake-dc (spawned binaries, loopback, short runs): every mode
// completes with all echoes verified and reports its JSON line; errors are counted and turn
// the exit code to 1. No timing assertions (performance numbers are not tested here).
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/tools/child_process.h"

namespace mtp::tools {
namespace {

constexpr int kTimeoutMs = 60'000;

struct LoadRun {
  int exit_code = -1;
  std::string json;
};

class LoadgenTest : public ::testing::Test {
 protected:
  void StartDc(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ToolPath("mtp-fake-dc"), "--listen", "127.0.0.1:0",
                                     "--max-seconds", "120"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv);
    ASSERT_TRUE(child.ok()) << child.status();
    dc_ = std::make_unique<ChildProcess>(*std::move(child));
    absl::StatusOr<int> port = dc_->ReadListeningPort(kTimeoutMs);
    ASSERT_TRUE(port.ok()) << port.status();
    server_ = absl::StrCat("127.0.0.1:", *port);
  }

  LoadRun Loadgen(std::vector<std::string> args) {
    std::vector<std::string> argv = {ToolPath("mtp-loadgen"), "--server", server_,
                                     "--max-seconds", "50"};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return {};
    LoadRun r;
    absl::StatusOr<int> code = child->Wait(kTimeoutMs);
    EXPECT_TRUE(code.ok()) << code.status();
    r.exit_code = code.ok() ? *code : -1;
    r.json = child->ReadToEnd(1000);
    return r;
  }

  static bool Has(const LoadRun& r, const std::string& needle) {
    return r.json.find(needle) != std::string::npos;
  }

  std::unique_ptr<ChildProcess> dc_;
  std::string server_;
};

TEST_F(LoadgenTest, ThroughputVerifiesAndReportsProxyStats) {
  StartDc();
  LoadRun r = Loadgen({"--mode", "throughput", "--connections", "4", "--threads", "2", "--size",
                   "56-200000", "--window", "3", "--quick-ack-every", "2", "--duration", "0.5",
                   "--warmup", "0.1", "--transport", "padded", "--proxy-pid",
                   absl::StrCat(dc_->pid())});
  EXPECT_EQ(r.exit_code, 0) << r.json;
  ASSERT_EQ(std::count(r.json.begin(), r.json.end(), '\n'), 1) << r.json;
  EXPECT_TRUE(Has(r, "\"mode\":\"throughput\"")) << r.json;
  EXPECT_TRUE(Has(r, "\"errors\":0")) << r.json;
  EXPECT_TRUE(Has(r, "\"ok\":true")) << r.json;
  EXPECT_TRUE(Has(r, "\"cpu_s_per_GB\":")) << r.json;
  EXPECT_TRUE(Has(r, "\"rss_kb_after\":")) << r.json;
  EXPECT_FALSE(Has(r, "\"payload_bytes_down\":0,")) << r.json;
  EXPECT_FALSE(Has(r, "\"quick_acks\":0,")) << r.json;
}

TEST_F(LoadgenTest, LatencyAndChurn) {
  StartDc();
  LoadRun lat = Loadgen({"--mode", "latency", "--connections", "2", "--size", "128", "--duration",
                     "0.3", "--warmup", "0", "--transport", "abridged"});
  EXPECT_EQ(lat.exit_code, 0) << lat.json;
  EXPECT_TRUE(Has(lat, "\"p99\":")) << lat.json;
  EXPECT_FALSE(Has(lat, "\"rtt_us\":{\"count\":0")) << lat.json;

  LoadRun churn = Loadgen({"--mode", "churn", "--connections", "3", "--size", "64", "--duration",
                       "0.3", "--warmup", "0"});
  EXPECT_EQ(churn.exit_code, 0) << churn.json;
  EXPECT_FALSE(Has(churn, "\"handshakes\":0,")) << churn.json;
  EXPECT_TRUE(Has(churn, "\"handshakes_per_s\":")) << churn.json;
}

TEST_F(LoadgenTest, IdleHoldsAllConnectionsAndWritesReadyFile) {
  StartDc();
  const std::string ready = absl::StrCat(::testing::TempDir(), "/loadgen_ready_", getpid());
  ::unlink(ready.c_str());
  LoadRun r = Loadgen({"--mode", "idle", "--connections", "64", "--threads", "2", "--hold-seconds",
                   "0.3", "--ready-file", ready, "--size", "56"});
  EXPECT_EQ(r.exit_code, 0) << r.json;
  EXPECT_TRUE(Has(r, "\"established\":64")) << r.json;
  EXPECT_TRUE(Has(r, "\"established_after_hold\":64")) << r.json;
  EXPECT_EQ(::access(ready.c_str(), F_OK), 0);
}

TEST_F(LoadgenTest, FakeTlsAndErrorsAreCounted) {
  StartDc({"--secret", "0123456789abcdef0123456789abcdef", "--tls-domain", "example.com",
           "--close-after", "5"});
  // Every connection is closed by the server after 5 echoes: errors, reconnects, exit 1.
  LoadRun r = Loadgen({"--mode", "throughput", "--connections", "2", "--size", "1024", "--duration",
                   "0.3", "--warmup", "0", "--reconnect-delay-ms", "10", "--secret",
                   "ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d"});
  EXPECT_EQ(r.exit_code, 1) << r.json;
  EXPECT_TRUE(Has(r, "\"fake_tls\":true")) << r.json;
  EXPECT_TRUE(Has(r, "\"error_kinds\":{\"closed\":")) << r.json;
  EXPECT_TRUE(Has(r, "\"ok\":false")) << r.json;
}

// The plain TCP echo floor: mtp-fake-dc --plain mirrors bytes, a --plain client sends frames in
// the clear and verifies them; an obfuscated2 client gets its own ciphertext back and fails.
TEST_F(LoadgenTest, PlainEchoFloor) {
  StartDc({"--plain"});
  LoadRun r = Loadgen({"--plain", "--mode", "throughput", "--connections", "3", "--size",
                   "56-70000", "--window", "2", "--duration", "0.3", "--warmup", "0",
                   "--proxy-pid", absl::StrCat(dc_->pid())});
  EXPECT_EQ(r.exit_code, 0) << r.json;
  EXPECT_TRUE(Has(r, "\"transport\":\"intermediate\"")) << r.json;
  EXPECT_FALSE(Has(r, "\"payload_bytes_down\":0,")) << r.json;
  EXPECT_TRUE(Has(r, "\"cpu_s_per_GB\":")) << r.json;
  LoadRun churn = Loadgen({"--plain", "--mode", "churn", "--connections", "2", "--size", "256",
                       "--duration", "0.3", "--warmup", "0"});
  EXPECT_EQ(churn.exit_code, 0) << churn.json;
  EXPECT_FALSE(Has(churn, "\"handshakes\":0,")) << churn.json;
  LoadRun obfuscated = Loadgen({"--mode", "latency", "--connections", "1", "--duration", "0.3",
                            "--warmup", "0", "--timeout-ms", "2000"});
  EXPECT_EQ(obfuscated.exit_code, 1) << obfuscated.json;
  // Usage: --plain has no secret, no fake-TLS and only the intermediate transport.
  EXPECT_EQ(Loadgen({"--plain", "--secret", "0123456789abcdef0123456789abcdef"}).exit_code, 2);
  EXPECT_EQ(Loadgen({"--plain", "--transport", "abridged"}).exit_code, 2);
}

// The relay floor: mtp-plain-relay forwards every connection to a plain echo. Every mode's
// echoes come back verified through it (large frames exercise its full-buffer path, churn
// its connect and close), the relay's summary counts each connection and the bytes both ways,
// and a relay whose upstream refuses closes the client (errors, exit 1).
TEST_F(LoadgenTest, PlainRelayFloor) {
  StartDc({"--plain"});
  const std::string echo = server_;
  absl::StatusOr<ChildProcess> spawned =
      ChildProcess::Spawn({ToolPath("mtp-plain-relay"), "--listen", "127.0.0.1:0", "--upstream",
                           echo, "--max-seconds", "120"});
  ASSERT_TRUE(spawned.ok()) << spawned.status();
  ChildProcess relay = *std::move(spawned);
  absl::StatusOr<int> port = relay.ReadListeningPort(kTimeoutMs);
  ASSERT_TRUE(port.ok()) << port.status();
  server_ = absl::StrCat("127.0.0.1:", *port);

  LoadRun bulk = Loadgen({"--plain", "--mode", "throughput", "--connections", "3", "--size",
                          "56-300000", "--window", "4", "--duration", "0.5", "--warmup", "0",
                          "--proxy-pid", absl::StrCat(relay.pid())});
  EXPECT_EQ(bulk.exit_code, 0) << bulk.json;
  EXPECT_TRUE(Has(bulk, "\"errors\":0")) << bulk.json;
  EXPECT_FALSE(Has(bulk, "\"payload_bytes_down\":0,")) << bulk.json;
  LoadRun lat = Loadgen({"--plain", "--mode", "latency", "--connections", "1", "--size", "256",
                         "--duration", "0.3", "--warmup", "0"});
  EXPECT_EQ(lat.exit_code, 0) << lat.json;
  EXPECT_FALSE(Has(lat, "\"rtt_us\":{\"count\":0")) << lat.json;
  LoadRun churn = Loadgen({"--plain", "--mode", "churn", "--connections", "4", "--size", "256",
                           "--duration", "0.3", "--warmup", "0"});
  EXPECT_EQ(churn.exit_code, 0) << churn.json;
  EXPECT_FALSE(Has(churn, "\"handshakes\":0,")) << churn.json;

  ASSERT_EQ(::kill(relay.pid(), SIGTERM), 0);
  absl::StatusOr<int> code = relay.Wait(kTimeoutMs);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  const std::string summary = relay.ReadToEnd(1000);
  EXPECT_TRUE(Has({0, summary}, "\"event\":\"summary\"")) << summary;
  EXPECT_FALSE(Has({0, summary}, "\"accepted\":0,")) << summary;
  EXPECT_FALSE(Has({0, summary}, "\"relayed_bytes\":0,")) << summary;
  EXPECT_TRUE(Has({0, summary}, "\"upstream_failures\":0,")) << summary;

  // Nothing listens upstream: the relay closes each client after the failed connect.
  absl::StatusOr<ChildProcess> dead =
      ChildProcess::Spawn({ToolPath("mtp-plain-relay"), "--listen", "127.0.0.1:0", "--upstream",
                           "127.0.0.1:1", "--max-seconds", "60"});
  ASSERT_TRUE(dead.ok()) << dead.status();
  port = dead->ReadListeningPort(kTimeoutMs);
  ASSERT_TRUE(port.ok()) << port.status();
  server_ = absl::StrCat("127.0.0.1:", *port);
  LoadRun refused = Loadgen({"--plain", "--mode", "latency", "--connections", "1", "--duration",
                             "0.3", "--warmup", "0", "--timeout-ms", "2000"});
  EXPECT_EQ(refused.exit_code, 1) << refused.json;
}

TEST_F(LoadgenTest, PlainFakeDcUsage) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {ToolPath("mtp-fake-dc"), "--plain", "--secret", "0123456789abcdef0123456789abcdef"});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> code = child->Wait(kTimeoutMs);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
}

TEST_F(LoadgenTest, UsageErrors) {
  server_ = "127.0.0.1:1";
  EXPECT_EQ(Loadgen({"--mode", "bogus"}).exit_code, 2);
  EXPECT_EQ(Loadgen({"--cpu", "x"}).exit_code, 2);
  EXPECT_EQ(Loadgen({"--size", "3"}).exit_code, 2);
  // Nothing listens on port 1: connect errors, exit 1.
  LoadRun r = Loadgen({"--mode", "latency", "--connections", "1", "--duration", "0.2", "--warmup",
                   "0"});
  EXPECT_EQ(r.exit_code, 1) << r.json;
  EXPECT_TRUE(Has(r, "\"connect\":")) << r.json;
}

}  // namespace
}  // namespace mtp::tools
