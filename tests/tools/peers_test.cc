// mtp-client against mtp-fake-dc, both spawned as real binaries on loopback: every transport,
// payloads up to the largest frame, quick acks, req_pq, dd and ee secrets (fake-DC in
// front-end mode), and the negative outcomes the end-to-end tests rely on.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/tools/child_process.h"
#include "tools/net_util.h"

namespace mtp::tools {
namespace {

constexpr int kTimeoutMs = 30'000;
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";
// hex("example.com")
constexpr char kDomainHex[] = "6578616d706c652e636f6d";

class FakeDc {
 public:
  explicit FakeDc(std::vector<std::string> extra = {}) {
    log_path_ = absl::StrCat(::testing::TempDir(), "/fake_dc_", getpid(), "_", counter_++,
                             ".log");
    std::vector<std::string> argv = {ToolPath("mtp-fake-dc"), "--listen", "127.0.0.1:0",
                                     "--log-file", log_path_, "--max-seconds", "120"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return;
    child_ = std::make_unique<ChildProcess>(*std::move(child));
    absl::StatusOr<int> port = child_->ReadListeningPort(kTimeoutMs);
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = port.ok() ? *port : 0;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  ChildProcess& child() { return *child_; }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  bool LogContains(const std::string& needle) const {
    const int64_t deadline = MonotonicMillis() + kTimeoutMs;
    while (MonotonicMillis() < deadline) {
      if (Log().find(needle) != std::string::npos) return true;
      usleep(20'000);
    }
    return false;
  }

 private:
  static inline int counter_ = 0;
  std::unique_ptr<ChildProcess> child_;
  std::string log_path_;
  int port_ = 0;
};

struct ClientResult {
  int exit_code = -1;
  std::string json;
};

ClientResult RunClient(const std::string& server, std::vector<std::string> args) {
  std::vector<std::string> argv = {ToolPath("mtp-client"), "--server", server};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {};
  ClientResult r;
  absl::StatusOr<int> code = child->Wait(kTimeoutMs);
  EXPECT_TRUE(code.ok()) << code.status();
  r.exit_code = code.ok() ? *code : -1;
  r.json = child->ReadToEnd(1000);
  return r;
}

class AllTransports : public ::testing::TestWithParam<const char*> {};

TEST_P(AllTransports, EchoesUpToLargestFrameWithQuickAcksAndReqPq) {
  FakeDc dc;
  ClientResult r = RunClient(
      dc.address(), {"--transport", GetParam(), "--dc", "-3", "--packets", "12", "--size",
                     "56-1044480", "--window", "3", "--quick-ack-every", "2", "--req-pq"});
  EXPECT_EQ(r.exit_code, 0) << r.json;
  EXPECT_NE(r.json.find("\"packets_verified\":12"), std::string::npos) << r.json;
  EXPECT_NE(r.json.find("\"quick_acks\":6"), std::string::npos) << r.json;
  EXPECT_TRUE(dc.LogContains(absl::StrCat("\"event\":\"handshake\"")));
  EXPECT_NE(dc.Log().find(absl::StrCat("\"dc\":-3,\"transport\":\"", GetParam(), "\"")),
            std::string::npos)
      << dc.Log();

  // Exact largest frame, alone.
  r = RunClient(dc.address(), {"--transport", GetParam(), "--packets", "2", "--size", "1044480"});
  EXPECT_EQ(r.exit_code, 0) << r.json;
}

INSTANTIATE_TEST_SUITE_P(Transports, AllTransports,
                         ::testing::Values("abridged", "intermediate", "padded"));

TEST(PeersTest, PaddedClientPaddingModes) {
  FakeDc dc;
  for (const char* padding : {"tdlib", "mod4", "none"}) {
    ClientResult r = RunClient(dc.address(), {"--transport", "padded", "--padding", padding,
                                              "--packets", "30", "--size", "56-4096",
                                              "--window", "5", "--quick-ack"});
    EXPECT_EQ(r.exit_code, 0) << padding << ": " << r.json;
  }
}

TEST(PeersTest, SecretFormsAgainstFrontEndMode) {
  FakeDc dc({"--secret", kSecret});
  ClientResult plain = RunClient(dc.address(), {"--secret", kSecret, "--packets", "5"});
  EXPECT_EQ(plain.exit_code, 0) << plain.json;
  EXPECT_NE(plain.json.find("\"transport\":\"intermediate\""), std::string::npos);
  ClientResult dd = RunClient(dc.address(), {"--secret", absl::StrCat("dd", kSecret),
                                             "--packets", "5", "--size", "56-70000"});
  EXPECT_EQ(dd.exit_code, 0) << dd.json;
  EXPECT_NE(dd.json.find("\"transport\":\"padded\""), std::string::npos);
  // Wrong secret: the fake DC (like any server) cannot find a valid tag and closes.
  ClientResult wrong = RunClient(dc.address(), {"--secret", "0123456789abcdef0123456789abcdee",
                                                "--packets", "1"});
  EXPECT_EQ(wrong.exit_code, 5) << wrong.json;
  // No secret against a secret-checking server: same.
  ClientResult none = RunClient(dc.address(), {"--packets", "0", "--expect", "close"});
  EXPECT_EQ(none.exit_code, 0) << none.json;
}

TEST(PeersTest, FakeTlsBothHelloLayouts) {
  FakeDc dc({"--secret", kSecret, "--tls-domain", "example.com"});
  const std::string ee = absl::StrCat("ee", kSecret, kDomainHex);
  for (const char* hello : {"legacy", "modern"}) {
    ClientResult r = RunClient(dc.address(), {"--secret", ee, "--hello", hello, "--packets",
                                              "10", "--size", "56-300000", "--window", "2",
                                              "--quick-ack-every", "3", "--req-pq"});
    EXPECT_EQ(r.exit_code, 0) << hello << ": " << r.json;
    EXPECT_NE(r.json.find("\"fake_tls\":true"), std::string::npos);
    EXPECT_NE(r.json.find("\"tls_handshake_ms\""), std::string::npos);
  }
  EXPECT_TRUE(dc.LogContains("\"transport\":\"padded\",\"tls\":true"));
  // One-byte records (the header still travels in one first record) and 5-byte writes.
  ClientResult tiny = RunClient(dc.address(), {"--secret", ee, "--tls-record-bytes", "1",
                                               "--packets", "3", "--size", "200",
                                               "--write-chunk", "5", "--quick-ack"});
  EXPECT_EQ(tiny.exit_code, 0) << tiny.json;

  // Wrong secret: the ServerHello never comes (the fake DC closes; a proxy would proxy-pass).
  const std::string wrong = absl::StrCat("ee", "f123456789abcdef0123456789abcdef", kDomainHex);
  ClientResult rejected = RunClient(dc.address(), {"--secret", wrong, "--packets", "1"});
  EXPECT_EQ(rejected.exit_code, 5) << rejected.json;
  ClientResult expected = RunClient(dc.address(), {"--secret", wrong, "--expect", "reject"});
  EXPECT_EQ(expected.exit_code, 0) << expected.json;
  // A stale timestamp (outside the replay-cache window) is refused too.
  ClientResult stale = RunClient(dc.address(), {"--secret", ee, "--tls-timestamp-offset",
                                                "-100000", "--expect", "reject"});
  EXPECT_EQ(stale.exit_code, 0) << stale.json;
  // A valid hello against the right server is not a rejection.
  ClientResult not_rejected = RunClient(dc.address(), {"--secret", ee, "--expect", "reject"});
  EXPECT_EQ(not_rejected.exit_code, 1) << not_rejected.json;
}

TEST(PeersTest, NegativeOutcomes) {
  FakeDc dc({"--close-after", "3"});
  // Server closes after 3 echoes: "close" is the expected outcome, "echo" of 5 is not.
  EXPECT_EQ(RunClient(dc.address(), {"--packets", "3", "--expect", "close"}).exit_code, 0);
  EXPECT_EQ(RunClient(dc.address(), {"--packets", "5"}).exit_code, 5);
  // A frame length with bit 30 set makes the server close.
  EXPECT_EQ(RunClient(dc.address(), {"--packets", "0", "--send-raw",
                                     "000000400000000000000000", "--expect", "close"})
                .exit_code,
            0);
  // Garbage instead of a header: closed by the fake DC (a proxy would stay silent).
  EXPECT_EQ(RunClient(dc.address(), {"--send-garbage", "64", "--packets", "0", "--expect",
                                     "close"})
                .exit_code,
            0);
  // Nothing sent after the header: silence is what we see, and it counts as success.
  EXPECT_EQ(RunClient(dc.address(), {"--packets", "0", "--expect", "silence", "--hold-seconds",
                                     "0.3"})
                .exit_code,
            0);
  // An echo where silence was expected is a failure.
  EXPECT_EQ(RunClient(dc.address(), {"--packets", "1", "--expect", "silence", "--timeout-ms",
                                     "2000"})
                .exit_code,
            1);
}

TEST(PeersTest, ByteByByteWrites) {
  FakeDc dc;
  ClientResult r = RunClient(dc.address(), {"--transport", "abridged", "--packets", "2",
                                            "--size", "60", "--req-pq", "--write-chunk", "1",
                                            "--write-delay-ms", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.json;
}

TEST(PeersTest, QuickAckMissingIsDetected) {
  FakeDc dc({"--no-quick-ack"});
  ClientResult r = RunClient(dc.address(), {"--packets", "1", "--quick-ack"});
  EXPECT_EQ(r.exit_code, 1) << r.json;
  EXPECT_NE(r.json.find("before its quick ack"), std::string::npos) << r.json;
}

TEST(PeersTest, IdleHoldAndSummary) {
  FakeDc dc;
  ClientResult r = RunClient(dc.address(), {"--packets", "2", "--hold-seconds", "0.3"});
  EXPECT_EQ(r.exit_code, 0) << r.json;
  dc.child().Signal(SIGTERM);
  absl::StatusOr<std::string> summary = dc.child().ReadLineWithPrefix("{", kTimeoutMs);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_NE(summary->find("\"handshakes\":1"), std::string::npos) << *summary;
  EXPECT_NE(summary->find("\"frames\":2"), std::string::npos) << *summary;
  EXPECT_EQ(*dc.child().Wait(kTimeoutMs), 0);
}

TEST(PeersTest, ClientUsageAndConnectErrors) {
  absl::StatusOr<ChildProcess> help = ChildProcess::Spawn({ToolPath("mtp-client"), "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_NE(help->ReadToEnd(kTimeoutMs).find("--expect"), std::string::npos);
  EXPECT_EQ(*help->Wait(kTimeoutMs), 0);
  absl::StatusOr<ChildProcess> none = ChildProcess::Spawn({ToolPath("mtp-client")});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none->Wait(kTimeoutMs), 2);
  EXPECT_EQ(RunClient("127.0.0.1:1", {"--size", "57"}).exit_code, 2);
  EXPECT_EQ(RunClient("127.0.0.1:1", {"--secret", "xyz"}).exit_code, 2);
  // Port 1 on loopback: nothing listens there.
  EXPECT_EQ(RunClient("127.0.0.1:1", {"--timeout-ms", "2000"}).exit_code, 3);
}

}  // namespace
}  // namespace mtp::tools
