// End to end through the real mtproto-proxy binary: in-process loopback clients and fake
// middle-ends / DCs on 127.0.0.1, parameterised over io_uring/epoll and 1/2 shards.
#include <gtest/gtest.h>

#include <string>

#include "core/hex.h"
#include "proto/rpc_messages.h"
#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"

namespace mtp {
namespace {

using e2e::ConfigFor;
using e2e::Hex;
using e2e::MakeSecret;
using e2e::Message;
using e2e::ProxyProcess;
using e2e::ProxySecretBytes;
using e2e::WaitFor;
using e2e::WriteTempFile;
using testing_peers::FakeDc;
using testing_peers::FakeMe;
using testing_peers::MeEvent;
using testing_peers::TestClient;

struct Param {
  const char* backend;
  int shards;
};

class ProxyE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    secret_path_ = WriteTempFile("proxy-secret", e2e::ProxySecretText());
  }

  std::vector<std::string> CommonArgs() {
    // Secret-less clients are part of what this suite covers.
    return {"-H", "0", "-M", std::to_string(GetParam().shards), "--io-backend",
            GetParam().backend, "--msg-buffers-size", "64m", "--allow-no-secret"};
  }

  std::unique_ptr<ProxyProcess> StartMe(const std::string& config,
                                        std::vector<std::string> extra) {
    std::vector<std::string> args = CommonArgs();
    args.insert(args.end(), {"--aes-pwd", secret_path_});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(WriteTempFile("proxy-multi.conf", config));
    return ProxyProcess::Start(args);
  }

  // Every shard opens min_connections links; wait until the fake ME saw them all ready.
  bool WaitLinks(FakeMe& me, int per_shard) {
    return WaitFor([&] { return me.links_ready() >= per_shard * GetParam().shards; }, 8000);
  }

  std::string secret_path_;
};

TEST_P(ProxyE2eTest, EveryTransportAndSecretFormRelays) {
  FakeMe me(ProxySecretBytes());
  ClientSecret s1 = MakeSecret(1), s2 = MakeSecret(2);
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {"-S", Hex(s1), "-S", Hex(s2)});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  // Plain link (abridged or intermediate) and dd link (padded) with either secret.
  for (const ClientSecret* s : {&s1, &s2}) {
    for (Transport t : {Transport::kAbridged, Transport::kIntermediate, Transport::kPadded}) {
      auto client = TestClient::Connect(proxy->port(), s, t, 2);
      ASSERT_TRUE(client.has_value());
      auto msg = Message(256, static_cast<uint8_t>(t));
      ASSERT_TRUE(client->SendFrame(msg));
      auto echo = client->ReadFrame(5000);
      ASSERT_TRUE(echo.has_value()) << TransportName(t);
      EXPECT_EQ(*echo, msg);
    }
  }
  EXPECT_EQ(proxy->Stop(), 0);
}

TEST_P(ProxyE2eTest, NoSecretConfigured) {
  FakeMe me(ProxySecretBytes());
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  auto msg = Message(64, 1);
  ASSERT_TRUE(client->SendFrame(msg));
  auto echo = client->ReadFrame(5000);
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, msg);
}

TEST_P(ProxyE2eTest, AdTagAndFlagsSeenByTheMiddleEnd) {
  FakeMe me(ProxySecretBytes());
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {"-P", "00112233445566778899aabbccddeeff"});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kPadded, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(client->SendFrame(Message(64, 5), /*quick_ack=*/true));
  bool ack = false;
  auto first = client->ReadFrame(5000, &ack);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(ack);
  MeEvent req;
  ASSERT_TRUE(me.WaitFor(kRpcProxyReq, 3000, &req));
  // Padded clients are reported as intermediate (no 0x8000000), plus tag and quick ack.
  EXPECT_EQ(req.flags, 0xa0021008u);
  EXPECT_EQ(HexEncode(ByteSpan(req.ad_tag.data(), req.ad_tag.size())), "00112233445566778899aabbccddeeff");
}

