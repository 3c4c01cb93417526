// End to end with the project's real test peers: mtproto-proxy between mtp-client and
// mtp-fake-me (ME mode) or mtp-fake-dc (direct mode), all on 127.0.0.1 with free ports.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
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

struct Param {
  const char* backend;
  int shards;
};

class ToolsE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    aes_pwd_ = WriteTempFile("proxy-secret", e2e::ProxySecretText());
    me_log_ = WriteTempFile("fake-me.log", "");
  }

  // Starts mtp-fake-me (extra flags appended) and a proxy routing every DC to it.
  void StartMeAndProxy(std::vector<std::string> me_flags, std::vector<std::string> proxy_flags) {
    std::vector<std::string> argv = {"--listen", "127.0.0.1:0", "--aes-pwd", aes_pwd_,
                                     "--log-file", me_log_};
    argv.insert(argv.end(), me_flags.begin(), me_flags.end());
    auto me = e2e::SpawnListening("mtp-fake-me", argv);
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::move(me->process);
    std::string config = e2e::ConfigFor(me->port, 2, 2);
    std::vector<std::string> args = {"-H", "0", "-M", std::to_string(GetParam().shards),
                                     "--io-backend", GetParam().backend, "--aes-pwd", aes_pwd_,
                                     "--msg-buffers-size", "64m", "--allow-no-secret"};
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
    flags.insert(flags.begin(), {"--timeout-ms", "8000"});
    return e2e::RunTool(e2e::ClientArgv(proxy_->port(), flags), 20000, json);
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
  auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
  ASSERT_TRUE(dc.ok()) << dc.status();
  std::vector<std::string> args = {"-H", "0", "-M", std::to_string(GetParam().shards),
                                   "--io-backend", GetParam().backend, "-S", kSecretHex,
                                   "--direct"};
  for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
    args.insert(args.end(), {"--dc-override", std::string(id) + ":127.0.0.1:" +
                                                  std::to_string(dc->port)});
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
