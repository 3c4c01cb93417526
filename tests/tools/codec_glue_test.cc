// In-process round trips of the peers' codec glue: ClientCodec (client side) against
// ServerCodec (fake-DC side) for every transport, with and without secrets and fake-TLS, fed
// in random-sized chunks; and EchoTracker's detection of bad echoes and quick acks.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "crypto/random.h"
#include "tools/client_codec.h"
#include "tools/echo_payload.h"
#include "tools/echo_tracker.h"
#include "tools/server_codec.h"

namespace mtp::tools {
namespace {

ClientSecret TestSecret() {
  ClientSecret s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x10 + i);
  return s;
}

// Moves `bytes` into a codec in random chunks (1..chunk_max), like a socket would.
template <typename Codec>
absl::Status Deliver(Codec& codec, const std::vector<uint8_t>& bytes, size_t chunk_max,
                     std::vector<uint8_t>* reply) {
  size_t off = 0;
  while (off < bytes.size()) {
    size_t n = std::min(bytes.size() - off, 1 + size_t{FastRandomBelow(
                                                      static_cast<uint32_t>(chunk_max))});
    MutableByteSpan buf = codec.ReceiveBuffer(n);
    n = std::min(n, buf.size());
    std::copy(bytes.begin() + static_cast<ptrdiff_t>(off),
              bytes.begin() + static_cast<ptrdiff_t>(off + n), buf.begin());
    absl::Status st = codec.CommitReceived(n, reply);
    if (!st.ok()) return st;
    off += n;
  }
  return absl::OkStatus();
}

struct Case {
  Transport transport;
  bool secret;
  bool tls;
  ClientPadding padding;
};

class GlueRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(GlueRoundTrip, EchoesVerifyThroughBothCodecs) {
  const Case c = GetParam();
  ServerCodecConfig server_config;
  if (c.secret) server_config.secrets.push_back(TestSecret());
  if (c.tls) server_config.tls_domains.push_back("example.com");
  SimpleReplayCache cache;
  ServerCodec server(&server_config, &cache, 443);

  ClientCodecConfig client_config;
  client_config.transport = c.transport;
  if (c.secret) client_config.secret = TestSecret();
  if (c.tls) client_config.tls_domain = "example.com";
  client_config.dc_id = -4;
  absl::StatusOr<ClientCodec> client = ClientCodec::Create(client_config);
  ASSERT_TRUE(client.ok()) << client.status();
  EchoTracker tracker(RandomAuthKeyId(), 77, c.padding);

  std::vector<uint8_t> to_server;
  client->Start(&to_server);
  std::array<uint8_t, 16> nonce{};
  tracker.SendLiteral(*client, BuildReqPqMulti(1, nonce), true, 0, &to_server);
  const std::vector<size_t> sizes = {56, 60, 124, 128, 508, 512, 4096, 65536, kMaxPayloadBytes};
  for (size_t i = 0; i < sizes.size(); ++i) {
    tracker.SendGenerated(*client, sizes[i], i % 2 == 0, 0, &to_server);
  }

  std::vector<uint8_t> to_client;
  if (c.tls) {
    // The ClientHello alone first: frames are held until the ServerHello is verified.
    ASSERT_TRUE(Deliver(server, to_server, 200, &to_client).ok());
    ASSERT_FALSE(to_client.empty());
    to_server.clear();
    ASSERT_TRUE(client->handshake_pending());
    ASSERT_TRUE(Deliver(*client, to_client, 100, &to_server).ok());
    ASSERT_FALSE(client->handshake_pending());
    to_client.clear();
  }
  ASSERT_TRUE(Deliver(server, to_server, 70000, &to_client).ok());
  size_t frames = 0;
  bool handshake = false;
  for (;;) {
    absl::StatusOr<ServerCodec::Event> ev = server.Next();
    ASSERT_TRUE(ev.ok()) << ev.status();
    if (ev->kind == ServerCodec::EventKind::kNone) break;
    if (ev->kind == ServerCodec::EventKind::kHandshake) {
      handshake = true;
      continue;
    }
    ++frames;
    if (ev->quick_ack) server.AppendQuickAck(EchoQuickAckToken(ev->payload), &to_client);
    server.AppendFrame(ev->payload, &to_client);
  }
  EXPECT_TRUE(handshake);
  EXPECT_EQ(server.dc_id(), -4);
  EXPECT_EQ(server.transport(), c.transport);
  EXPECT_EQ(frames, sizes.size() + 1);

