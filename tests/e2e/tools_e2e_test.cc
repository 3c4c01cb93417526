// End to end with the project's real test peers: mtproto-proxy between mtp-client and
// mtp-fake-me (ME mode) or mtp-fake-dc (direct mode), all on 127.0.0.1 with free ports.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/proxy_process.h"
#include "tests/tools/child_process.h"

namespace mtp {
namespace {

using e2e::ProxyProcess;
using e2e::WriteTempFile;
using tools::ChildProcess;
using tools::ToolPath;

constexpr char kSecretHex[] = "0123456789abcdef0123456789abcdef";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool WaitFor(const std::function<bool()>& f, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

struct Param {
  const char* backend;
  int shards;
};

class ToolsE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    std::string secret(128, '\0');
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<char>(i * 5 + 1);
    aes_pwd_ = WriteTempFile("proxy-secret", secret);
    me_log_ = WriteTempFile("fake-me.log", "");
  }

  // Starts mtp-fake-me (extra flags appended) and a proxy routing every DC to it.
  void StartMeAndProxy(std::vector<std::string> me_flags, std::vector<std::string> proxy_flags) {
    std::vector<std::string> argv = {ToolPath("mtp-fake-me"), "--listen", "127.0.0.1:0",
                                     "--aes-pwd", aes_pwd_, "--log-file", me_log_};
    argv.insert(argv.end(), me_flags.begin(), me_flags.end());
    auto me = ChildProcess::Spawn(argv);
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::make_unique<ChildProcess>(std::move(*me));
    auto port = me_->ReadListeningPort(5000);
    ASSERT_TRUE(port.ok()) << port.status();
    std::string config = "min_connections 2;\nmax_connections 2;\ndefault 2;\nproxy_for 2 "
                         "127.0.0.1:" + std::to_string(*port) + ";\n";
    std::vector<std::string> args = {"-H", "0", "-M", std::to_string(GetParam().shards),
                                     "--io-backend", GetParam().backend, "--aes-pwd", aes_pwd_,
                                     "--msg-buffers-size", "64m"};
    args.insert(args.end(), proxy_flags.begin(), proxy_flags.end());
    args.push_back(WriteTempFile("proxy-multi.conf", config));
    proxy_ = ProxyProcess::Start(args);
    ASSERT_NE(proxy_, nullptr);
    ASSERT_TRUE(WaitFor([&] {
      return CountOf(ReadFile(me_log_), "\"event\":\"link\"") >= 2 * GetParam().shards;
    }, 8000)) << ReadFile(me_log_);
  }

  // Runs mtp-client against the proxy; returns its exit code and JSON line.
  int RunClient(std::vector<std::string> flags, std::string* json = nullptr) {
    std::vector<std::string> argv = {ToolPath("mtp-client"), "--server",
                                     "127.0.0.1:" + std::to_string(proxy_->port()),
                                     "--timeout-ms", "8000"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto client = ChildProcess::Spawn(argv);
    if (!client.ok()) return -1;
    auto rc = client->Wait(20000);
    if (json != nullptr) *json = client->ReadToEnd(1000);
    return rc.ok() ? *rc : -1;
  }

  std::string aes_pwd_;
  std::string me_log_;
  std::unique_ptr<ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_P(ToolsE2eTest, ClientEchoesThroughFakeMeForEveryTransportAndSecretForm) {
  StartMeAndProxy({}, {"-S", kSecretHex, "-P", "ffeeddccbbaa99887766554433221100"});
  for (const char* transport : {"abridged", "intermediate", "padded"}) {
    std::string json;
    EXPECT_EQ(RunClient({"--secret", kSecretHex, "--transport", transport, "--packets", "20",
                         "--size", "56-70000", "--window", "4", "--quick-ack-every", "3",
                         "--dc", "2"},
                        &json),
              0)
        << transport << ": " << json;
  }
  std::string json;
  // The largest frame a client may send (intermediate: no padding counts against the limit).
  EXPECT_EQ(RunClient({"--secret", kSecretHex, "--transport", "intermediate", "--packets", "3",
                       "--size", "1044480", "--dc", "-2"},
                      &json),
            0)
      << json;
  // dd link: padded transport with tdlib's 0..15 padding bytes.
  EXPECT_EQ(RunClient({"--secret", std::string("dd") + kSecretHex, "--packets", "5", "--size",
                       "56-300000", "--dc", "2"},
                      &json),
            0)
      << json;
  std::string log = ReadFile(me_log_);
  EXPECT_GT(CountOf(log, "\"ad_tag\":\"ffeeddccbbaa99887766554433221100\""), 0) << log;
  EXPECT_EQ(CountOf(log, "\"ad_tag\":\"none\""), 0);
  // Closed clients were reported to the ME.
  EXPECT_TRUE(WaitFor([&] { return CountOf(ReadFile(me_log_), "\"event\":\"close_conn\"") >= 5; },
                      5000));
  EXPECT_EQ(proxy_->Stop(), 0);
}

TEST_P(ToolsE2eTest, WrongSecretAndGarbageGetSilence) {
  StartMeAndProxy({}, {"-S", kSecretHex});
  std::string json;
  EXPECT_EQ(RunClient({"--secret", "ffffffffffffffffffffffffffffffff", "--packets", "2",
                       "--expect", "silence", "--hold-seconds", "0.5"},
                      &json),
            0)
      << json;
  EXPECT_EQ(RunClient({"--send-garbage", "500", "--expect", "silence", "--hold-seconds", "0.5"},
                      &json),
            0)
      << json;
  EXPECT_EQ(CountOf(ReadFile(me_log_), "\"event\":\"req\""), 0);
  EXPECT_EQ(RunClient({"--secret", kSecretHex, "--packets", "3"}, &json), 0) << json;
}

TEST_P(ToolsE2eTest, CloseExtFromTheMeClosesTheClient) {
  StartMeAndProxy({"--close-ext-after", "2"}, {});
  std::string json;
  EXPECT_EQ(RunClient({"--packets", "2", "--expect", "close"}, &json), 0) << json;
}

TEST_P(ToolsE2eTest, DirectModeThroughFakeDc) {
  auto dc = ChildProcess::Spawn({ToolPath("mtp-fake-dc"), "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(dc.ok()) << dc.status();
  auto port = dc->ReadListeningPort(5000);
  ASSERT_TRUE(port.ok());
  std::vector<std::string> args = {"-H", "0", "-M", std::to_string(GetParam().shards),
                                   "--io-backend", GetParam().backend, "-S", kSecretHex,
                                   "--direct"};
  for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
    args.insert(args.end(), {"--dc-override", std::string(id) + ":127.0.0.1:" +
                                                  std::to_string(*port)});
  }
  proxy_ = ProxyProcess::Start(args);
  ASSERT_NE(proxy_, nullptr);
  for (const char* dc_id : {"2", "-4", "203"}) {
    std::string json;
    EXPECT_EQ(RunClient({"--secret", kSecretHex, "--dc", dc_id, "--packets", "10", "--size",
                         "56-300000", "--quick-ack-every", "2"},
                        &json),
              0)
        << dc_id << ": " << json;
  }
  EXPECT_EQ(proxy_->Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, ToolsE2eTest,
    ::testing::Values(Param{"io_uring", 1}, Param{"epoll", 2}),
    [](const ::testing::TestParamInfo<Param>& info) {
      return std::string(info.param.backend == std::string("io_uring") ? "io_uring" : "epoll") +
             "_" + std::to_string(info.param.shards) + "shard";
    });

}  // namespace
}  // namespace mtp
