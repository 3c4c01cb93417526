// mtp-fake-me against an in-test "tiny relay": the test plays the proxy (ME client role of
// RpcLink over a blocking socket) against the spawned binary and checks echoes, quick acks,
// RPC_CLOSE_EXT, link drops, CRC negotiation, the event log and the stop summary.
#include <gtest/gtest.h>

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/rpc_link.h"
#include "proto/rpc_messages.h"
#include "tests/tools/child_process.h"
#include "tools/echo_payload.h"
#include "tools/net_util.h"

namespace mtp::tools {
namespace {

constexpr int kTimeoutMs = 10'000;

struct Message {
  uint32_t type;
  std::vector<uint8_t> payload;
};

class Collector : public RpcLinkVisitor {
 public:
  void OnRpcLinkReady(RpcLink&, const RpcHandshake&) override { ready = true; }
  void OnRpcMessage(RpcLink&, uint32_t type, ByteSpan payload) override {
    messages.push_back({type, std::vector<uint8_t>(payload.begin(), payload.end())});
  }
  bool ready = false;
  std::deque<Message> messages;
};

// The test's side of one ME link (client role).
class TinyRelay {
 public:
  static std::unique_ptr<TinyRelay> Connect(int port, const std::vector<uint8_t>& secret,
                                            const std::string& host = "127.0.0.1") {
    auto relay = std::unique_ptr<TinyRelay>(new TinyRelay());
    absl::StatusOr<SocketAddress> me = SocketAddress::Parse(absl::StrCat(host, ":", port));
    absl::StatusOr<UniqueFd> fd = ConnectTcp(*me, kTimeoutMs);
    EXPECT_TRUE(fd.ok()) << fd.status();
    if (!fd.ok()) return nullptr;
    relay->fd_ = *std::move(fd);
    SocketAddress local = *SocketAddress::LocalOf(relay->fd_.get());
    RpcLinkConfig config;
    config.role = RpcRole::kClient;
    config.secret = secret;
    EXPECT_TRUE(MakeRpcLinkAddresses(RpcRole::kClient, local.sockaddr_ptr(), me->sockaddr_ptr(),
                                     &config.addresses));
    config.own_pid = MakeProcessId(0x7f000001, -1, getpid(), static_cast<int32_t>(time(nullptr)));
    absl::StatusOr<std::unique_ptr<RpcLink>> link = RpcLink::Create(config);
    EXPECT_TRUE(link.ok()) << link.status();
    if (!link.ok()) return nullptr;
    relay->link_ = *std::move(link);
    relay->link_->Start(time(nullptr));
    return relay;
  }

  // Sends pending output, then reads until `done()` or the timeout / EOF.
  template <typename Pred>
  bool Pump(Pred done, int timeout_ms = kTimeoutMs) {
    if (!FlushOut()) return false;
    const int64_t deadline = MonotonicMillis() + timeout_ms;
    std::vector<uint8_t> buf(256 * 1024);
    while (!done()) {
      absl::StatusOr<size_t> n = ReceiveSome(fd_.get(), buf, deadline);
      if (!n.ok() || *n == 0) {
        eof_ = n.ok();
        return false;
      }
      RpcError err = link_->Feed(ByteSpan(buf.data(), *n), collector_);
      if (err != RpcError::kOk) {
        error_ = err;
        return false;
      }
      if (!FlushOut()) return false;
    }
    return true;
  }

  bool Handshake() {
    return Pump([this] { return collector_.ready; });
  }

  void SendReq(uint64_t ext_conn_id, ByteSpan data, bool quick_ack, ByteSpan ad_tag = {}) {
    RpcProxyReqHeader h;
    h.flags = MakeRpcProxyReqFlags(RpcClientFraming::kIntermediate, !ad_tag.empty(),
                                   false, quick_ack);
    h.ext_conn_id = ext_conn_id;
    h.client_ip = Ipv4MappedIpv6(0x7f000001);
    h.client_port = 40001;
    h.proxy_ip = Ipv4MappedIpv6(0x7f000001);
    h.proxy_port = 443;
    h.ad_tag = ad_tag;
    size_t header = RpcProxyReqHeaderSize(h.flags, ad_tag.size());
    MutableByteSpan out = link_->BeginMessage(header + data.size());
    ASSERT_FALSE(out.empty());
    EncodeRpcProxyReqHeader(h, out);
    std::copy(data.begin(), data.end(), out.begin() + static_cast<ptrdiff_t>(header));
    link_->CommitMessage();
  }

  void SendClose(uint64_t ext_conn_id) {
    uint8_t buf[kRpcCloseBytes];
    EncodeRpcClose(kRpcCloseConn, ext_conn_id, buf);
    ASSERT_EQ(link_->SendMessage(buf), RpcError::kOk);
  }