TEST_P(ProxyE2eTest, RoutesByDcIdWithDefaultCluster) {
  FakeMe me1(ProxySecretBytes()), me2(ProxySecretBytes());
  std::string config = "min_connections 1;\nmax_connections 2;\ndefault 2;\n"
                       "proxy_for 1 127.0.0.1:" + std::to_string(me1.port()) + ";\n"
                       "proxy_for 2 127.0.0.1:" + std::to_string(me2.port()) + ";\n";
  auto proxy = StartMe(config, {});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me1, 1));
  ASSERT_TRUE(WaitLinks(me2, 1));
  for (int16_t dc : {1, 2, 5, -1}) {  // 5 and -1 have no cluster: default (2)
    auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, dc);
    ASSERT_TRUE(client.has_value());
    auto msg = Message(64, static_cast<uint8_t>(dc + 10));
    ASSERT_TRUE(client->SendFrame(msg));
    ASSERT_TRUE(client->ReadFrame(5000).has_value()) << dc;
  }
  auto count = [](FakeMe& me) {
    int n = 0;
    for (const MeEvent& e : me.Events()) n += e.type == kRpcProxyReq;
    return n;
  };
  EXPECT_EQ(count(me1), 1);
  EXPECT_EQ(count(me2), 3);
}

TEST_P(ProxyE2eTest, WrongSecretAndGarbageNeverReachTheMiddleEnd) {
  FakeMe me(ProxySecretBytes());
  ClientSecret good = MakeSecret(9), bad = MakeSecret(10);
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {"-S", Hex(good)});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  auto wrong = TestClient::Connect(proxy->port(), &bad, Transport::kIntermediate, 2);
  ASSERT_TRUE(wrong.has_value());
  ASSERT_TRUE(wrong->SendFrame(Message(128, 1)));
  int garbage = testing_peers::ConnectLoopback(proxy->port());
  ASSERT_GE(garbage, 0);
  std::string junk(300, 'G');
  ASSERT_EQ(write(garbage, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  auto good_client = TestClient::Connect(proxy->port(), &good, Transport::kAbridged, 2);
  ASSERT_TRUE(good_client.has_value());
  auto msg = Message(512, 3);
  ASSERT_TRUE(good_client->SendFrame(msg));
  auto echo = good_client->ReadFrame(5000);
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, msg);
  EXPECT_TRUE(wrong->StaysSilent(300));
  int n = 0;
  for (const MeEvent& e : me.Events()) n += e.type == kRpcProxyReq;
  EXPECT_EQ(n, 1);
  close(garbage);
}

TEST_P(ProxyE2eTest, CloseConnAndCloseExt) {
  FakeMe me(ProxySecretBytes());
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  uint64_t first_id = 0;
  {
    auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, 2);
    ASSERT_TRUE(client.has_value());
    ASSERT_TRUE(client->SendFrame(Message(64, 1)));
    ASSERT_TRUE(client->ReadFrame(5000).has_value());
    MeEvent req;
    ASSERT_TRUE(me.WaitFor(kRpcProxyReq, 3000, &req));
    first_id = req.ext_conn_id;
  }
  MeEvent closed;
  ASSERT_TRUE(me.WaitFor(kRpcCloseConn, 3000, &closed));
  EXPECT_EQ(closed.ext_conn_id, first_id);

  auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(client->SendFrame(Message(64, 2)));
  ASSERT_TRUE(client->ReadFrame(5000).has_value());
  uint64_t second_id = 0;
  for (const MeEvent& e : me.Events()) {
    if (e.type == kRpcProxyReq && e.ext_conn_id != first_id) second_id = e.ext_conn_id;
  }
  ASSERT_NE(second_id, 0u);
  me.SendCloseExt(second_id);
  EXPECT_TRUE(client->WaitClosed(5000));
}

