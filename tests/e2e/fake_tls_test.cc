// End to end fake-TLS (-D): the real proxy binary between mtp-client ("ee" secrets) and
// mtp-fake-me, with two domains whose real sites are local: a.example (the default domain) is
// `openssl s_server`, so curl and s_client through the proxy complete a real TLS handshake with
// it; b.example is a plain TCP echo server, so a connection fronted there gets its own bytes
// back from the first byte. Everything on 127.0.0.1 with free ports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/hex.h"
#include "proto/fake_tls.h"
#include "proto/fake_tls_ja4.h"
#include "proto/proxy_protocol.h"
#include "tests/control/openssl_server.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/tool_run.h"
#include "tools/client_codec.h"

namespace mtp {
namespace {

using e2e::CountOf;
using e2e::ProxyProcess;
using e2e::ReadFile;
using e2e::WaitFor;
using e2e::WriteTempFile;
using tools::ChildProcess;
using tools::ClientCodec;
using tools::ClientCodecConfig;

constexpr char kSecretA[] = "0123456789abcdef0123456789abcdef";
constexpr char kSecretB[] = "fedcba9876543210fedcba9876543210";
constexpr char kWrongSecret[] = "00112233445566778899aabbccddeeff";

std::string EeSecret(const std::string& secret_hex, const std::string& domain) {
  return "ee" + secret_hex + HexEncode(ByteSpan(reinterpret_cast<const uint8_t*>(domain.data()),
                                                domain.size()));
}

ClientSecret SecretBytes(const char* hex) {
  ClientSecret s{};
  auto bytes = HexDecode(hex).value();
  std::copy(bytes.begin(), bytes.end(), s.begin());
  return s;
}

// A listening socket on a free 127.0.0.1 port (stored in *port); the test servers below.
int ListenOnLoopback(int backlog, uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  listen(fd, backlog);
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  *port = ntohs(sin.sin_port);
  return fd;
}

// A loopback TCP server that echoes every connection until EOF (the "real site" of b.example).
class EchoServer {
 public:
  EchoServer() {
    fd_ = ListenOnLoopback(64, &port_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Loop() {
    std::vector<int> conns;
    while (!stop_) {
      std::vector<pollfd> fds = {{fd_, POLLIN, 0}};
      for (int c : conns) fds.push_back({c, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) conns.push_back(c);
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char buf[16384];
        const ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
        if (n <= 0 || send(fds[i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
          close(fds[i].fd);
          conns.erase(std::find(conns.begin(), conns.end(), fds[i].fd));
        }
      }
    }
    for (int c : conns) close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A raw client socket with bounded blocking helpers.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0;
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  // True once the proxy closed the connection (EOF or reset) within the timeout; any bytes
  // received before are discarded.
  bool WaitClosed(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      uint8_t buf[4096];
      if (recv(fd_, buf, sizeof(buf), 0) <= 0) return true;
    }
  }
  bool Send(ByteSpan data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads until the connection ends: 0 for EOF, the errno of a failed read (ECONNRESET for an
  // RST), ETIMEDOUT if it is still open at the timeout.
  int ReadError(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return ETIMEDOUT;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      uint8_t buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return 0;
      if (n < 0) return errno;
    }
  }
  // Reads until `n` bytes arrived, EOF, or the timeout.
  std::vector<uint8_t> Read(size_t n, int timeout_ms) {
    std::vector<uint8_t> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
      uint8_t buf[16384];
      const ssize_t r = recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (r <= 0) break;
      out.insert(out.end(), buf, buf + r);
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct Param {
  const char* record_policy;
  int shards;
  const char* backend;
};

class FakeTlsE2eTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (testing::OpenSslBinary().empty()) GTEST_SKIP() << "openssl is not installed";
    site_a_ = testing::OpenSslServer::Start();
    ASSERT_NE(site_a_, nullptr);
    aes_pwd_ = WriteTempFile("proxy-secret", e2e::ProxySecretText());
    me_log_ = WriteTempFile("fake-me.log", "");
    auto me = e2e::SpawnListening("mtp-fake-me", {"--listen", "127.0.0.1:0", "--aes-pwd",
                                                  aes_pwd_, "--log-file", me_log_});
    ASSERT_TRUE(me.ok()) << me.status();
    me_ = std::move(me->process);
    const std::string config = e2e::ConfigFor(me->port, 1, 2);
    proxy_ = ProxyProcess::Start(
        {"-H", "0", "-p", "0", "--http-stats", "-M", std::to_string(GetParam().shards),
         "--aes-pwd", aes_pwd_,
         "--msg-buffers-size", "64m", "--io-backend", GetParam().backend, "-v", "-S", kSecretA, "-S", kSecretB, "-D", "a.example",
         "-D", "b.example", "--domain-target",
         "a.example=127.0.0.1:" + std::to_string(site_a_->port()), "--domain-target",
         "b.example=127.0.0.1:" + std::to_string(echo_.port()), "--tls-record-policy",
         GetParam().record_policy, WriteTempFile("proxy-multi.conf", config)},
        30000);
    ASSERT_NE(proxy_, nullptr);
    // A frame that finds no ready ME link is dropped (spec §8.3), so clients start only once
    // every shard's link is ready as the proxy itself reports it.
    std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
    ASSERT_TRUE(stats_port.has_value()) << proxy_->Log();
    ASSERT_TRUE(e2e::WaitFor(
        [&] {
          const std::string body = e2e::HttpBody(e2e::HttpGet(*stats_port, "/stats"));
          return e2e::StatsInt(body, "ready_outbound_connections").value_or(0) >=
                 GetParam().shards;
        },
        10000))
        << proxy_->Log();
  }

  // Runs mtp-client against the proxy; returns its exit code (and JSON line).
  int RunClient(std::vector<std::string> flags, std::string* json = nullptr) {
    flags.insert(flags.begin(), {"--timeout-ms", "10000"});
    return e2e::RunTool(e2e::ClientArgv(proxy_->port(), flags), 60000, json);
  }

  std::vector<uint8_t> SignedHello(const char* secret_hex, const std::string& domain) {
    return BuildClientHello(SecretBytes(secret_hex), domain,
                            static_cast<int32_t>(std::time(nullptr)), ClientHelloLayout::kModern)
        .value();
  }

  bool LogHas(const std::string& text, int timeout_ms = 5000) {
    return WaitFor([&] { return proxy_->LogContains(text); }, timeout_ms);
  }

  EchoServer echo_;
  std::unique_ptr<testing::OpenSslServer> site_a_;
  std::string aes_pwd_;
  std::string me_log_;
  std::unique_ptr<ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_P(FakeTlsE2eTest, ProbesTheRealSitesAtStartUp) {
  EXPECT_TRUE(LogHas("Successfully checked domain a.example"));
  // The echo "site" is no TLS server: b.example falls back to a random ServerHello size.
  EXPECT_TRUE(LogHas("Failed to check domain b.example"));
}

TEST_P(FakeTlsE2eTest, EchoesAllSizesWithSeveralSecretsAndDomains) {
  struct Case {
    const char* secret;
    const char* domain;
    const char* hello;
    const char* size;
    const char* packets;
  };
  const std::vector<Case> cases = {
      {kSecretA, "a.example", "legacy", "56-4096", "60"},
      {kSecretB, "b.example", "modern", "56-70000", "30"},
      {kSecretA, "b.example", "modern", "1044000", "2"},  // the largest frames
      {kSecretB, "a.example", "legacy", "56", "20"},
  };
  for (const Case& c : cases) {
    std::string json;
    EXPECT_EQ(RunClient({"--secret", EeSecret(c.secret, c.domain), "--hello", c.hello, "--size",
                         c.size, "--packets", c.packets, "--window", "4", "--quick-ack-every",
                         "5", "--dc", "2"},
                        &json),
              0)
        << c.domain << " " << c.size << ": " << json;
  }
  EXPECT_FALSE(proxy_->LogContains("proxying to"));  // nothing was fronted
}

TEST_P(FakeTlsE2eTest, CurlCompletesARealTlsHandshakeWithTheFrontedSite) {
  const std::string url = "https://a.example:" + std::to_string(proxy_->port()) + "/";
  const std::string resolve = "a.example:" + std::to_string(proxy_->port()) + ":127.0.0.1";
  const std::string out_path = WriteTempFile("curl.out", "");
  const int rc = testing::RunQuietly({"/usr/bin/curl", "-sk", "--max-time", "20", "--resolve",
                                      resolve, "-o", out_path, url},
                                     30000);
  if (rc == -1 && access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl is not installed";
  EXPECT_EQ(rc, 0);
  const std::string page = ReadFile(out_path);
  EXPECT_NE(page.find("<HTML>"), std::string::npos) << page;  // s_server -www status page
  EXPECT_NE(page.find("TLSv1.3"), std::string::npos) << page;
  // curl's hello is shorter than 512 bytes ("not TLS" for the reference's rule) or fails the
  // digest; either way it is fronted to the default domain's site.
  EXPECT_TRUE(LogHas("proxying to a.example"));
}

TEST_P(FakeTlsE2eTest, OpenSslClientGetsThePageThroughTheProxy) {
  const std::string in_path = WriteTempFile("request", "GET / HTTP/1.0\r\n\r\n");
  const std::string out_path = WriteTempFile("s_client.out", "");
  // s_client with -ign_eof sends the request from stdin and prints the answer.
  const std::string cmd = testing::OpenSslBinary() + " s_client -quiet -ign_eof -connect 127.0.0.1:" +
                          std::to_string(proxy_->port()) + " -servername a.example < " +
                          in_path + " > " + out_path + " 2>/dev/null";
  const int rc = testing::RunQuietly({"/bin/sh", "-c", "timeout 20 " + cmd}, 30000);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(ReadFile(out_path).find("<HTML>"), std::string::npos) << ReadFile(out_path);
}

TEST_P(FakeTlsE2eTest, WrongSecretEndsAtTheRealSite) {
  std::string json;
  // The real site answers with its own ServerHello, which the client cannot authenticate.
  EXPECT_EQ(RunClient({"--secret", EeSecret(kWrongSecret, "a.example"), "--expect", "reject"},
                      &json),
            0)
      << json;
  EXPECT_TRUE(LogHas("rejected (bad_digest), proxying to a.example"));
}

TEST_P(FakeTlsE2eTest, WrongSniEndsAtTheDefaultSite) {
  std::string json;
  EXPECT_EQ(RunClient({"--secret", EeSecret(kSecretA, "c.example"), "--expect", "reject"},
                      &json),
            0)
      << json;
  EXPECT_TRUE(LogHas("rejected (unknown_sni), proxying to a.example"));
}

TEST_P(FakeTlsE2eTest, GarbageEndsAtTheDefaultSite) {
  RawClient client(proxy_->port());
  ASSERT_TRUE(client.connected());
  const std::string garbage = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
  ASSERT_TRUE(client.Send(ByteSpan(reinterpret_cast<const uint8_t*>(garbage.data()),
                                   garbage.size())));
  EXPECT_TRUE(LogHas("rejected (not_tls), proxying to a.example"));
  // The TLS server refuses the plain HTTP request: an alert and/or a close, never the proxy.
  const std::vector<uint8_t> answer = client.Read(64, 10000);
  if (!answer.empty()) {
    EXPECT_EQ(answer[0], 0x15) << "expected a TLS alert from s_server";
  }
}

// A rejected hello (wrong secret) for b.example goes to its site, the echo server: the hello
// and everything after it come back unchanged, so the pipe starts at the first byte.
TEST_P(FakeTlsE2eTest, FrontingPipesByteForByteFromTheFirstByte) {
  const std::vector<uint8_t> hello = SignedHello(kWrongSecret, "b.example");
  RawClient client(proxy_->port());
  ASSERT_TRUE(client.Send(hello));
  EXPECT_EQ(client.Read(hello.size(), 10000), hello);
  std::vector<uint8_t> more(100000);
  for (size_t i = 0; i < more.size(); ++i) more[i] = static_cast<uint8_t>(i * 31 + 7);
  ASSERT_TRUE(client.Send(more));
  EXPECT_EQ(client.Read(more.size(), 10000), more);
  EXPECT_TRUE(LogHas("rejected (bad_digest), proxying to b.example"));
}

TEST_P(FakeTlsE2eTest, PlainAndDdClientsAreFronted) {
  std::string json;
  EXPECT_NE(RunClient({"--secret", kSecretA, "--packets", "1"}, &json), 0) << json;
  EXPECT_NE(RunClient({"--secret", std::string("dd") + kSecretA, "--packets", "1"}, &json), 0)
      << json;
  EXPECT_TRUE(WaitFor([&] { return CountOf(proxy_->Log(), "rejected (not_tls)") >= 2; }, 5000))
      << proxy_->Log();
}

// The same ClientHello twice: the first is answered by the proxy, every replay ends at the real
// site (here the echo server, which sends the hello back), whichever shard it lands on.
TEST_P(FakeTlsE2eTest, ReplayedHelloIsFrontedOnEveryShard) {
  const std::vector<uint8_t> hello = SignedHello(kSecretA, "b.example");
  TlsRandom client_random;
  std::copy(hello.begin() + 11, hello.begin() + 43, client_random.begin());
  {
    RawClient first(proxy_->port());
    ASSERT_TRUE(first.Send(hello));
    const std::vector<uint8_t> answer = first.Read(5, 10000);
    ASSERT_EQ(answer.size(), 5u);
    EXPECT_EQ(answer[0], 0x16);
    EXPECT_EQ(answer[2], 0x03);  // the proxy's ServerHello (16 03 03), not the echo (16 03 01)
    const std::vector<uint8_t> rest = first.Read(4096, 2000);
    std::vector<uint8_t> all = answer;
    all.insert(all.end(), rest.begin(), rest.end());
    EXPECT_EQ(VerifyServerHello(SecretBytes(kSecretA), client_random, all).status,
              ServerHelloCheckStatus::kOk);
  }
  ASSERT_TRUE(LogHas("fake-TLS ClientHello accepted"));
  const std::regex accepted_re("shard ([0-9]+): client [0-9]+: fake-TLS ClientHello accepted");
  std::smatch m;
  std::string log = proxy_->Log();
  ASSERT_TRUE(std::regex_search(log, m, accepted_re));
  const std::string accepted_shard = m[1];

  // Replays until one lands on another shard (with 2 shards; 1 shard: a few replays).
  const std::regex replay_re("shard ([0-9]+): client [0-9]+: fake-TLS ClientHello rejected "
                             "\\(replay\\)");
  bool other_shard = GetParam().shards == 1;
  int replays = 0;
  for (int i = 0; i < 64 && (replays < 3 || !other_shard); ++i) {
    RawClient again(proxy_->port());
    ASSERT_TRUE(again.Send(hello));
    EXPECT_EQ(again.Read(hello.size(), 10000), hello) << "replay " << i << " was not fronted";
    ++replays;
    ASSERT_TRUE(WaitFor([&] { return CountOf(proxy_->Log(), "rejected (replay)") >= replays; },
                        5000));
    log = proxy_->Log();
    for (auto it = std::sregex_iterator(log.begin(), log.end(), replay_re);
         it != std::sregex_iterator(); ++it) {
      if ((*it)[1] != accepted_shard) other_shard = true;
    }
  }
  EXPECT_TRUE(other_shard) << "no replay reached another shard";
}

TEST_P(FakeTlsE2eTest, IncompleteHandshakeIsFrontedAfterTenSeconds) {
  RawClient client(proxy_->port());
  const std::vector<uint8_t> partial = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                        0x03, 0x03};
  ASSERT_TRUE(client.Send(partial));
  EXPECT_TRUE(LogHas("fake-TLS handshake not completed in time", 20000));
  EXPECT_TRUE(LogHas("(a.example) for timeout"));
}

// One 200 KB echo through the proxy with the test-client codec, watching the record sizes the
// proxy sends: at most 1425 bytes with the reference policy; with the adaptive policy the
// burst starts with a record of at most 1400 bytes and grows to full 16401-byte records.
TEST_P(FakeTlsE2eTest, ServerRecordSizesFollowThePolicy) {
  ClientCodecConfig config;
  config.transport = Transport::kPadded;
  config.secret = SecretBytes(kSecretA);
  config.tls_domain = "a.example";
  config.hello_layout = ClientHelloLayout::kModern;
  auto codec = ClientCodec::Create(config);
  ASSERT_TRUE(codec.ok()) << codec.status();
  RawClient client(proxy_->port());
  ASSERT_TRUE(client.connected());
  std::vector<uint8_t> out;
  codec->Start(&out);
  constexpr size_t kPayload = 200000;
  codec->AppendFrame(kPayload, false, {}, [](MutableByteSpan p) {
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7);
  }, &out);
  ASSERT_TRUE(client.Send(out));
  out.clear();

  std::vector<uint8_t> wire;
  bool echoed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!echoed && std::chrono::steady_clock::now() < deadline) {
    const std::vector<uint8_t> got = client.Read(65536, 200);
    if (got.empty()) continue;
    wire.insert(wire.end(), got.begin(), got.end());
    MutableByteSpan buf = codec->ReceiveBuffer(got.size());
    std::copy(got.begin(), got.end(), buf.begin());
    ASSERT_TRUE(codec->CommitReceived(got.size(), &out).ok());
    if (!out.empty()) {
      ASSERT_TRUE(client.Send(out));
      out.clear();
    }
    for (;;) {
      auto event = codec->Next();
      ASSERT_TRUE(event.ok()) << event.status();
      if (event->kind == ClientCodec::EventKind::kNone) break;
      if (event->kind == ClientCodec::EventKind::kFrame) {
        EXPECT_EQ(event->payload.size(), kPayload);
        echoed = true;
      }
    }
  }
  ASSERT_TRUE(echoed);

  // Skip the ServerHello (handshake record, CCS, fake encrypted handshake), then parse records.
  ASSERT_GT(wire.size(), 16u);
  size_t off = 5 + LoadBe16(wire.data() + 3) + 6;
  off += 5 + LoadBe16(wire.data() + off + 3);
  std::vector<size_t> sizes;
  while (off + 5 <= wire.size()) {
    ASSERT_EQ(wire[off], 0x17);
    sizes.push_back(LoadBe16(wire.data() + off + 3));
    off += 5 + sizes.back();
  }
  ASSERT_FALSE(sizes.empty());
  const size_t largest = *std::max_element(sizes.begin(), sizes.end());
  if (std::string(GetParam().record_policy) == "reference") {
    EXPECT_EQ(largest, 1425u);
  } else {
    EXPECT_LE(sizes[0], 1400u);
    EXPECT_EQ(largest, 16401u);
  }
}

// Accepted and fronted connections are counted by reason (printed at exit with the tls_* keys
// of /stats).
TEST_P(FakeTlsE2eTest, StatsCountAcceptedAndFrontedByReason) {
  std::string json;
  ASSERT_EQ(RunClient({"--secret", EeSecret(kSecretB, "a.example"), "--packets", "3"}, &json), 0)
      << json;
  const std::vector<uint8_t> hello = SignedHello(kSecretA, "b.example");
  for (int i = 0; i < 3; ++i) {  // accepted once, then two replays
    RawClient c(proxy_->port());
    ASSERT_TRUE(c.Send(hello));
    EXPECT_FALSE(c.Read(5, 10000).empty());
  }
  {
    RawClient c(proxy_->port());
    const uint8_t junk[16] = {'j', 'u', 'n', 'k'};
    ASSERT_TRUE(c.Send(junk));
    ASSERT_TRUE(LogHas("rejected (not_tls)"));
  }
  ASSERT_TRUE(WaitFor([&] { return CountOf(proxy_->Log(), "rejected (replay)") >= 2; }, 5000));
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy_);
  ASSERT_TRUE(stats_port.has_value()) << proxy_->Log();
  std::string body;
  // Counters are summed from the shards; wait until the last fronting was counted.
  ASSERT_TRUE(WaitFor([&] {
    body = e2e::HttpBody(e2e::HttpGet(*stats_port, "/stats"));
    return e2e::StatsInt(body, "tls_fronted") == 3;
  }, 5000)) << body;
  for (const auto& [key, value] : std::vector<std::pair<std::string, int64_t>>{
           {"tls_domains", 2},
           {"tls_domains_probed", 1},
           {"tls_handshakes_accepted", 2},
           {"tls_fronted", 3},
           {"tls_fronted_replay", 2},
           {"tls_fronted_not_tls", 1},
           {"tls_fronted_bad_digest", 0},
           {"tls_replay_cache_inserts", 2},
           {"tls_replay_cache_replays", 2},
       }) {
    EXPECT_EQ(e2e::StatsInt(body, key), value) << key << "\n" << body;
  }
  const std::string metrics = e2e::HttpBody(e2e::HttpGet(*stats_port, "/metrics"));
  EXPECT_EQ(e2e::MetricValue(metrics, "mtproxy_tls_fronted_total{reason=\"replay\"}"), 2.0)
      << metrics;
  EXPECT_EQ(e2e::MetricValue(metrics, "mtproxy_tls_handshakes_accepted_total"), 2.0);
}

INSTANTIATE_TEST_SUITE_P(Policies, FakeTlsE2eTest,
                         ::testing::Values(Param{"adaptive", 2, "auto"},
                                           Param{"reference", 1, "auto"},
                                           Param{"adaptive", 2, "epoll"}),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(info.param.record_policy) + "_" +
                                  std::to_string(info.param.shards) + "shards_" +
                                  info.param.backend;
                         });

// ---- Direct mode, every rejection reason, an unreachable site ------------------------------

// The proxy in direct mode (--direct, every DC overridden to mtp-fake-dc) with two domains:
// echo.example (the default) fronts to the echo server, so every connection fronted there gets
// its own bytes back from the first byte; dead.example fronts to a port that refuses
// connections; slow.example fronts to a listener that never completes a connect.
class FakeTlsDirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
    ASSERT_TRUE(dc.ok()) << dc.status();
    dc_ = std::move(dc->process);
    const uint16_t dc_port = dc->port;
    // A bound socket that never listens: connecting to it is refused.
    dead_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(dead_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    getsockname(dead_fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    const uint16_t dead_port = ntohs(sin.sin_port);
    // A listener whose accept queue (backlog 0) is filled by one connection that is never
    // accepted: further SYNs are dropped, so connecting to it hangs.
    full_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sin.sin_port = 0;
    ASSERT_EQ(bind(full_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    ASSERT_EQ(listen(full_fd_, 0), 0);
    getsockname(full_fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    const uint16_t full_port = ntohs(sin.sin_port);
    filler_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(filler_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
    std::vector<std::string> args = {
        "-H", "0", "-p", "0", "--http-stats", "-M", "2", "-v", "-S", kSecretA, "-S", kSecretB,
        "-D", "echo.example", "-D", "dead.example", "--domain-target",
        "echo.example=127.0.0.1:" + std::to_string(echo_.port()), "--domain-target",
        "dead.example=127.0.0.1:" + std::to_string(dead_port), "-D", "slow.example",
        "--domain-target", "slow.example=127.0.0.1:" + std::to_string(full_port), "--direct"};
    for (const char* id : {"1", "2", "3", "4", "5", "203", "-1", "-2", "-3", "-4", "-5",
                           "-203"}) {  // never a real DC
      args.insert(args.end(),
                  {"--dc-override", std::string(id) + ":127.0.0.1:" + std::to_string(dc_port)});
    }
    proxy_ = ProxyProcess::Start(args, 30000);
    ASSERT_NE(proxy_, nullptr);
  }
  void TearDown() override {
    for (int fd : {dead_fd_, full_fd_, filler_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  int RunClient(std::vector<std::string> flags, std::string* json = nullptr) {
    flags.insert(flags.begin(), {"--timeout-ms", "10000"});
    return e2e::RunTool(e2e::ClientArgv(proxy_->port(), flags), 60000, json);
  }

  // A 517-byte hello for `domain` with its random still zero (sign it after editing).
  static std::vector<uint8_t> UnsignedHello(const std::string& domain) {
    return BuildLegacyClientHello(domain, LegacyHelloRandoms::Fresh()).value();
  }
  static std::vector<uint8_t> Signed(std::vector<uint8_t> hello, const char* secret_hex,
                                     int32_t offset_s = 0) {
    SignClientHello(SecretBytes(secret_hex), static_cast<int32_t>(std::time(nullptr)) + offset_s,
                    MutableByteSpan(hello));
    return hello;
  }

  bool LogHas(const std::string& text, int timeout_ms = 5000) {
    return WaitFor([&] { return proxy_->LogContains(text); }, timeout_ms);
  }

  std::string Stats() {
    if (!stats_port_) stats_port_ = e2e::StatsPort(*proxy_);
    if (!stats_port_) return "";
    return e2e::HttpBody(e2e::HttpGet(*stats_port_, "/stats"));
  }

  EchoServer echo_;
  int dead_fd_ = -1;
  int full_fd_ = -1;
  int filler_fd_ = -1;
  std::unique_ptr<ChildProcess> dc_;
  std::unique_ptr<ProxyProcess> proxy_;
  std::optional<uint16_t> stats_port_;
};

TEST_F(FakeTlsDirectTest, ClientEchoesAllSizesThroughTheFakeDc) {
  struct Case {
    const char* secret;
    const char* domain;
    const char* hello;
    const char* size;
    const char* packets;
    const char* dc;
  };
  const std::vector<Case> cases = {
      {kSecretA, "echo.example", "legacy", "56-4096", "60", "2"},
      {kSecretB, "dead.example", "modern", "56-70000", "30", "-4"},
      {kSecretA, "echo.example", "modern", "1044000", "2", "203"},  // the largest frames
      {kSecretB, "echo.example", "legacy", "56", "20", "1"},
  };
  for (const Case& c : cases) {
    std::string json;
    EXPECT_EQ(RunClient({"--secret", EeSecret(c.secret, c.domain), "--hello", c.hello, "--size",
                         c.size, "--packets", c.packets, "--window", "4", "--dc", c.dc},
                        &json),
              0)
        << c.domain << " " << c.size << ": " << json;
  }
  EXPECT_FALSE(proxy_->LogContains("proxying to"));  // nothing was fronted
  const std::string stats = Stats();
  EXPECT_EQ(e2e::StatsInt(stats, "tls_handshakes_accepted"), 4) << stats;
  EXPECT_EQ(e2e::StatsInt(stats, "tls_fronted"), 0) << stats;
}

// ClientHellos cut into several TLS records (DPI-evasion tools) and/or sent in several TCP
// segments are reassembled, validated as the single record the client signed, and echo; a
// fragmented hello with a non-handshake record is fronted from its first byte.
TEST_F(FakeTlsDirectTest, SplitHellosAreReassembledAndEcho) {
  struct Case {
    const char* hello;
    std::vector<std::string> split;
  };
  const std::vector<Case> cases = {
      {"legacy", {"--hello-records", "2"}},
      {"modern", {"--hello-records", "2"}},
      {"legacy", {"--hello-byte-records", "64"}},
      {"modern", {"--hello-byte-records", "64"}},
      {"legacy", {"--hello-byte-records", "512"}},  // every byte its own record
      {"modern", {"--hello-records", "9", "--hello-byte-records", "3"}},
      {"modern", {"--hello-segments", "2"}},  // one record, two TCP segments
      {"legacy", {"--hello-segments", "5", "--hello-records", "3"}},
      {"modern", {"--hello-segments", "4", "--hello-byte-records", "64"}},
  };
  for (const Case& c : cases) {
    std::vector<std::string> flags = {"--secret", EeSecret(kSecretA, "echo.example"), "--hello",
                                      c.hello, "--size", "56-4096", "--packets", "5"};
    flags.insert(flags.end(), c.split.begin(), c.split.end());
    std::string json;
    EXPECT_EQ(RunClient(flags, &json), 0) << c.hello << " " << c.split[0] << ": " << json;
  }
  EXPECT_FALSE(proxy_->LogContains("proxying to"));  // nothing was fronted
  std::string stats = Stats();
  EXPECT_EQ(e2e::StatsInt(stats, "tls_handshakes_accepted"),
            static_cast<int64_t>(cases.size()))
      << stats;

  // The third record is application data: fronted to the default site from the first byte.
  std::vector<uint8_t> bad = FragmentClientHello(
      Signed(UnsignedHello("echo.example"), kSecretA), /*byte_records=*/2, /*records=*/1);
  bad[12] = kTlsApplicationData;
  RawClient c(proxy_->port());
  ASSERT_TRUE(c.Send(bad));
  EXPECT_EQ(c.Read(bad.size(), 10000), bad);
  EXPECT_TRUE(LogHas("rejected (bad_fragments: not_handshake)"));
  ASSERT_TRUE(WaitFor([&] {
    stats = Stats();
    return e2e::StatsInt(stats, "tls_fronted_bad_fragments") == 1;
  }, 5000)) << stats;
}

// Every rejection the proxy can see on 127.0.0.1 (all but the local-port-80 one) is piped to
// the real site from the client's first byte, and counted by reason in /stats and /metrics.
TEST_F(FakeTlsDirectTest, EveryRejectionIsFrontedFromTheFirstByteAndCountedByReason) {
  // The handshake timer runs while the other cases go through.
  const std::vector<uint8_t> partial = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                        0x03, 0x03};
  RawClient slow(proxy_->port());
  ASSERT_TRUE(slow.Send(partial));

  std::vector<std::pair<std::string, std::vector<uint8_t>>> cases;
  const std::string text = "GET / HTTP/1.1\r\nHost: echo.example\r\n\r\n";
  cases.push_back({"not_tls", std::vector<uint8_t>(text.begin(), text.end())});
  {
    std::vector<uint8_t> h = UnsignedHello("echo.example");
    const std::string name = "echo.example";
    auto at = std::search(h.begin(), h.end(), name.begin(), name.end());
    ASSERT_NE(at, h.end());
    *(at - 3) = 0x01;  // name_type 1: not a host name
    cases.push_back({"bad_sni", Signed(h, kSecretA)});
  }
  cases.push_back({"unknown_sni", Signed(UnsignedHello("nowhere.example"), kSecretA)});
  {
    std::vector<uint8_t> h = Signed(UnsignedHello("echo.example"), kSecretA);
    h.push_back(0x14);  // sent with the hello, before any ServerHello
    cases.push_back({"extra_bytes", h});
  }
  {
    std::vector<uint8_t> h = UnsignedHello("echo.example");
    h.resize(4097, 0);  // 5 + L = 4097 > 4096
    StoreBe16(h.data() + 3, static_cast<uint16_t>(h.size() - 5));
    cases.push_back({"too_big", Signed(h, kSecretA)});
  }
  cases.push_back({"bad_digest", Signed(UnsignedHello("echo.example"), kWrongSecret)});
  cases.push_back({"bad_timestamp", Signed(UnsignedHello("echo.example"), kSecretB, -3600)});
  {
    std::vector<uint8_t> h = UnsignedHello("echo.example");
    ASSERT_EQ(h[80], 0x13);  // after the GREASE suite: 13 01 -> c0 2b (TLS 1.2 only)
    h[80] = 0xc0;
    h[81] = 0x2b;
    cases.push_back({"no_tls13_cipher", Signed(h, kSecretA)});
  }
  // Plain obfuscated2 and "dd" clients: not TLS, fronted like any other non-TLS bytes.
  for (Transport t : {Transport::kIntermediate, Transport::kPadded}) {
    ClientCodecConfig config;
    config.transport = t;
    config.secret = SecretBytes(kSecretA);
    auto codec = ClientCodec::Create(config);
    ASSERT_TRUE(codec.ok());
    std::vector<uint8_t> out;
    codec->Start(&out);
    codec->AppendFrame(std::vector<uint8_t>(40, 0x5a), false, &out);
    cases.push_back({"not_tls", out});
  }
  const std::vector<uint8_t> replayed = Signed(UnsignedHello("echo.example"), kSecretA);
  {
    RawClient first(proxy_->port());
    ASSERT_TRUE(first.Send(replayed));
    const std::vector<uint8_t> answer = first.Read(3, 10000);
    ASSERT_EQ(answer, (std::vector<uint8_t>{0x16, 0x03, 0x03}));  // the proxy's ServerHello
  }
  cases.push_back({"replay", replayed});

  std::map<std::string, int64_t> expected;
  for (const auto& [reason, bytes] : cases) {
    RawClient c(proxy_->port());
    ASSERT_TRUE(c.Send(bytes)) << reason;
    // The echo "site" returns exactly what the client sent: the pipe starts at byte 0.
    EXPECT_EQ(c.Read(bytes.size(), 10000), bytes) << reason;
    ++expected[reason];
  }

  // An accepted hello whose inner header is not the padded transport: fronted mid-stream.
  {
    ClientCodecConfig config;
    config.transport = Transport::kIntermediate;
    config.secret = SecretBytes(kSecretB);
    config.tls_domain = "echo.example";
    auto codec = ClientCodec::Create(config);
    ASSERT_TRUE(codec.ok());
    RawClient c(proxy_->port());
    std::vector<uint8_t> out;
    codec->Start(&out);
    codec->AppendFrame(std::vector<uint8_t>(40, 0x33), false, &out);
    ASSERT_TRUE(c.Send(out));
    out.clear();
    while (codec->handshake_pending()) {
      const std::vector<uint8_t> got = c.Read(1, 10000);
      ASSERT_FALSE(got.empty()) << "no ServerHello";
      MutableByteSpan buf = codec->ReceiveBuffer(got.size());
      std::copy(got.begin(), got.end(), buf.begin());
      ASSERT_TRUE(codec->CommitReceived(got.size(), &out).ok());
    }
    ASSERT_TRUE(c.Send(out));
    ASSERT_TRUE(LogHas("for bad_inner_tag"));
    ++expected["bad_inner_tag"];
  }
  ASSERT_TRUE(LogHas("(echo.example) for timeout", 20000));
  EXPECT_EQ(slow.Read(partial.size(), 10000), partial);
  ++expected["timeout"];

  int64_t total = 0;
  for (const auto& [reason, n] : expected) total += n;
  std::string body;
  ASSERT_TRUE(WaitFor([&] {
    body = Stats();
    return e2e::StatsInt(body, "tls_fronted") == total;
  }, 5000)) << body;
  const std::string metrics =
      e2e::HttpBody(e2e::HttpGet(*e2e::StatsPort(*proxy_), "/metrics"));
  for (const char* reason :
       {"not_tls", "bad_sni", "unknown_sni", "port80", "extra_bytes", "too_big", "replay",
        "bad_digest", "bad_timestamp", "no_tls13_cipher", "timeout", "bad_inner_tag"}) {
    const int64_t want = expected.count(reason) ? expected[reason] : 0;
    EXPECT_EQ(e2e::StatsInt(body, std::string("tls_fronted_") + reason), want) << reason;
    EXPECT_EQ(e2e::MetricValue(metrics, std::string("mtproxy_tls_fronted_total{reason=\"") +
                                            reason + "\"}"),
              static_cast<double>(want))
        << reason;
  }
  EXPECT_EQ(e2e::StatsInt(body, "tls_handshakes_accepted"), 2);
  EXPECT_EQ(e2e::StatsInt(body, "tls_front_failed"), 0);
}

// The real site never answers the connect: the fronting connect times out (10 s), then the
// client is closed and the failure logged and counted.
TEST_F(FakeTlsDirectTest, FrontingConnectTimesOut) {
  RawClient rejected(proxy_->port());
  ASSERT_TRUE(rejected.Send(Signed(UnsignedHello("slow.example"), kWrongSecret)));
  EXPECT_TRUE(LogHas("rejected (bad_digest), proxying to slow.example"));
  EXPECT_TRUE(rejected.WaitClosed(30000)) << "client left open";
  EXPECT_TRUE(LogHas("failed to proxy request to slow.example (127.0.0.1:"));
  EXPECT_TRUE(LogHas("connect timed out after 10000 ms"));
  std::string body;
  EXPECT_TRUE(WaitFor([&] {
    body = Stats();
    return e2e::StatsInt(body, "tls_front_failed") == 1 &&
           e2e::StatsInt(body, "tls_fronting_active") == 0;
  }, 5000)) << body;
}

// The real site refuses connections: the fronted client is closed, the failure is logged
// naming the site and counted, and the proxy goes on serving everyone else.
TEST_F(FakeTlsDirectTest, UnreachableRealSiteClosesOnlyThatClient) {
  // A valid client connected before the failure keeps working through it.
  ClientCodecConfig config;
  config.transport = Transport::kPadded;
  config.secret = SecretBytes(kSecretA);
  config.tls_domain = "dead.example";
  auto codec = ClientCodec::Create(config);
  ASSERT_TRUE(codec.ok());
  RawClient valid(proxy_->port());
  std::vector<uint8_t> out;
  codec->Start(&out);
  ASSERT_TRUE(valid.Send(out));
  out.clear();
  auto echo_round = [&](uint8_t fill) {
    codec->AppendFrame(std::vector<uint8_t>(1000, fill), false, &out);
    if (!out.empty()) {
      if (!valid.Send(out)) return false;
      out.clear();
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::vector<uint8_t> got = valid.Read(1, 1000);
      if (got.empty()) continue;
      MutableByteSpan buf = codec->ReceiveBuffer(got.size());
      std::copy(got.begin(), got.end(), buf.begin());
      if (!codec->CommitReceived(got.size(), &out).ok()) return false;
      if (!out.empty()) {
        if (!valid.Send(out)) return false;
        out.clear();
      }
      for (;;) {
        auto event = codec->Next();
        if (!event.ok()) return false;
        if (event->kind == ClientCodec::EventKind::kNone) break;
        if (event->kind == ClientCodec::EventKind::kFrame) {
          const std::vector<uint8_t> want(1000, fill);
          return std::equal(event->payload.begin(), event->payload.end(), want.begin(),
                            want.end());
        }
      }
    }
    return false;
  };
  ASSERT_TRUE(echo_round(1));

  for (int i = 0; i < 3; ++i) {
    RawClient rejected(proxy_->port());
    ASSERT_TRUE(rejected.Send(Signed(UnsignedHello("dead.example"), kWrongSecret)));
    EXPECT_TRUE(rejected.WaitClosed(10000)) << "client " << i << " was left open";
  }
  EXPECT_TRUE(LogHas("failed to proxy request to dead.example (127.0.0.1:"));
  EXPECT_TRUE(LogHas("client connection closed"));
  std::string body;
  // The counters and the gauge are published separately (the gauge at the shard's tick), so
  // wait for both rather than reading the gauge the moment the counter is seen.
  EXPECT_TRUE(WaitFor([&] {
    body = Stats();
    return e2e::StatsInt(body, "tls_front_failed") == 3 &&
           e2e::StatsInt(body, "tls_fronting_active") == 0;
  }, 5000)) << body;
  EXPECT_EQ(e2e::StatsInt(body, "tls_fronted_bad_digest"), 3);

  EXPECT_TRUE(echo_round(2));  // the earlier client is undisturbed
  std::string json;
  EXPECT_EQ(RunClient({"--secret", EeSecret(kSecretB, "dead.example"), "--size", "56-8192",
                       "--packets", "10"},
                      &json),
            0)
      << json;
}

// Fake-TLS handshake failures are counted by the first stage that failed
// (mtproxy_tls_handshake_failures_total{stage}). Direct mode with every DC id overridden to a
// port that refuses connections, so a client past both handshakes fails at "upstream".
TEST(FakeTlsStagesTest, HandshakeFailuresAreCountedByStage) {
  EchoServer echo;
  const int dead_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(dead_fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  socklen_t len = sizeof(sin);
  getsockname(dead_fd, reinterpret_cast<sockaddr*>(&sin), &len);
  const std::string dead = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  std::vector<std::string> args = {"-H", "0", "-p", "0", "--http-stats", "-M", "1", "-v",
                                   "-S", kSecretA, "-D", "echo.example", "--domain-target",
                                   "echo.example=127.0.0.1:" + std::to_string(echo.port()),
                                   "--direct"};
  for (const char* id : {"1", "2", "3", "4", "5", "203", "-1", "-2", "-3", "-4", "-5", "-203"}) {
    args.insert(args.end(), {"--dc-override", std::string(id) + ":" + dead});  // never real
  }
  std::unique_ptr<ProxyProcess> proxy = ProxyProcess::Start(args, 30000);
  ASSERT_NE(proxy, nullptr);
  const ClientSecret secret = SecretBytes(kSecretA);
  const int32_t now = static_cast<int32_t>(std::time(nullptr));
  auto hello = [&](const std::string& domain, int32_t ts) {
    return BuildClientHello(secret, domain, ts, ClientHelloLayout::kLegacy517).value();
  };
  auto fronted = [&](const std::vector<uint8_t>& bytes) {  // the echo site sends them back
    RawClient c(proxy->port());
    ASSERT_TRUE(c.Send(bytes));
    EXPECT_EQ(c.Read(bytes.size(), 10000), bytes);
  };
  const std::string text = "GET / HTTP/1.1\r\nHost: echo.example\r\n\r\n";
  fronted(std::vector<uint8_t>(text.begin(), text.end()));  // first_bytes
  fronted(hello("nowhere.example", now));                   // client_hello
  fronted(hello("echo.example", now - 3600));               // timestamp
  const std::vector<uint8_t> once = hello("echo.example", now);
  {
    RawClient first(proxy->port());
    ASSERT_TRUE(first.Send(once));
    ASSERT_EQ(first.Read(3, 10000), (std::vector<uint8_t>{0x16, 0x03, 0x03}));
  }
  fronted(once);  // replay
  {
    // inner_header: a valid hello, then 64 random bytes as the obfuscated2 header.
    RawClient c(proxy->port());
    ASSERT_TRUE(c.Send(hello("echo.example", now)));
    ASSERT_EQ(c.Read(3, 10000).size(), 3u);
    std::vector<uint8_t> records = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03, 0x00,
                                    0x40};
    for (int i = 0; i < 64; ++i) records.push_back(static_cast<uint8_t>(i * 37 + 11));
    ASSERT_TRUE(c.Send(records));
    ASSERT_TRUE(WaitFor([&] { return proxy->LogContains("no secret matches the header"); },
                        5000));
  }
  std::string json;
  EXPECT_NE(e2e::RunTool(e2e::ClientArgv(proxy->port(), {"--timeout-ms", "10000", "--secret",
                                                         EeSecret(kSecretA, "echo.example"),
                                                         "--packets", "1"}),
                         60000, &json),
            0)
      << json;  // upstream: the DC refuses

  const std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value()) << proxy->Log();
  std::string metrics;
  const std::vector<std::string> stages = {"first_bytes", "client_hello", "timestamp",
                                           "replay",      "inner_header", "upstream"};
  EXPECT_TRUE(WaitFor([&] {
    metrics = e2e::HttpBody(e2e::HttpGet(*stats_port, "/metrics"));
    for (const std::string& stage : stages) {
      const std::string key = "mtproxy_tls_handshake_failures_total{stage=\"" + stage + "\"}";
      if (e2e::MetricValue(metrics, key) != 1.0) return false;
    }
    return true;
  }, 5000)) << metrics;
  const std::string stats = e2e::HttpBody(e2e::HttpGet(*stats_port, "/stats"));
  EXPECT_EQ(e2e::StatsInt(stats, "tls_handshake_failures_replay"), 1) << stats;
  EXPECT_EQ(e2e::StatsInt(stats, "tls_handshakes_accepted"), 3) << stats;
  // Every complete hello was fingerprinted before the secret check: six 517-byte hellos
  // (whatever their SNI, secret or timestamp) share one JA4; the HTTP request is no hello.
  const std::string ja4 = Ja4Fingerprint(once).value();
  EXPECT_EQ(ja4.substr(0, 11), "t13d1615h2_");
  EXPECT_EQ(e2e::MetricValue(metrics,
                             "mtproxy_tls_client_hellos_by_ja4_total{ja4=\"" + ja4 + "\"}"),
            6.0)
      << metrics;
  close(dead_fd);
}

// -D *.wild.example: an SNI of one label in front of wild.example authenticates and is fronted,
// when rejected, to the wildcard's own --domain-target; an SNI the wildcard does not cover is
// an unknown SNI, fronted to the default domain. Direct mode with mtp-fake-dc, two echo sites
// told apart by the proxy's "proxying to" log line.
class FakeTlsWildcardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
    ASSERT_TRUE(dc.ok()) << dc.status();
    dc_ = std::move(dc->process);
    std::vector<std::string> args = {
        "-H", "0", "-p", "0", "--http-stats", "-M", "2", "-v", "-S", kSecretA,
        "-D", "echo.example", "--domain-target",
        "echo.example=127.0.0.1:" + std::to_string(default_site_.port()),
        "-D", "*.wild.example", "--domain-target",
        "*.wild.example=127.0.0.1:" + std::to_string(wild_site_.port()), "--direct"};
    for (const char* id : {"1", "2", "3", "4", "5", "-1", "-2", "-3", "-4", "-5"}) {
      args.insert(args.end(), {"--dc-override", std::string(id) + ":127.0.0.1:" +
                                                    std::to_string(dc->port)});
    }
    proxy_ = ProxyProcess::Start(args, 30000);
    ASSERT_NE(proxy_, nullptr);
  }

  static std::vector<uint8_t> SignedLegacy(const std::string& domain, const char* secret_hex) {
    std::vector<uint8_t> hello =
        BuildLegacyClientHello(domain, LegacyHelloRandoms::Fresh()).value();
    SignClientHello(SecretBytes(secret_hex), static_cast<int32_t>(std::time(nullptr)),
                    MutableByteSpan(hello));
    return hello;
  }

  // Sends `hello` and expects it echoed back whole by a fronting site.
  void ExpectEchoed(const std::vector<uint8_t>& hello) {
    RawClient client(proxy_->port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.Send(hello));
    EXPECT_EQ(client.Read(hello.size(), 10000), hello);
  }

  bool LogHas(const std::string& text, int timeout_ms = 5000) {
    return WaitFor([&] { return proxy_->LogContains(text); }, timeout_ms);
  }

  EchoServer default_site_;
  EchoServer wild_site_;
  std::unique_ptr<ChildProcess> dc_;
  std::unique_ptr<ProxyProcess> proxy_;
};

TEST_F(FakeTlsWildcardTest, OneLabelUnderTheWildcardAuthenticates) {
  for (const char* hello : {"legacy", "modern"}) {
    std::string json;
    EXPECT_EQ(e2e::RunTool(e2e::ClientArgv(proxy_->port(),
                                           {"--timeout-ms", "10000", "--secret",
                                            EeSecret(kSecretA, "a.wild.example"), "--hello",
                                            hello, "--size", "56-4096", "--packets", "10",
                                            "--dc", "2"}),
                           60000, &json),
              0)
        << hello << ": " << json;
  }
  EXPECT_FALSE(proxy_->LogContains("proxying to"));  // nothing was fronted
}

TEST_F(FakeTlsWildcardTest, RejectedWildcardHelloGoesToTheWildcardsTarget) {
  ExpectEchoed(SignedLegacy("b.wild.example", kWrongSecret));
  EXPECT_TRUE(LogHas("rejected (bad_digest), proxying to *.wild.example"));
  EXPECT_FALSE(proxy_->LogContains("proxying to echo.example"));
}

TEST_F(FakeTlsWildcardTest, SniOutsideTheWildcardIsFrontedToTheDefaultDomain) {
  // Unknown altogether, two labels under the wildcard, and the bare base domain.
  for (const char* sni : {"unknown.example", "a.b.wild.example", "wild.example"}) {
    ExpectEchoed(SignedLegacy(sni, kSecretA));
  }
  EXPECT_TRUE(WaitFor(
      [&] { return CountOf(proxy_->Log(), "rejected (unknown_sni), proxying to echo.example") == 3; },
      5000))
      << proxy_->Log();
  EXPECT_FALSE(proxy_->LogContains("proxying to *.wild.example"));
}

// The start-up links cannot carry "*.wild.example": the link for the wildcard names
// www.wild.example, and a client given that link authenticates (nothing fronted). --link
// with --tls-link-label names another label.
TEST_F(FakeTlsWildcardTest, PrintedLinkNamesAHostTheWildcardAccepts) {
  const std::regex line(
      R"(\(ee, www\.wild\.example for \*\.wild\.example\): tg://proxy\?server=[^&]+&port=)" +
      std::to_string(proxy_->port()) + R"(&secret=(ee[0-9a-f]+) )");
  std::smatch m;
  std::string log;
  ASSERT_TRUE(WaitFor(
      [&] {
        log = proxy_->Log();
        return std::regex_search(log, m, line);
      },
      5000))
      << log;
  const std::string secret = m[1].str();
  EXPECT_EQ(secret, EeSecret(kSecretA, "www.wild.example"));
  // No printed secret names a literal wildcard ("*." is 2a2e in hex).
  EXPECT_EQ(log.find("&secret=ee" + std::string(kSecretA) + "2a2e"), std::string::npos) << log;
  std::string json;
  EXPECT_EQ(e2e::RunTool(e2e::ClientArgv(proxy_->port(), {"--timeout-ms", "10000", "--secret",
                                                          secret, "--size", "56-1024",
                                                          "--packets", "4", "--dc", "2"}),
                         60000, &json),
            0)
      << json;
  EXPECT_FALSE(proxy_->LogContains("proxying to"));

  const e2e::RunResult r = e2e::RunProxyToExit(
      {"--link", "-H", "8443", "-S", kSecretA, "-D", "*.wild.example", "--tls-link-label", "cdn",
       "--public-host", "proxy.example.org"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tg://proxy?server=proxy.example.org&port=8443&secret=" +
                          EeSecret(kSecretA, "cdn.wild.example")),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(ee, cdn.wild.example for *.wild.example)"), std::string::npos)
      << r.output;
}

// --tls-unknown-sni close|alert and --tls-reject-rst: a hello naming no -D domain is not
// fronted; the client gets nothing (close) or a fatal unrecognized_name alert, then the close,
// a FIN or, with --tls-reject-rst, an RST.
std::unique_ptr<ProxyProcess> StartPolicyProxy(std::vector<std::string> extra,
                                               uint16_t site_port = 1) {
  std::vector<std::string> args = {"-H", "0", "-S", kSecretA, "-D", "a.example",
                                   "--domain-target",
                                   "a.example=127.0.0.1:" + std::to_string(site_port), "--direct"};
  for (const char* id : {"1", "2", "3", "4", "5", "203"}) {  // never a real DC
    args.insert(args.end(), {"--dc-override", std::string(id) + ":127.0.0.1:1"});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return ProxyProcess::Start(args, 30000);
}

std::vector<uint8_t> SignedLegacyHello(const std::string& domain) {
  std::vector<uint8_t> hello = BuildLegacyClientHello(domain, LegacyHelloRandoms::Fresh()).value();
  SignClientHello(SecretBytes(kSecretA), static_cast<int32_t>(std::time(nullptr)),
                  MutableByteSpan(hello));
  return hello;
}

std::vector<uint8_t> HelloFor(const std::string& domain) {
  return BuildClientHello(SecretBytes(kSecretA), domain, static_cast<int32_t>(std::time(nullptr)),
                          ClientHelloLayout::kModern)
      .value();
}

TEST(FakeTlsPolicyOptionsTest, UnknownSniGetsTheAlertThenAClose) {
  auto proxy = StartPolicyProxy({"--tls-unknown-sni", "alert"});
  ASSERT_NE(proxy, nullptr);
  RawClient client(proxy->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(HelloFor("c.example")));
  const std::vector<uint8_t> answer = client.Read(64, 10000);
  const std::vector<uint8_t> alert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70};
  EXPECT_EQ(answer, alert);
  EXPECT_EQ(client.ReadError(5000), 0);  // then a FIN (no --tls-reject-rst)
}

TEST(FakeTlsPolicyOptionsTest, UnknownSniClosedWithAResetUnderRejectRst) {
  auto proxy = StartPolicyProxy({"--tls-unknown-sni", "close", "--tls-reject-rst"});
  ASSERT_NE(proxy, nullptr);
  RawClient client(proxy->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(HelloFor("c.example")));
  EXPECT_EQ(client.ReadError(10000), ECONNRESET);
  // A known SNI is not refused: its hello is answered (a ServerHello record, 0x16).
  RawClient good(proxy->port());
  ASSERT_TRUE(good.connected());
  ASSERT_TRUE(good.Send(HelloFor("a.example")));
  const std::vector<uint8_t> answer = good.Read(1, 10000);
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(answer[0], 0x16);
}

// A modern hello offers X25519MLKEM768 and x25519: by default the ServerHello answers x25519;
// with --tls-pq-key-share it answers the post-quantum group, 1088 bytes longer.
TEST(FakeTlsPolicyOptionsTest, PostQuantumKeyShareOnlyWhenAskedFor) {
  auto server_hello_length = [](std::vector<std::string> extra) -> int {
    auto proxy = StartPolicyProxy(std::move(extra));
    if (proxy == nullptr) return -1;
    RawClient client(proxy->port());
    if (!client.connected() || !client.Send(HelloFor("a.example"))) return -1;
    const std::vector<uint8_t> header = client.Read(5, 10000);
    if (header.size() < 5 || header[0] != 0x16) return -1;
    return header[3] << 8 | header[4];
  };
  const int classic = server_hello_length({});
  const int post_quantum = server_hello_length({"--tls-pq-key-share"});
  ASSERT_GT(classic, 0);
  EXPECT_EQ(post_quantum, classic + 1088);
}

// --tls-front-proxy-protocol: the site (an echo server here) gets a PROXY v2 header naming the
// client before the client's first byte.
TEST(FakeTlsPolicyOptionsTest, FrontedConnectionsStartWithAProxyHeader) {
  EchoServer site;
  auto proxy = StartPolicyProxy({"--tls-front-proxy-protocol"}, site.port());
  ASSERT_NE(proxy, nullptr);
  RawClient client(proxy->port());
  ASSERT_TRUE(client.connected());
  const std::string garbage = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
  ASSERT_TRUE(client.Send(ByteSpan(reinterpret_cast<const uint8_t*>(garbage.data()),
                                   garbage.size())));
  const std::vector<uint8_t> echoed = client.Read(28 + garbage.size(), 10000);
  const ProxyHeader h = ParseProxyHeader(ByteSpan(echoed));
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone) << ProxyHeaderErrorName(h.error);
  EXPECT_EQ(h.version, 2);
  EXPECT_FALSE(h.is_local);
  EXPECT_EQ(h.source.ToString().rfind("127.0.0.1:", 0), 0u) << h.source.ToString();
  EXPECT_EQ(h.destination.port(), proxy->port());
  ASSERT_EQ(echoed.size(), h.header_len + garbage.size());
  EXPECT_EQ(std::string(echoed.begin() + static_cast<std::ptrdiff_t>(h.header_len), echoed.end()),
            garbage);
}

// A real site that stops reading what a fronted client sends is bounded like a DC: the session
// is closed at the write-stall timeout and counted.
TEST(FakeTlsPolicyOptionsTest, ASiteThatStopsReadingIsAWriteStall) {
  // A listener that never accepts: the kernel completes the connect, nobody reads.
  const int site = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(site, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  ASSERT_EQ(listen(site, 128), 0);  // room for the start-up probe's connections too
  socklen_t len = sizeof(sin);
  getsockname(site, reinterpret_cast<sockaddr*>(&sin), &len);
  auto proxy = StartPolicyProxy({"-p", "0", "--http-stats", "--write-stall-timeout", "1"},
                                ntohs(sin.sin_port));
  ASSERT_NE(proxy, nullptr);
  std::optional<uint16_t> stats_port = e2e::StatsPort(*proxy);
  ASSERT_TRUE(stats_port.has_value()) << proxy->Log();
  const std::string series = "mtproxy_client_closes_total{reason=\"front_write_stall\"}";
  auto stalls = [&] {
    return e2e::MetricValue(e2e::HttpBody(e2e::HttpGet(*stats_port, "/metrics")), series)
        .value_or(-1);
  };
  EXPECT_EQ(stalls(), 0);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(proxy->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  // Not TLS: fronted at once. Then push until the proxy stops taking bytes and the stall ends
  // the session (the site's and the proxy's buffers fill first).
  std::vector<char> junk(65536, 'x');
  std::memcpy(junk.data(), "GET / HTTP/1.1\r\n", 16);
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < 64; ++i) {
          if (send(fd, junk.data(), junk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) <= 0) break;
        }
        return stalls() >= 1;
      },
      20000))
      << proxy->Log();
  close(fd);
  close(site);
}

// The kernel's TCP_INFO of a connected socket (linux/tcp.h: data-segment counters, MSS).
std::optional<tcp_info> TcpInfoOf(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return info;
}

// Reads the ServerHello flight: the ServerHello record, the CCS record and the first
// application-data record, checking their types. Empty if it did not all come in time.
std::vector<uint8_t> ReadServerHelloFlight(RawClient& client, int timeout_ms) {
  std::vector<uint8_t> flight;
  auto record = [&](uint8_t type) {
    std::vector<uint8_t> header = client.Read(5, timeout_ms);
    if (header.size() != 5 || header[0] != type || header[1] != 0x03 || header[2] != 0x03) {
      return false;
    }
    const size_t len = static_cast<size_t>(header[3] << 8 | header[4]);
    std::vector<uint8_t> body = client.Read(len, timeout_ms);
    if (body.size() != len) return false;
    flight.insert(flight.end(), header.begin(), header.end());
    flight.insert(flight.end(), body.begin(), body.end());
    return true;
  };
  if (!record(0x16) || !record(0x14) || !record(0x17)) return {};
  return flight;
}

// A proxy in direct mode in front of mtp-fake-dc (every DC id), so mtp-client completes whole
// sessions; a.example's site is `site_port` (default: unreachable; nothing here is fronted).
struct FakeDcProxy {
  std::unique_ptr<ChildProcess> dc;
  std::unique_ptr<ProxyProcess> proxy;
};
std::optional<FakeDcProxy> StartFakeDcProxy(const std::vector<std::string>& extra,
                                            uint16_t site_port = 1) {
  auto dc = e2e::SpawnListening("mtp-fake-dc", {"--listen", "127.0.0.1:0"});
  if (!dc.ok()) return std::nullopt;
  std::vector<std::string> args = {"-H", "0", "-S", kSecretA, "-D", "a.example",
                                   "--domain-target",
                                   "a.example=127.0.0.1:" + std::to_string(site_port), "--direct"};
  for (const char* id : {"1", "2", "3", "4", "5", "-1", "-2", "-3", "-4", "-5"}) {
    args.insert(args.end(),
                {"--dc-override", std::string(id) + ":127.0.0.1:" + std::to_string(dc->port)});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  FakeDcProxy out;
  out.dc = std::move(dc->process);
  out.proxy = ProxyProcess::Start(args, 30000);
  if (out.proxy == nullptr) return std::nullopt;
  return out;
}

// mtp-client (legacy and modern hellos) echoes through the proxy.
void ExpectClientsEcho(uint16_t port) {
  for (const char* hello : {"legacy", "modern"}) {
    std::string json;
    EXPECT_EQ(e2e::RunTool(e2e::ClientArgv(port, {"--timeout-ms", "10000", "--secret",
                                                  EeSecret(kSecretA, "a.example"), "--hello",
                                                  hello, "--size", "56-65536", "--packets", "12",
                                                  "--dc", "2"}),
                           60000, &json),
              0)
        << hello << ": " << json;
  }
}

// --tls-handshake-fragment: the ServerHello flight reaches the client in several TCP segments
// (counted by the client's kernel, tcpi_data_segs_in), where without it the flight is one
// loopback segment; the flight's records are intact, and real clients still get through.
TEST(FakeTlsHandshakeFragmentTest, ServerHelloFlightArrivesInSeveralSegments) {
  struct Seen {
    size_t bytes = 0;
    uint32_t data_segments = 0;
  };
  auto flight = [](std::vector<std::string> extra) -> std::optional<Seen> {
    auto proxy = StartPolicyProxy(std::move(extra));
    if (proxy == nullptr) return std::nullopt;
    RawClient client(proxy->port());
    if (!client.connected() || !client.Send(HelloFor("a.example"))) return std::nullopt;
    const std::vector<uint8_t> bytes = ReadServerHelloFlight(client, 10000);
    if (bytes.empty()) return std::nullopt;
    // The client sent nothing more, so nothing else can come: the count is the flight's.
    const std::optional<tcp_info> info = TcpInfoOf(client.fd());
    if (!info) return std::nullopt;
    return Seen{bytes.size(), info->tcpi_data_segs_in};
  };
  const std::optional<Seen> whole = flight({});
  ASSERT_TRUE(whole.has_value());
  EXPECT_LE(whole->data_segments, 2u) << whole->bytes << " bytes";
  const std::optional<Seen> cut = flight({"--tls-handshake-fragment", "128"});
  ASSERT_TRUE(cut.has_value());
  const size_t pieces = (cut->bytes + 127) / 128;
  ASSERT_GE(pieces, 8u) << cut->bytes;
  // Every piece is its own segment; only pieces queued behind a full initial congestion window
  // could be merged by the kernel, so at least 8 distinct segments are asserted.
  // (No upper bound: a short send or a retransmission on a loaded box adds segments.)
  EXPECT_GE(cut->data_segments, 8u) << cut->bytes << " bytes in " << pieces << " pieces";
}

TEST(FakeTlsHandshakeFragmentTest, ClientsWorkWithIt) {
  std::optional<FakeDcProxy> p = StartFakeDcProxy({"--tls-handshake-fragment", "16"});
  ASSERT_TRUE(p.has_value());
  ExpectClientsEcho(p->proxy->port());
  EXPECT_FALSE(p->proxy->LogContains("proxying to"));
}

// --client-mss: the listener's TCP_MAXSEG. The client's kernel sees the clamped MSS (its
// tcpi_snd_mss, from the SYN-ACK) and gets the proxy's output in segments of at most that size
// (tcpi_rcv_mss, and a ServerHello flight spread over that many segments); without it the
// loopback MSS is ~65 KB. Clients still echo through it.
TEST(ClientMssTest, TheClampReachesTheClientBothWays) {
  {
    auto proxy = StartPolicyProxy({});
    ASSERT_NE(proxy, nullptr);
    RawClient client(proxy->port());
    ASSERT_TRUE(client.connected());
    const std::optional<tcp_info> info = TcpInfoOf(client.fd());
    ASSERT_TRUE(info.has_value());
    EXPECT_GT(info->tcpi_snd_mss, 4096u);
  }
  auto proxy = StartPolicyProxy({"--client-mss", "536"});
  ASSERT_NE(proxy, nullptr);
  RawClient client(proxy->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(HelloFor("a.example")));
  const std::vector<uint8_t> flight = ReadServerHelloFlight(client, 10000);
  ASSERT_FALSE(flight.empty());
  const std::optional<tcp_info> info = TcpInfoOf(client.fd());
  ASSERT_TRUE(info.has_value());
  EXPECT_GT(info->tcpi_snd_mss, 0u);
  EXPECT_LE(info->tcpi_snd_mss, 536u);
  EXPECT_LE(info->tcpi_rcv_mss, 536u);
  EXPECT_GE(info->tcpi_data_segs_in, (flight.size() + 535) / 536) << flight.size();

  std::optional<FakeDcProxy> p = StartFakeDcProxy({"--client-mss", "536"});
  ASSERT_TRUE(p.has_value());
  ExpectClientsEcho(p->proxy->port());
}

// A TCP relay for one connection to a site that keeps what the site sends, so a test can read
// the site's TLS records as a client sees them.
class RecordingRelay {
 public:
  explicit RecordingRelay(uint16_t site_port) : site_port_(site_port) {
    fd_ = ListenOnLoopback(4, &port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~RecordingRelay() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<uint8_t> FromSite() {
    std::lock_guard<std::mutex> lock(mu_);
    return from_site_;
  }

 private:
  void Run() {
    pollfd p{fd_, POLLIN, 0};
    while (!stop_ && poll(&p, 1, 50) <= 0) {
    }
    if (stop_) return;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    RawClient site(site_port_);
    if (client < 0 || !site.connected()) {
      if (client >= 0) close(client);
      return;
    }
    bool client_open = true;
    while (!stop_) {
      pollfd fds[2] = {{client, static_cast<short>(client_open ? POLLIN : 0), 0},
                       {site.fd(), POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      uint8_t buf[65536];
      if (fds[0].revents != 0) {
        const ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (n <= 0) {
          shutdown(site.fd(), SHUT_WR);
          client_open = false;
        } else {
          send(site.fd(), buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
      }
      if (fds[1].revents != 0) {
        const ssize_t n = recv(site.fd(), buf, sizeof(buf), 0);
        if (n <= 0) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          from_site_.insert(from_site_.end(), buf, buf + n);
        }
        send(client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
    }
    close(client);
  }

  const uint16_t site_port_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<uint8_t> from_site_;
  std::thread thread_;
};

struct TlsRecordHeader {
  uint8_t type = 0;
  size_t length = 0;
};

// The records of a TLS byte stream from a server (types and lengths; a partial last one is
// left out).
std::vector<TlsRecordHeader> ParseRecords(const std::vector<uint8_t>& wire, size_t offset = 0) {
  std::vector<TlsRecordHeader> out;
  while (offset + 5 <= wire.size()) {
    const size_t len = LoadBe16(wire.data() + offset + 3);
    if (offset + 5 + len > wire.size()) break;
    out.push_back({wire[offset], len});
    offset += 5 + len;
  }
  return out;
}

double Median(std::vector<size_t> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? static_cast<double>(v[v.size() / 2])
                           : (static_cast<double>(v[v.size() / 2 - 1]) + v[v.size() / 2]) / 2;
}

// Record sizing against the probed real site. The site is `openssl s_server -WWW` (OpenSSL
// 3.0, TLS 1.3) serving a 256 KiB file; the proxy (adaptive policy, the default) fronts -D
// a.example to it and echoes a 256 KiB frame from mtp-fake-dc. Compared on the first 12
// application-data records of each: both send the TLS 1.3 maximum (16401 bytes) in the steady
// state, with the same median; the adaptive policy differs from OpenSSL only by its warm-up
// (dynamic record sizing, as Go, nginx and Cloudflare do, which OpenSSL does not): at most the
// first 4 records, each smaller than the site's, and none larger. Also: the proxy sends no
// session tickets. After its ServerHello flight nothing comes until there is data to relay,
// where OpenSSL sends two NewSessionTicket records right after the handshake (a Telegram
// client would take such a record for relay data). Timing is not compared: loopback timings
// say nothing about a real path, and tests assert no timings.
TEST(FakeTlsRecordSizingTest, AdaptiveRecordsMatchTheProbedSiteAfterTheWarmUp) {
  if (testing::OpenSslBinary().empty()) GTEST_SKIP() << "openssl is not installed";
  char dir_template[] = "/tmp/mtp-www-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  constexpr size_t kFileBytes = 256 * 1024;
  {
    std::string body(kFileBytes, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 + (i >> 9));
    FILE* f = std::fopen((dir + "/big.bin").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(body.data(), 1, body.size(), f), body.size());
    std::fclose(f);
  }
  testing::OpenSslServer::Options site_options;
  site_options.www = false;
  site_options.extra_args = {"-WWW"};
  site_options.working_dir = dir;
  auto site = testing::OpenSslServer::Start(site_options);
  ASSERT_NE(site, nullptr);

  // The site, as a client sees it: s_client through a recording relay.
  std::vector<TlsRecordHeader> site_records;
  {
    RecordingRelay relay(site->port());
    const std::string in_path = WriteTempFile("request", "GET /big.bin HTTP/1.0\r\n\r\n");
    const std::string cmd = testing::OpenSslBinary() +
                            " s_client -quiet -ign_eof -connect 127.0.0.1:" +
                            std::to_string(relay.port()) + " -servername a.example < " +
                            in_path + " > /dev/null 2>/dev/null";
    EXPECT_EQ(testing::RunQuietly({"/bin/sh", "-c", "timeout 20 " + cmd}, 30000), 0);
    site_records = ParseRecords(relay.FromSite());
  }
  std::remove((dir + "/big.bin").c_str());
  rmdir(dir.c_str());
  // Its application data: the last records (close_notify aside) that carry the file.
  std::vector<size_t> site_data;
  size_t plaintext = 0;
  for (size_t i = site_records.size(); i-- > 0 && plaintext < kFileBytes;) {
    ASSERT_EQ(site_records[i].type, 0x17);
    if (i + 1 == site_records.size() && site_records[i].length == 19) continue;  // alert
    site_data.insert(site_data.begin(), site_records[i].length);
    plaintext += site_records[i].length - 17;  // content type + AES-GCM tag
  }
  ASSERT_GE(plaintext, kFileBytes);

  // The proxy, probing the same site.
  // (The proxy probes the site before it serves.)
  std::optional<FakeDcProxy> p = StartFakeDcProxy({}, site->port());
  ASSERT_TRUE(p.has_value());
  ClientCodecConfig config;
  config.transport = Transport::kPadded;
  config.secret = SecretBytes(kSecretA);
  config.tls_domain = "a.example";
  config.hello_layout = ClientHelloLayout::kModern;
  auto codec = ClientCodec::Create(config);
  ASSERT_TRUE(codec.ok()) << codec.status();
  RawClient client(p->proxy->port());
  ASSERT_TRUE(client.connected());
  std::vector<uint8_t> out;
  codec->Start(&out);
  ASSERT_TRUE(client.Send(out));
  out.clear();
  std::vector<uint8_t> wire;
  bool echoed = false;
  bool frame_sent = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!echoed && std::chrono::steady_clock::now() < deadline) {
    if (!codec->handshake_pending() && !frame_sent) {
      // Handshake done, inner header sent: nothing may come before there is data (no
      // NewSessionTicket-like record), so the stream so far is exactly the flight.
      EXPECT_TRUE(client.Read(1, 500).empty());
      const std::vector<TlsRecordHeader> flight = ParseRecords(wire);
      ASSERT_EQ(flight.size(), 3u);
      EXPECT_EQ(flight[0].type, 0x16);
      EXPECT_EQ(flight[1].type, 0x14);
      EXPECT_EQ(flight[2].type, 0x17);
      codec->AppendFrame(kFileBytes, false, {}, [](MutableByteSpan b) {
        for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
      }, &out);
      ASSERT_TRUE(client.Send(out));
      out.clear();
      frame_sent = true;
    }
    const std::vector<uint8_t> got = client.Read(65536, 200);
    if (got.empty()) continue;
    wire.insert(wire.end(), got.begin(), got.end());
    MutableByteSpan buf = codec->ReceiveBuffer(got.size());
    std::copy(got.begin(), got.end(), buf.begin());
    ASSERT_TRUE(codec->CommitReceived(got.size(), &out).ok());
    if (!out.empty()) {
      ASSERT_TRUE(client.Send(out));
      out.clear();
    }
    for (;;) {
      auto event = codec->Next();
      ASSERT_TRUE(event.ok()) << event.status();
      if (event->kind == ClientCodec::EventKind::kNone) break;
      if (event->kind == ClientCodec::EventKind::kFrame) echoed = true;
    }
  }
  ASSERT_TRUE(echoed);
  const std::vector<TlsRecordHeader> proxy_records = ParseRecords(wire);
  ASSERT_GT(proxy_records.size(), 3u + 12u);
  std::vector<size_t> proxy_data;
  for (size_t i = 3; i < proxy_records.size(); ++i) {
    ASSERT_EQ(proxy_records[i].type, 0x17);
    proxy_data.push_back(proxy_records[i].length);
  }

  constexpr size_t kCompared = 12;
  ASSERT_GE(site_data.size(), kCompared);
  const std::vector<size_t> site_first(site_data.begin(), site_data.begin() + kCompared);
  const std::vector<size_t> proxy_first(proxy_data.begin(), proxy_data.begin() + kCompared);
  std::string shown = "site:";
  for (size_t n : site_first) shown += " " + std::to_string(n);
  shown += " / proxy:";
  for (size_t n : proxy_first) shown += " " + std::to_string(n);
  const size_t site_max = *std::max_element(site_first.begin(), site_first.end());
  EXPECT_EQ(site_max, 16401u) << shown;  // OpenSSL fills TLS 1.3 records
  EXPECT_EQ(*std::max_element(proxy_data.begin(), proxy_data.end()), site_max) << shown;
  for (size_t i = 0; i < kCompared; ++i) {
    EXPECT_LE(proxy_first[i], site_first[i]) << i << ": " << shown;  // never larger
  }
  // The warm-up: the site starts with a full record, the proxy with at most 1400 bytes.
  EXPECT_LE(proxy_first[0], 1400u) << shown;
  // After the warm-up (4 records), at least half of the proxy's records are full-size like all
  // of the site's (a record may end early where a flush ends: it carries what the DC had sent
  // by then), so the median matches the site's.
  size_t steady = 0;
  size_t full = 0;
  for (size_t i = 4; i + 1 < proxy_data.size(); ++i, ++steady) full += proxy_data[i] == site_max;
  ASSERT_GE(steady, 8u) << shown;
  EXPECT_GE(2 * full, steady) << shown;
  for (size_t i = 0; i + 1 < site_data.size(); ++i) EXPECT_EQ(site_data[i], site_max) << shown;
  EXPECT_EQ(Median(std::vector<size_t>(proxy_data.begin() + 4, proxy_data.end() - 1)),
            static_cast<double>(site_max))
      << shown;
}

// A canned TLS 1.3 site standing in for a post-quantum one (OpenSSL 3.0 has no ML-KEM): every
// ClientHello gets a ServerHello (the proxy's own writer, the shape real servers send) that
// answers X25519MLKEM768 when the hello offers a share for it, else x25519, then the CCS and a
// 2000-byte record, and the connection is closed.
class CannedPqSite {
 public:
  CannedPqSite() {
    fd_ = ListenOnLoopback(128, &port_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~CannedPqSite() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      Answer(c);
      close(c);
    }
  }
  static bool ReadExactly(int fd, uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t r = recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  static void Answer(int fd) {
    uint8_t header[5];
    if (!ReadExactly(fd, header, sizeof(header)) || header[0] != 0x16) return;
    const size_t size = sizeof(header) + LoadBe16(header + 3);
    if (size < 76) return;
    std::vector<uint8_t> hello(size);
    std::copy_n(header, sizeof(header), hello.begin());
    if (!ReadExactly(fd, hello.data() + sizeof(header), size - sizeof(header))) return;
    ServerHelloParams params;
    std::copy_n(hello.begin() + 44, 32, params.session_id.begin());
    params.key_share_group = ChooseServerKeyShareGroup(
        UsableKeyShareGroups(ParseKeyShares(hello)), KeySharePolicy{.post_quantum = true});
    std::vector<uint8_t> answer(ServerHelloSize(params, 2000));
    WriteServerHelloFresh(params, MutableByteSpan(answer));
    send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The ServerHello record length the proxy answers `hello` with (-1 on failure).
int ServerHelloLength(ProxyProcess& proxy, const std::vector<uint8_t>& hello) {
  RawClient client(proxy.port());
  if (!client.connected() || !client.Send(hello)) return -1;
  const std::vector<uint8_t> header = client.Read(5, 10000);
  if (header.size() < 5 || header[0] != 0x16) return -1;
  return header[3] << 8 | header[4];
}

// --tls-pq-follow-site: the probe learns what the site answers to a post-quantum hello, and a
// current app's hello gets X25519MLKEM768 only where the site answers it (1210-byte ServerHello
// record, as the canned site's), x25519 (122) where it answers x25519 (OpenSSL 3.0); without
// the option, x25519 everywhere. A legacy hello (no ML-KEM share) always gets x25519.
TEST(FakeTlsPqFollowSiteTest, ThePostQuantumAnswerFollowsTheProbedSite) {
  CannedPqSite pq_site;
  {
    auto proxy = StartPolicyProxy({"--tls-pq-follow-site"}, pq_site.port());
    ASSERT_NE(proxy, nullptr);
    EXPECT_TRUE(WaitFor(
        [&] {
          return proxy->LogContains(
              "Domain a.example answers a post-quantum hello with key_share group 0x11ec "
              "(ServerHello record length 1210)");
        },
        5000))
        << proxy->Log();
    EXPECT_EQ(ServerHelloLength(*proxy, HelloFor("a.example")), 1210);
    EXPECT_EQ(ServerHelloLength(*proxy, SignedLegacyHello("a.example")), 122);
  }
  {
    auto proxy = StartPolicyProxy({}, pq_site.port());  // opt-in: not followed by default
    ASSERT_NE(proxy, nullptr);
    EXPECT_EQ(ServerHelloLength(*proxy, HelloFor("a.example")), 122);
  }
  if (testing::OpenSslBinary().empty()) return;
  auto openssl_site = testing::OpenSslServer::Start();
  ASSERT_NE(openssl_site, nullptr);
  auto proxy = StartPolicyProxy({"--tls-pq-follow-site"}, openssl_site->port());
  ASSERT_NE(proxy, nullptr);
  EXPECT_TRUE(WaitFor(
      [&] {
        return proxy->LogContains(
            "Domain a.example answers a post-quantum hello with key_share group 0x001d");
      },
      5000))
      << proxy->Log();
  EXPECT_EQ(ServerHelloLength(*proxy, HelloFor("a.example")), 122);
}

TEST(FakeTlsPolicyOptionsTest, BadValuesAreRefused) {
  const e2e::RunResult bad = e2e::RunProxyToExit({"--tls-unknown-sni", "drop", "-S", kSecretA});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("invalid --tls-unknown-sni value 'drop': expected front, close or "
                            "alert"),
            std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace mtp