  // Waits for the next message.
  bool Next(Message* out) {
    if (!Pump([this] { return !collector_.messages.empty(); })) return false;
    *out = std::move(collector_.messages.front());
    collector_.messages.pop_front();
    return true;
  }

  RpcLink& link() { return *link_; }
  bool eof() const { return eof_; }
  RpcError error() const { return error_; }

 private:
  bool FlushOut() {
    if (!link_->HasPendingOutput()) return true;
    return SendAll(fd_.get(), link_->Flush(), MonotonicMillis() + kTimeoutMs).ok();
  }

  UniqueFd fd_;
  std::unique_ptr<RpcLink> link_;
  Collector collector_;
  bool eof_ = false;
  RpcError error_ = RpcError::kOk;
};

class FakeMeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/fake_me_", getpid(), "_", counter_++);
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    secret_.resize(128);
    for (size_t i = 0; i < secret_.size(); ++i) secret_[i] = static_cast<uint8_t>(7 * i + 3);
    secret_path_ = dir_ + "/proxy-secret";
    std::ofstream(secret_path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(secret_.data()),
               static_cast<std::streamsize>(secret_.size()));
    log_path_ = dir_ + "/me.log";
  }

  void StartMe(std::vector<std::string> extra = {}, const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> argv = {ToolPath("mtp-fake-me"), "--listen", listen,
                                     "--aes-pwd", secret_path_, "--log-file", log_path_,
                                     "--max-seconds", "60"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv);
    ASSERT_TRUE(child.ok()) << child.status();
    me_ = std::make_unique<ChildProcess>(*std::move(child));
    absl::StatusOr<int> port = me_->ReadListeningPort(kTimeoutMs);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  std::string ReadLog() {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Polls the event log until it contains `needle` (the tool writes asynchronously).
  bool LogContains(const std::string& needle) {
    const int64_t deadline = MonotonicMillis() + kTimeoutMs;
    while (MonotonicMillis() < deadline) {
      if (ReadLog().find(needle) != std::string::npos) return true;
      usleep(20'000);
    }
    return false;
  }

  static std::vector<uint8_t> Payload(uint64_t seq, size_t size) {
    std::vector<uint8_t> p(size);
    FillPayload(0x0102030405060708ull, 42, seq, p);
    return p;
  }

  static inline int counter_ = 0;
  std::string dir_;
  std::vector<uint8_t> secret_;
  std::string secret_path_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> me_;
  int port_ = 0;
};

TEST_F(FakeMeTest, HandshakeEchoQuickAckAndLog) {
  StartMe();
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  EXPECT_EQ(relay->link().crc(), RpcCrc::kCrc32c);

  // Several multiplexed clients, sizes up to the largest client frame.
  const std::vector<std::pair<uint64_t, size_t>> reqs = {
      {0x400001, 56}, {0x400002, 1024}, {0x400001, 4096}, {0x800003, kMaxPayloadBytes}};
  uint64_t seq = 0;
  for (auto [id, size] : reqs) relay->SendReq(id, Payload(seq++, size), false);
  seq = 0;
  for (auto [id, size] : reqs) {
    Message m;
    ASSERT_TRUE(relay->Next(&m));
    ASSERT_EQ(m.type, kRpcProxyAns);
    RpcProxyAns ans;
    ASSERT_TRUE(DecodeRpcProxyAns(m.payload, &ans));
    EXPECT_EQ(ans.ext_conn_id, id);
    EXPECT_TRUE(VerifyPayload(0x0102030405060708ull, 42, seq++, size, ans.data));
  }

  // Quick ack: RPC_SIMPLE_ACK with the echo token comes before the answer.
  std::vector<uint8_t> p = Payload(100, 64);
  const uint8_t tag[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                           0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
  relay->SendReq(0xc00004, p, true, tag);
  Message m;
  ASSERT_TRUE(relay->Next(&m));
  ASSERT_EQ(m.type, kRpcSimpleAck);
  RpcSimpleAck ack;
  ASSERT_TRUE(DecodeRpcSimpleAck(m.payload, &ack));
  EXPECT_EQ(ack.ext_conn_id, 0xc00004u);
  EXPECT_EQ(ack.confirm, EchoQuickAckToken(p));
  ASSERT_TRUE(relay->Next(&m));
  ASSERT_EQ(m.type, kRpcProxyAns);

  // The proxy's PING is answered by the link layer.
  ASSERT_EQ(relay->link().SendPing(0x1122334455667788ull), RpcError::kOk);
  ASSERT_TRUE(relay->Next(&m));
  ASSERT_EQ(m.type, kRpcPong);
  uint64_t ping_id = 0;
  ASSERT_TRUE(DecodeRpcPing(m.payload, kRpcPong, &ping_id));
  EXPECT_EQ(ping_id, 0x1122334455667788ull);

  relay->SendClose(0x400001);
  ASSERT_TRUE(relay->Pump([] { return true; }));
  EXPECT_TRUE(LogContains("\"event\":\"close_conn\",\"link\":1,\"ext_conn_id\":\"0x400001\""));
  std::string log = ReadLog();
  EXPECT_NE(log.find("\"event\":\"link\""), std::string::npos) << log;
  EXPECT_NE(log.find(absl::StrFormat("\"pid\":%d", getpid() & 0xffff)), std::string::npos);
  EXPECT_NE(log.find("\"crc\":\"crc32c\""), std::string::npos);
  EXPECT_NE(log.find("\"flags\":\"0x20021000\",\"ext_conn_id\":\"0x400002\","
                     "\"client\":\"127.0.0.1:40001\",\"proxy\":\"127.0.0.1:443\","
                     "\"ad_tag\":\"none\",\"len\":1024"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("\"flags\":\"0xa0021008\",\"ext_conn_id\":\"0xc00004\""),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("\"ad_tag\":\"00112233445566778899aabbccddeeff\",\"len\":64"),
            std::string::npos);

  me_->Signal(SIGTERM);
  absl::StatusOr<std::string> summary = me_->ReadLineWithPrefix("{", kTimeoutMs);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_NE(summary->find("\"requests\":5"), std::string::npos) << *summary;
  EXPECT_NE(summary->find("\"simple_acks\":1"), std::string::npos) << *summary;
  EXPECT_NE(summary->find("\"close_conn_received\":1"), std::string::npos) << *summary;
  absl::StatusOr<int> code = me_->Wait(kTimeoutMs);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(FakeMeTest, NoCrc32cKeepsCrc32) {
  StartMe({"--no-crc32c"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  EXPECT_EQ(relay->link().crc(), RpcCrc::kCrc32);
  std::vector<uint8_t> p = Payload(1, 128);
  relay->SendReq(7, p, false);
  Message m;
  ASSERT_TRUE(relay->Next(&m));
  RpcProxyAns ans;
  ASSERT_TRUE(DecodeRpcProxyAns(m.payload, &ans));
  EXPECT_TRUE(VerifyPayload(0x0102030405060708ull, 42, 1, 128, ans.data));
}

TEST_F(FakeMeTest, Ipv6LinkUsesTheIpv6KeyLayout) {
  // Only where the loopback has ::1 (containers sometimes disable IPv6).
  absl::StatusOr<Listener> probe = ListenTcp(*SocketAddress::Parse("[::1]:0"));
  if (!probe.ok()) GTEST_SKIP() << "no IPv6 loopback";
  StartMe({}, "[::1]:0");
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_, "[::1]");
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  std::vector<uint8_t> p = Payload(9, 1000);
  relay->SendReq(0x99, p, false);
  Message m;
  ASSERT_TRUE(relay->Next(&m));
  RpcProxyAns ans;
  ASSERT_TRUE(DecodeRpcProxyAns(m.payload, &ans));
  EXPECT_EQ(ans.ext_conn_id, 0x99u);
  EXPECT_TRUE(VerifyPayload(0x0102030405060708ull, 42, 9, 1000, ans.data));
  EXPECT_TRUE(LogContains("\"peer\":\"[::1]:"));
}

TEST_F(FakeMeTest, CloseExtAfterN) {
  StartMe({"--close-ext-after", "2"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  relay->SendReq(0x11, Payload(1, 56), false);
  relay->SendReq(0x22, Payload(2, 56), false);
  relay->SendReq(0x11, Payload(3, 56), false);
  std::vector<uint32_t> types;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) {
    Message m;
    ASSERT_TRUE(relay->Next(&m));
    types.push_back(m.type);
    uint64_t id = LoadLe64(m.payload.data() + (m.type == kRpcProxyAns ? 8 : 4));
    ids.push_back(id);
  }
  EXPECT_EQ(types, (std::vector<uint32_t>{kRpcProxyAns, kRpcProxyAns, kRpcProxyAns,
                                          kRpcCloseExt}));
  EXPECT_EQ(ids, (std::vector<uint64_t>{0x11, 0x22, 0x11, 0x11}));
  EXPECT_TRUE(LogContains("\"event\":\"close_ext\",\"link\":1,\"ext_conn_id\":\"0x11\""));
}

TEST_F(FakeMeTest, DropLinkAfterN) {
  StartMe({"--drop-link-after", "2"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  relay->SendReq(1, Payload(1, 56), false);
  relay->SendReq(2, Payload(2, 56), false);
  Message m;
  ASSERT_TRUE(relay->Next(&m));
  ASSERT_TRUE(relay->Next(&m));
  EXPECT_FALSE(relay->Next(&m));
  EXPECT_TRUE(relay->eof());
  EXPECT_TRUE(LogContains("dropped (--drop-link-after)"));
}

// Misbehaviour flags of the adversarial suite.
TEST_F(FakeMeTest, HalfCloseAfterSendsFinAndKeepsReading) {
  StartMe({"--half-close-after", "0.5"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  relay->SendReq(1, Payload(1, 56), false);
  Message m;
  ASSERT_TRUE(relay->Next(&m));
  EXPECT_EQ(m.type, kRpcProxyAns);
  // Then FIN: no more messages, EOF.
  EXPECT_FALSE(relay->Next(&m));
  EXPECT_TRUE(relay->eof());
  EXPECT_TRUE(LogContains("\"event\":\"half_close\",\"link\":1"));
}

TEST_F(FakeMeTest, MisbehaveLinksSparesLaterLinks) {
  StartMe({"--half-close-after", "0.2", "--misbehave-links", "1"});
  std::unique_ptr<TinyRelay> first = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->Handshake());
  Message m;
  EXPECT_FALSE(first->Next(&m));
  EXPECT_TRUE(first->eof());
  std::unique_ptr<TinyRelay> second = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(second->Handshake());
  usleep(400'000);  // past the half-close delay: the second link is not half-closed
  second->SendReq(2, Payload(2, 56), false);
  ASSERT_TRUE(second->Next(&m));
  EXPECT_EQ(m.type, kRpcProxyAns);
  const std::string log = ReadLog();
  EXPECT_NE(log.find("\"half_close\""), std::string::npos);
  EXPECT_EQ(log.find("\"half_close\""), log.rfind("\"half_close\""));  // once
}

TEST_F(FakeMeTest, StopReadingAfterNBytes) {
  StartMe({"--stop-reading-after", "20000"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  relay->SendReq(1, Payload(1, 16384), false);
  Message m;
  ASSERT_TRUE(relay->Next(&m));  // under the limit: echoed
  relay->SendReq(2, Payload(2, 16384), false);
  ASSERT_TRUE(relay->Pump([] { return true; }));  // sends it; past the limit
  EXPECT_TRUE(LogContains("\"event\":\"stop_reading\",\"link\":1"));
}

TEST_F(FakeMeTest, FloodOnSizeAnswersThatConnectionOnly) {
  StartMe({"--flood-on-size", "4096", "--flood-bytes", "196608"});
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, secret_);
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(relay->Handshake());
  relay->SendReq(0x33, Payload(1, 4096), false);  // flooded: its echo and 3 x 64 KiB
  relay->SendReq(0x44, Payload(2, 56), false);    // not flooded: its echo only
  int flood = 0, echoes_33 = 0, echoes_44 = 0;
  for (int i = 0; i < 5; ++i) {
    Message m;
    ASSERT_TRUE(relay->Next(&m));
    ASSERT_EQ(m.type, kRpcProxyAns);
    const uint64_t id = LoadLe64(m.payload.data() + 8);
    const size_t data = m.payload.size() - kRpcProxyAnsHeaderBytes;
    if (id == 0x33 && data == 65536) ++flood;
    if (id == 0x33 && data == 4096) ++echoes_33;
    if (id == 0x44) ++echoes_44;
  }
  EXPECT_EQ(flood, 3);
  EXPECT_EQ(echoes_33, 1);
  EXPECT_EQ(echoes_44, 1);
}

TEST_F(FakeMeTest, WrongSecretFailsHandshake) {
  StartMe();
  std::vector<uint8_t> wrong = secret_;
  wrong[40] ^= 1;  // same key selector, different key material
  std::unique_ptr<TinyRelay> relay = TinyRelay::Connect(port_, wrong);
  ASSERT_NE(relay, nullptr);
  EXPECT_FALSE(relay->Handshake());
  EXPECT_TRUE(LogContains("\"event\":\"link_error\""));

  std::vector<uint8_t> other_selector = secret_;
  other_selector[0] ^= 1;
  std::unique_ptr<TinyRelay> relay2 = TinyRelay::Connect(port_, other_selector);
  ASSERT_NE(relay2, nullptr);
  EXPECT_FALSE(relay2->Handshake());
}

TEST_F(FakeMeTest, UsageErrors) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn({ToolPath("mtp-fake-me")});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(*child->Wait(kTimeoutMs), 2);  // --aes-pwd missing
  absl::StatusOr<ChildProcess> help = ChildProcess::Spawn({ToolPath("mtp-fake-me"), "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_NE(help->ReadToEnd(kTimeoutMs).find("--close-ext-after"), std::string::npos);
  EXPECT_EQ(*help->Wait(kTimeoutMs), 0);
  absl::StatusOr<ChildProcess> bad = ChildProcess::Spawn(
      {ToolPath("mtp-fake-me"), "--aes-pwd", "/nonexistent/secret"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(*bad->Wait(kTimeoutMs), 1);
}

}  // namespace
}  // namespace mtp::tools