  std::vector<uint8_t> unused;
  ASSERT_TRUE(Deliver(*client, to_client, 70000, &unused).ok());
  size_t echoes = 0;
  for (;;) {
    absl::StatusOr<ClientCodec::Event> ev = client->Next();
    ASSERT_TRUE(ev.ok()) << ev.status();
    if (ev->kind == ClientCodec::EventKind::kNone) break;
    std::string error;
    if (ev->kind == ClientCodec::EventKind::kQuickAck) {
      ASSERT_TRUE(tracker.OnQuickAck(ev->token, &error)) << error;
      continue;
    }
    int64_t rtt = 0;
    ASSERT_TRUE(tracker.OnEcho(ev->payload, 1, &rtt, &error)) << error;
    ++echoes;
  }
  EXPECT_EQ(echoes, sizes.size() + 1);
  EXPECT_EQ(tracker.verified(), sizes.size() + 1);
  EXPECT_EQ(tracker.quick_acks(), 6u);
  EXPECT_EQ(tracker.in_flight(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, GlueRoundTrip,
    ::testing::Values(Case{Transport::kAbridged, false, false, ClientPadding::kNone},
                      Case{Transport::kIntermediate, false, false, ClientPadding::kNone},
                      Case{Transport::kPadded, false, false, ClientPadding::kTdlib},
                      Case{Transport::kAbridged, true, false, ClientPadding::kNone},
                      Case{Transport::kIntermediate, true, false, ClientPadding::kNone},
                      Case{Transport::kPadded, true, false, ClientPadding::kMod4},
                      Case{Transport::kPadded, true, true, ClientPadding::kTdlib}));

TEST(GlueTest, WrongSecretIsRefused) {
  ServerCodecConfig server_config;
  server_config.secrets.push_back(TestSecret());
  SimpleReplayCache cache;
  ServerCodec server(&server_config, &cache, 443);
  ClientCodecConfig client_config;
  client_config.secret = TestSecret();
  (*client_config.secret)[0] ^= 1;
  absl::StatusOr<ClientCodec> client = ClientCodec::Create(client_config);
  ASSERT_TRUE(client.ok());
  std::vector<uint8_t> bytes, reply;
  client->Start(&bytes);
  EXPECT_TRUE(absl::IsPermissionDenied(Deliver(server, bytes, 64, &reply)));

  // Fake-TLS: the server refuses the hello; a forged ServerHello is refused by the client.
  server_config.tls_domains.push_back("example.com");
  ServerCodec tls_server(&server_config, &cache, 443);
  client_config.tls_domain = "example.com";
  absl::StatusOr<ClientCodec> tls_client = ClientCodec::Create(client_config);
  ASSERT_TRUE(tls_client.ok());
  bytes.clear();
  tls_client->Start(&bytes);
  EXPECT_TRUE(absl::IsPermissionDenied(Deliver(tls_server, bytes, 600, &reply)));

  ClientCodecConfig right = client_config;
  right.secret = TestSecret();
  absl::StatusOr<ClientCodec> good = ClientCodec::Create(right);
  ServerCodec server2(&server_config, &cache, 443);
  bytes.clear();
  reply.clear();
  good->Start(&bytes);
  ASSERT_TRUE(Deliver(server2, bytes, 600, &reply).ok());
  ASSERT_FALSE(reply.empty());
  // Deliver the genuine ServerHello to the client that used the wrong secret.
  std::vector<uint8_t> out;
  EXPECT_TRUE(absl::IsPermissionDenied(Deliver(*tls_client, reply, 1000, &out)));
}

TEST(GlueTest, TrackerDetectsCorruptionAndOrder) {
  ClientCodecConfig config;
  absl::StatusOr<ClientCodec> codec = ClientCodec::Create(config);
  ASSERT_TRUE(codec.ok());
  EchoTracker tracker(0x55, 1, ClientPadding::kNone);
  std::vector<uint8_t> out;
  std::string error;
  int64_t rtt = 0;
  std::vector<uint8_t> junk(64, 0);
  EXPECT_FALSE(tracker.OnEcho(junk, 0, &rtt, &error));  // nothing in flight
  EXPECT_FALSE(tracker.OnQuickAck(0x80000001, &error));
  tracker.SendGenerated(*codec, 64, true, 0, &out);
  std::vector<uint8_t> expected(64);
  FillPayload(0x55, 1, 0, expected);
  EXPECT_FALSE(tracker.OnEcho(expected, 0, &rtt, &error));  // before its quick ack
  EXPECT_NE(error.find("quick ack"), std::string::npos);
  EXPECT_FALSE(tracker.OnQuickAck(EchoQuickAckToken(expected) ^ 1, &error));
  EXPECT_TRUE(tracker.OnQuickAck(EchoQuickAckToken(expected), &error)) << error;
  std::vector<uint8_t> corrupt = expected;
  corrupt[40] ^= 0x80;
  EXPECT_FALSE(tracker.OnEcho(corrupt, 0, &rtt, &error));
  EXPECT_NE(error.find("byte 40"), std::string::npos) << error;
  EXPECT_FALSE(tracker.OnEcho(ByteSpan(expected).first(60), 0, &rtt, &error));
  EXPECT_TRUE(tracker.OnEcho(expected, 5, &rtt, &error)) << error;
  EXPECT_EQ(rtt, 5);
  EXPECT_EQ(tracker.verified(), 1u);
}

}  // namespace
}  // namespace mtp::tools