TEST_P(ProxyE2eTest, MiddleEndRestartIsReconnected) {
  auto me = std::make_unique<FakeMe>(ProxySecretBytes());
  uint16_t port = me->port();
  auto proxy = StartMe(ConfigFor(port, 2, 4), {});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(*me, 2));
  auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(client->SendFrame(Message(64, 1)));
  ASSERT_TRUE(client->ReadFrame(5000).has_value());
  me.reset();  // the ME dies: bound clients are closed
  EXPECT_TRUE(client->WaitClosed(5000));
  me = std::make_unique<FakeMe>(ProxySecretBytes(), port);
  ASSERT_TRUE(WaitLinks(*me, 2));  // reconnect backoff starts at ~1 s
  auto again = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, 2);
  ASSERT_TRUE(again.has_value());
  auto msg = Message(96, 7);
  ASSERT_TRUE(again->SendFrame(msg));
  auto echo = again->ReadFrame(5000);
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, msg);
}

TEST_P(ProxyE2eTest, HundredClientsInterleavedSizesUpToTheMaximum) {
  FakeMe me(ProxySecretBytes());
  auto proxy = StartMe(ConfigFor(me.port(), 2, 4), {});
  ASSERT_NE(proxy, nullptr);
  ASSERT_TRUE(WaitLinks(me, 2));
  const size_t sizes[] = {28 + 28, 1024, 16 * 1024 - 4, 65536, 1044480};
  std::vector<TestClient> clients;
  for (int i = 0; i < 100; ++i) {
    auto c = TestClient::Connect(proxy->port(), nullptr,
                                 static_cast<Transport>(i % 3), static_cast<int16_t>(2));
    ASSERT_TRUE(c.has_value());
    clients.push_back(std::move(*c));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 100; ++i) {
      size_t size = sizes[(i + round) % 5];
      if (size == 1044480 && i % 10 != 0) size = 4096;  // keep the test bounded
      ASSERT_TRUE(clients[i].SendFrame(Message(size, static_cast<uint8_t>(i))));
    }
    for (int i = 0; i < 100; ++i) {
      size_t size = sizes[(i + round) % 5];
      if (size == 1044480 && i % 10 != 0) size = 4096;
      auto echo = clients[i].ReadFrame(10000);
      ASSERT_TRUE(echo.has_value()) << i;
      EXPECT_EQ(*echo, Message(size, static_cast<uint8_t>(i))) << i;
    }
  }
}

TEST_P(ProxyE2eTest, DirectModeAgainstFakeDc) {
  FakeDc dc;
  std::vector<std::string> args = CommonArgs();
  // Every DC (and so every media id and the fallback) points at the fake DC: never a real one.
  for (int id : {1, 2, 3, 4, 5, 203, -1, -2, -3, -4, -5, -203}) {
    args.insert(args.end(), {"--dc-override", std::to_string(id) + ":127.0.0.1:" +
                                                  std::to_string(dc.port())});
  }
  args.push_back("--direct");
  auto proxy = ProxyProcess::Start(args);
  ASSERT_NE(proxy, nullptr);
  for (int16_t id : {1, -2, 203}) {
    auto client = TestClient::Connect(proxy->port(), nullptr, Transport::kIntermediate, id);
    ASSERT_TRUE(client.has_value());
    for (size_t size : {64u, 300000u}) {
      auto msg = Message(size, 4);
      ASSERT_TRUE(client->SendFrame(msg));
      auto echo = client->ReadFrame(5000);
      ASSERT_TRUE(echo.has_value());
      EXPECT_EQ(*echo, msg);
    }
    EXPECT_EQ(dc.last_dc_id(), id);
  }
  EXPECT_EQ(proxy->Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, ProxyE2eTest,
    ::testing::Values(Param{"io_uring", 1}, Param{"io_uring", 2}, Param{"epoll", 1},
                      Param{"epoll", 2}),
    [](const ::testing::TestParamInfo<Param>& info) {
      return std::string(info.param.backend == std::string("io_uring") ? "io_uring" : "epoll") +
             "_" + std::to_string(info.param.shards) + "shard";
    });

}  // namespace
}  // namespace mtp
