// RpcLink: captured/constructed vectors of test-vectors.md §B.1, §B.3, §C through the state
// machine, a client and a server link talking in memory with random chunking, and the failure
// paths of the handshake.
#include "proto/rpc_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

RpcNonceBytes NonceFrom(uint8_t first) {
  RpcNonceBytes n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(first + i);
  return n;
}

struct Collector : RpcLinkVisitor {
  int ready = 0;
  RpcHandshake peer;
  std::vector<uint32_t> types;
  std::vector<std::vector<uint8_t>> messages;

  void OnRpcLinkReady(RpcLink&, const RpcHandshake& p) override {
    ++ready;
    peer = p;
  }
  void OnRpcMessage(RpcLink&, uint32_t type, ByteSpan payload) override {
    types.push_back(type);
    messages.emplace_back(payload.begin(), payload.end());
  }
};

std::string FlushHex(RpcLink& link) { return HexEncode(link.Flush()); }

// Moves everything `from` has pending into `to`, in random chunks when `rng` is given.
// Alternates between the in-place Flush() and FlushTo() paths.
RpcError Pump(RpcLink& from, RpcLink& to, RpcLinkVisitor& visitor, std::mt19937* rng = nullptr) {
  static bool use_flush_to = false;
  use_flush_to = !use_flush_to;
  std::vector<uint8_t> bytes;
  if (use_flush_to) {
    bytes.resize(from.PendingOutputBytes());
    bytes.resize(from.FlushTo(MutableByteSpan(bytes)));
  } else {
    ByteSpan out = from.Flush();
    bytes.assign(out.begin(), out.end());
  }
  EXPECT_EQ(bytes.size() % 4, 0u);
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t n = bytes.size() - pos;
    if (rng != nullptr) {
      std::uniform_int_distribution<size_t> d(1, std::min<size_t>(n, (*rng)() % 2 ? 7 : 70000));
      n = d(*rng);
    }
    RpcError e = to.Feed(ByteSpan(bytes).subspan(pos, n), visitor);
    if (e != RpcError::kOk) return e;
    pos += n;
  }
  return RpcError::kOk;
}

// ---- Vectors through the state machine ----

std::vector<uint8_t> SecretB1() {
  std::vector<uint8_t> s(32);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x5a + 11 * i);
  return s;
}

RpcLinkConfig ConfigB1(RpcRole role, const std::vector<uint8_t>& secret) {
  RpcLinkConfig c;
  c.role = role;
  c.secret = ByteSpan(secret);
  c.addresses.client_ipv4 = 0xc000020a;
  c.addresses.client_port = 40000;
  c.addresses.server_ipv4 = 0x959aaf32;
  c.addresses.server_port = 8888;
  if (role == RpcRole::kClient) {
    c.own_pid = MakeProcessId(0xc000020a, 8888, 4242, 1699999995);
    c.fixed_nonce = NonceFrom(0x20);
  } else {
    c.own_pid = MakeProcessId(0x959aaf32, 8888, 777, 1600000000);
    c.fixed_nonce = NonceFrom(0x10);
  }
  return c;
}

TEST(RpcLinkTest, B1AndCVectorsClientAgainstServer) {
  auto secret = SecretB1();
  auto client = RpcLink::Create(ConfigB1(RpcRole::kClient, secret)).value();
  auto server = RpcLink::Create(ConfigB1(RpcRole::kServer, secret)).value();
  Collector cv, sv;
  client->Start(1700000000);
  server->Start(1700000001);
  EXPECT_EQ(client->state(), RpcLinkState::kAwaitNonce);
  EXPECT_EQ(client->PendingOutputBytes(), 44u);
  const std::string proxy_nonce = FlushHex(*client);
  EXPECT_EQ(proxy_nonce,
            "2c000000feffffffaa87cb7a5a65707b0100000000f15365202122232425262728292a2b2c2d2e2f"
            "74f4f88e");
  EXPECT_FALSE(server->HasPendingOutput());
  auto bytes = H(proxy_nonce);
  ASSERT_EQ(server->Feed(ByteSpan(bytes), sv), RpcError::kOk);
  EXPECT_EQ(server->state(), RpcLinkState::kAwaitHandshake);
  // The ME's nonce (crypto_ts = proxy ts + 1) is B.1's second packet.
  const std::string me_nonce = FlushHex(*server);
  EXPECT_EQ(me_nonce,
            "2c000000feffffffaa87cb7a5a65707b0100000001f15365101112131415161718191a1b1c1d1e1f"
            "03ef24a5");
  bytes = H(me_nonce);
  ASSERT_EQ(client->Feed(ByteSpan(bytes), cv), RpcError::kOk);
  EXPECT_EQ(client->state(), RpcLinkState::kAwaitHandshake);
  // C.1: the proxy's encrypted handshake, padded to 48 bytes.
  const std::string handshake = FlushHex(*client);
  EXPECT_EQ(handshake,
            "c2315874dd438b0c1222de918e8aacc7d9401ae249c67ea70b7c5dc0e7ca7ae1"
            "13be5ca4e3884c619355a7da75a3b033");
  bytes = H(handshake);
  ASSERT_EQ(server->Feed(ByteSpan(bytes), sv), RpcError::kOk);
  EXPECT_TRUE(server->ready());
  EXPECT_EQ(sv.ready, 1);
  EXPECT_EQ(sv.peer.flags, kRpcHandshakeFlagCrc32c);
  EXPECT_EQ(sv.peer.sender_pid, MakeProcessId(0xc000020a, 8888, 4242, 1699999995));
  EXPECT_EQ(server->crc(), RpcCrc::kCrc32c);
  ASSERT_EQ(server->SendPing(0x1122334455667788), RpcError::kOk);
  ASSERT_EQ(Pump(*server, *client, cv), RpcError::kOk);
  EXPECT_TRUE(client->ready());
  EXPECT_EQ(cv.ready, 1);
  EXPECT_EQ(client->crc(), RpcCrc::kCrc32c);
  // The server echoed our PID; its own sender PID is reported.
  EXPECT_EQ(cv.peer.peer_pid, MakeProcessId(0xc000020a, 8888, 4242, 1699999995));
  EXPECT_EQ(cv.peer.sender_pid, MakeProcessId(0x959aaf32, 8888, 777, 1600000000));
  EXPECT_TRUE(cv.messages.empty());  // the ping was answered, not surfaced
  // C.2: the automatic RPC_PONG, CRC32C, continuing the CBC chain.
  EXPECT_EQ(client->out_seq(), 1);
  const std::string pong = FlushHex(*client);
  EXPECT_EQ(pong, "073c48f466fc5ddc4521d9931547b84a735cb970d2ba983b93c3e2713851485a");
  bytes = H(pong);
  ASSERT_EQ(server->Feed(ByteSpan(bytes), sv), RpcError::kOk);
  ASSERT_EQ(sv.types.size(), 1u);
  EXPECT_EQ(sv.types[0], kRpcPong);
  uint64_t id = 0;
  EXPECT_TRUE(DecodeRpcPing(ByteSpan(sv.messages[0]), kRpcPong, &id));
  EXPECT_EQ(id, 0x1122334455667788u);
}

TEST(RpcLinkTest, B3CapturedLoopbackClient) {
  std::vector<uint8_t> secret(256);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(7 * i + 3);
  RpcLinkConfig c;
  c.role = RpcRole::kClient;
  c.secret = ByteSpan(secret);
  c.addresses.client_ipv4 = 0x7f000001;
  c.addresses.client_port = 41920;
  c.addresses.server_ipv4 = 0x7f000001;
  c.addresses.server_port = 18888;
  c.own_pid = MakeProcessId(0xc0000202, 18080, 0x3875, 0x6b046fa5);
  auto nonce = H("7789d46f54c4f40f9a0e6e27a7e679fc");
  RpcNonceBytes fixed;
  std::copy(nonce.begin(), nonce.end(), fixed.begin());
  c.fixed_nonce = fixed;
  auto client = RpcLink::Create(c).value();
  client->Start(0x6b046fa5);
  EXPECT_EQ(FlushHex(*client),
            "2c000000feffffffaa87cb7a030a111801000000a56f046b7789d46f54c4f40f"
            "9a0e6e27a7e679fcd41f62b3");
  // The fake ME's nonce 10..1f, built with the codecs.
  RpcNonce me;
  me.key_select = 0x18110a03;
  me.crypto_ts = 0x6b046fa5;
  me.nonce = NonceFrom(0x10);
  std::vector<uint8_t> packet(RpcPacketBytes(kRpcNoncePayloadBytes));
  EncodeRpcNonce(me, MutableByteSpan(packet).subspan(8));
  SealRpcPacket(-2, kRpcNoncePayloadBytes, RpcCrc::kCrc32, MutableByteSpan(packet));
  Collector cv;
  ASSERT_EQ(client->Feed(ByteSpan(packet), cv), RpcError::kOk);
  // Captured ciphertext of the proxy's handshake (peer PID ip 0 because the ME is loopback).
  EXPECT_EQ(FlushHex(*client),
            "71ddbf19e4fe11452bf6004ca4ad9c8a96bc2ba112b1319a14712628859ed1c8"
            "e37552371cf125d55c9d4acdb7dee3c6");
}

// ---- In-memory pair ----

struct Pair {
  std::vector<uint8_t> secret = SecretB1();
  std::unique_ptr<RpcLink> client;
  std::unique_ptr<RpcLink> server;
  Collector cv, sv;

  explicit Pair(bool client_crc32c = true, bool server_crc32c = true) {
    RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
    cc.fixed_nonce.reset();  // random nonces
    cc.use_crc32c = client_crc32c;
    RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
    sc.fixed_nonce.reset();
    sc.use_crc32c = server_crc32c;
    client = RpcLink::Create(cc).value();
    server = RpcLink::Create(sc).value();
  }
  Pair(const RpcLinkConfig& cc, const RpcLinkConfig& sc) {
    client = RpcLink::Create(cc).value();
    server = RpcLink::Create(sc).value();
  }

  // Runs nonce and handshake; returns the first error.
  RpcError Handshake(std::mt19937* rng = nullptr) {
    client->Start(1700000000);
    server->Start(1700000005);
    RpcError e = Pump(*client, *server, sv, rng);  // client nonce
    if (e != RpcError::kOk) return e;
    e = Pump(*server, *client, cv, rng);  // server nonce
    if (e != RpcError::kOk) return e;
    e = Pump(*client, *server, sv, rng);  // client handshake
    if (e != RpcError::kOk) return e;
    return Pump(*server, *client, cv, rng);  // server handshake
  }
};

std::vector<uint8_t> RandomMessage(std::mt19937& rng, uint32_t type) {
  std::uniform_int_distribution<size_t> words(1, rng() % 8 == 0 ? 20000 : 64);
  std::vector<uint8_t> m(words(rng) * 4 + 4);
  StoreLe32(m.data(), type);
  for (size_t i = 4; i < m.size(); ++i) m[i] = static_cast<uint8_t>(rng());
  return m;
}

class RpcLinkPairTest : public ::testing::TestWithParam<bool> {};

TEST_P(RpcLinkPairTest, ManyMessagesBothWaysWithRandomChunking) {
  const bool crc32c = GetParam();
  Pair p(/*client_crc32c=*/true, /*server_crc32c=*/crc32c);
  std::mt19937 rng(crc32c ? 12345 : 54321);
  ASSERT_EQ(p.Handshake(&rng), RpcError::kOk);
  ASSERT_TRUE(p.client->ready());
  ASSERT_TRUE(p.server->ready());
  const RpcCrc want = crc32c ? RpcCrc::kCrc32c : RpcCrc::kCrc32;
  EXPECT_EQ(p.client->crc(), want);
  EXPECT_EQ(p.server->crc(), want);

  std::vector<std::vector<uint8_t>> to_server, to_client;
  std::vector<uint64_t> pings;
  for (int round = 0; round < 40; ++round) {
    const int batch = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < batch; ++i) {
      auto m = RandomMessage(rng, kRpcProxyReq);
      if (i % 2 == 0) {
        ASSERT_EQ(p.client->SendMessage(ByteSpan(m)), RpcError::kOk);
      } else {  // zero-copy path
        MutableByteSpan dst = p.client->BeginMessage(m.size());
        ASSERT_EQ(dst.size(), m.size());
        std::copy(m.begin(), m.end(), dst.begin());
        p.client->CommitMessage();
      }
      to_server.push_back(std::move(m));
      auto a = RandomMessage(rng, kRpcProxyAns);
      ASSERT_EQ(p.server->SendMessage(ByteSpan(a)), RpcError::kOk);
      to_client.push_back(std::move(a));
    }
    if (round % 5 == 0) {
      pings.push_back(rng());
      ASSERT_EQ(p.server->SendPing(pings.back()), RpcError::kOk);
    }
    ASSERT_EQ(Pump(*p.client, *p.server, p.sv, &rng), RpcError::kOk);
    ASSERT_EQ(Pump(*p.server, *p.client, p.cv, &rng), RpcError::kOk);
  }
  // The client's PONGs are still pending: deliver them.
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv, &rng), RpcError::kOk);

  ASSERT_EQ(p.cv.messages.size(), to_client.size());
  for (size_t i = 0; i < to_client.size(); ++i) {
    EXPECT_EQ(p.cv.types[i], kRpcProxyAns);
    ASSERT_EQ(p.cv.messages[i], to_client[i]) << i;
  }
  std::vector<std::vector<uint8_t>> server_data;
  std::vector<uint64_t> pongs;
  for (size_t i = 0; i < p.sv.messages.size(); ++i) {
    uint64_t id;
    if (DecodeRpcPing(ByteSpan(p.sv.messages[i]), kRpcPong, &id)) {
      pongs.push_back(id);
    } else {
      server_data.push_back(p.sv.messages[i]);
    }
  }
  EXPECT_EQ(pongs, pings);
  ASSERT_EQ(server_data.size(), to_server.size());
  for (size_t i = 0; i < to_server.size(); ++i) ASSERT_EQ(server_data[i], to_server[i]) << i;
  EXPECT_EQ(p.client->error(), RpcError::kOk);
  EXPECT_EQ(p.server->error(), RpcError::kOk);
}

INSTANTIATE_TEST_SUITE_P(Crc, RpcLinkPairTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Crc32c" : "Crc32"; });

// Capped flushes (BeginFlush with max_bytes, what the ME flush pass does to even out its CBC
// batch): each one is whole 16-byte blocks cut anywhere in the packet stream, the rest stays
// pending and continues the same CBC chain, messages appended in between go behind it, and the
// peer gets every message intact and in order whatever the caps and the chunking.
TEST(RpcLinkTest, CappedFlushesContinueTheStreamAndDrainEverything) {
  Pair p;
  std::mt19937 rng(777);
  ASSERT_EQ(p.Handshake(&rng), RpcError::kOk);
  ASSERT_TRUE(p.client->ready());

  std::vector<std::vector<uint8_t>> sent;
  size_t capped = 0;
  size_t wire_bytes = 0;
  auto deliver = [&](ByteSpan bytes) {
    wire_bytes += bytes.size();
    size_t pos = 0;
    while (pos < bytes.size()) {
      size_t n = std::min<size_t>(bytes.size() - pos, 1 + rng() % 40000);
      ASSERT_EQ(p.server->Feed(bytes.subspan(pos, n), p.sv), RpcError::kOk);
      pos += n;
    }
  };
  // One capped flush the way MePool does it: promise PendingOutputBytes(cap), seal, run the job
  // through the batch kernel, then take the bytes.
  auto flush_capped = [&](size_t cap) {
    const size_t all = p.client->PendingOutputBytes();
    const size_t want = p.client->PendingOutputBytes(cap);
    AesCbc::Job job;
    ByteSpan sealed = p.client->BeginFlush(&job, cap);
    ASSERT_EQ(sealed.size(), want);
    ASSERT_EQ(sealed.size() % kRpcBlockBytes, 0u);
    if (want < all) {
      ++capped;
      EXPECT_LE(want, std::max(cap, kRpcBlockBytes));
      EXPECT_TRUE(p.client->HasPendingOutput());
      EXPECT_EQ(job.n, want);
    } else {
      EXPECT_FALSE(p.client->HasPendingOutput());
    }
    std::vector<AesCbc::Job> jobs;
    if (job.n > 0) jobs.push_back(job);
    AesCbc::ProcessBatch(jobs);
    std::vector<uint8_t> copy(sealed.begin(), sealed.end());  // valid until the next call only
    deliver(ByteSpan(copy));
  };

  for (int round = 0; round < 60; ++round) {
    const int batch = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < batch; ++i) {
      auto m = RandomMessage(rng, kRpcProxyReq);
      ASSERT_EQ(p.client->SendMessage(ByteSpan(m)), RpcError::kOk);
      sent.push_back(std::move(m));
    }
    // A few capped passes, sometimes with more messages appended between them.
    const int passes = static_cast<int>(rng() % 4);
    for (int k = 0; k < passes && p.client->HasPendingOutput(); ++k) {
      flush_capped(1 + rng() % (p.client->PendingOutputBytes() + 16));
      if (rng() % 3 == 0) {
        auto m = RandomMessage(rng, kRpcProxyReq);
        ASSERT_EQ(p.client->SendMessage(ByteSpan(m)), RpcError::kOk);
        sent.push_back(std::move(m));
      }
    }
    if (round % 7 == 6) flush_capped(SIZE_MAX);  // sometimes the whole rest at once
  }
  // Drain: capped passes until nothing is left (each makes progress).
  for (int guard = 0; p.client->HasPendingOutput(); ++guard) {
    ASSERT_LT(guard, 100000);
    flush_capped(64 * 1024);
  }
  EXPECT_GT(capped, 20u);
  EXPECT_EQ(wire_bytes % kRpcBlockBytes, 0u);
  ASSERT_EQ(p.sv.messages.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) ASSERT_EQ(p.sv.messages[i], sent[i]) << i;
  EXPECT_EQ(p.server->error(), RpcError::kOk);
  EXPECT_EQ(p.server->in_seq(), static_cast<int32_t>(sent.size()));
}

// A steady backlog drained by small capped flushes, as a link behind a slow ME is: the rest of
// each flush is brought to the front of the buffer when new messages need the room, and the
// bytes copied for that stay within the bytes flushed (before the amortized rule, each 4-KiB
// flush could move the whole ~1-MB backlog: hundreds of copies per byte sent). Every message
// still arrives intact and in order.
TEST(RpcLinkTest, CappedFlushesOfABacklogCopyEachByteAtMostOnce) {
  std::vector<uint8_t> secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.fixed_nonce.reset();
  cc.max_output_bytes = (1u << 20) + (64u << 10);  // a backlog near the bound, as under pause
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.fixed_nonce.reset();
  Pair p(cc, sc);
  std::mt19937 rng(4242);
  ASSERT_EQ(p.Handshake(&rng), RpcError::kOk);
  std::vector<std::vector<uint8_t>> sent;
  uint64_t flushed = 0;
  auto send = [&](size_t bytes) {
    std::vector<uint8_t> m(bytes);
    StoreLe32(m.data(), kRpcProxyReq);
    for (size_t i = 4; i < m.size(); ++i) m[i] = static_cast<uint8_t>(rng());
    ASSERT_EQ(p.client->SendMessage(ByteSpan(m)), RpcError::kOk);
    sent.push_back(std::move(m));
  };
  auto flush = [&](size_t cap) {
    AesCbc::Job job;
    ByteSpan sealed = p.client->BeginFlush(&job, cap);
    std::vector<AesCbc::Job> jobs;
    if (job.n > 0) jobs.push_back(job);
    AesCbc::ProcessBatch(jobs);
    flushed += sealed.size();
    ASSERT_EQ(p.server->Feed(sealed, p.sv), RpcError::kOk);
  };
  while (p.client->PendingOutputBytes() < (1u << 20)) send(4096);  // the backlog
  for (int i = 0; i < 2000; ++i) {  // 4 KiB in, 4 KiB out: the backlog stays
    send(4096);
    flush(4096);
  }
  while (p.client->HasPendingOutput()) flush(64 * 1024);
  EXPECT_GT(p.client->output_bytes_moved(), 0u);  // the path was taken
  EXPECT_LE(p.client->output_bytes_moved(), flushed);
  ASSERT_EQ(p.sv.messages.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) ASSERT_EQ(p.sv.messages[i], sent[i]) << i;
}

// The handshake's plaintext nonce is never cut: a cap applies to the encrypted stream only.
TEST(RpcLinkTest, CapDoesNotCutThePlaintextNonce) {
  Pair p;
  p.client->Start(1700000000);
  const size_t all = p.client->PendingOutputBytes();
  ASSERT_GT(all, kRpcBlockBytes);
  EXPECT_EQ(p.client->PendingOutputBytes(kRpcBlockBytes), all);
  AesCbc::Job job;
  EXPECT_EQ(p.client->BeginFlush(&job, kRpcBlockBytes).size(), all);
  EXPECT_EQ(job.n, 0u);
  EXPECT_FALSE(p.client->HasPendingOutput());
}

TEST(RpcLinkTest, ClientWithoutCrc32cStaysOnCrc32) {
  Pair p(/*client_crc32c=*/false, /*server_crc32c=*/true);
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  EXPECT_EQ(p.sv.peer.flags, 0u);
  EXPECT_EQ(p.client->crc(), RpcCrc::kCrc32);
  EXPECT_EQ(p.server->crc(), RpcCrc::kCrc32);
}

// ---- Failure paths ----

TEST(RpcLinkTest, OutputBeforeReadyAndBadSizes) {
  Pair p;
  std::vector<uint8_t> msg(16, 0);
  Collector v;
  EXPECT_EQ(p.client->Feed(ByteSpan(msg), v), RpcError::kNotReady);  // before Start
  EXPECT_EQ(p.client->SendMessage(ByteSpan(msg)), RpcError::kNotReady);
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  EXPECT_EQ(p.client->SendMessage(ByteSpan(msg).first(6)), RpcError::kBadLength);
  EXPECT_EQ(p.client->SendMessage(ByteSpan()), RpcError::kBadLength);
  EXPECT_TRUE(p.client->BeginMessage(10).empty());
  EXPECT_EQ(p.client->last_output_error(), RpcError::kBadLength);
  EXPECT_TRUE(p.client->ready());  // output errors do not fail the link
  EXPECT_FALSE(p.client->HasPendingOutput());
}

TEST(RpcLinkTest, ClockSkewFailsClient) {
  auto secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.nonce_ts_offset_s = 40;  // server ts = 1700000045 vs client 1700000000
  Pair p(cc, sc);
  EXPECT_EQ(p.Handshake(), RpcError::kClockSkew);
  EXPECT_EQ(p.client->state(), RpcLinkState::kFailed);
  EXPECT_EQ(p.client->error(), RpcError::kClockSkew);
  std::vector<uint8_t> more(16, 0);
  EXPECT_EQ(p.client->Feed(ByteSpan(more), p.cv), RpcError::kLinkFailed);
}

TEST(RpcLinkTest, ClockSkewFailsServer) {
  auto secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.nonce_ts_offset_s = -100;
  Pair p(cc, ConfigB1(RpcRole::kServer, secret));
  EXPECT_EQ(p.Handshake(), RpcError::kClockSkew);
  EXPECT_EQ(p.server->error(), RpcError::kClockSkew);
}

TEST(RpcLinkTest, KeySelectorMismatch) {
  auto secret = SecretB1();
  auto other = secret;
  other[0] ^= 1;
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, other);
  Pair p(cc, sc);
  EXPECT_EQ(p.Handshake(), RpcError::kKeyMismatch);
  EXPECT_EQ(p.server->error(), RpcError::kKeyMismatch);
}

TEST(RpcLinkTest, WrongSecretSameSelectorBreaksDecryption) {
  auto secret = SecretB1();
  auto other = secret;
  other[31] ^= 1;  // same key selector, different keys
  Pair p(ConfigB1(RpcRole::kClient, secret), ConfigB1(RpcRole::kServer, other));
  RpcError e = p.Handshake();
  EXPECT_NE(e, RpcError::kOk);
  EXPECT_EQ(p.server->state(), RpcLinkState::kFailed);
}

TEST(RpcLinkTest, NatRuleMustMatchOnBothSides) {
  auto secret = SecretB1();
  RpcNatRules nat;
  ASSERT_TRUE(nat.AddFromString("10.0.0.5:192.0.2.10").ok());
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.addresses.client_ipv4 = 0x0a000005;  // private address seen by the proxy
  cc.own_pid.ip = 0x0a000005;
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);  // the ME sees 192.0.2.10
  {
    Pair p(cc, sc);
    EXPECT_NE(p.Handshake(), RpcError::kOk);  // without --nat-info the ME cannot decrypt
  }
  cc.nat = &nat;
  Pair p(cc, sc);
  EXPECT_EQ(p.Handshake(), RpcError::kOk);
}

TEST(RpcLinkTest, BadServerHandshakeFlagsSendsHandshakeError) {
  auto secret = SecretB1();
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.handshake_flags = 0x1;  // low byte set, no CRC32C
  Pair p(ConfigB1(RpcRole::kClient, secret), sc);
  EXPECT_EQ(p.Handshake(), RpcError::kBadHandshakeFlags);
  EXPECT_EQ(RpcErrorCloseCode(p.client->error()), -7);
  // The client queued RPC_HANDSHAKE_ERROR(-7) (seq 0, CRC32); the server reads it as data.
  ASSERT_TRUE(p.client->HasPendingOutput());
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv), RpcError::kOk);
  ASSERT_EQ(p.sv.types.size(), 1u);
  RpcHandshakeError err;
  ASSERT_TRUE(DecodeRpcHandshakeError(ByteSpan(p.sv.messages[0]), &err));
  EXPECT_EQ(err.error_code, -7);
  EXPECT_EQ(err.sender_pid, MakeProcessId(0xc000020a, 8888, 4242, 1699999995));
}

TEST(RpcLinkTest, ServerPeerPidMismatchFailsClient) {
  auto secret = SecretB1();
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.handshake_flags = 0;
  sc.handshake_peer_pid = MakeProcessId(0, 0, 4243, 0);
  Pair p(ConfigB1(RpcRole::kClient, secret), sc);
  EXPECT_EQ(p.Handshake(), RpcError::kPeerPidMismatch);
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv), RpcError::kOk);
  RpcHandshakeError err;
  ASSERT_EQ(p.sv.messages.size(), 1u);
  ASSERT_TRUE(DecodeRpcHandshakeError(ByteSpan(p.sv.messages[0]), &err));
  EXPECT_EQ(err.error_code, -4);
}

TEST(RpcLinkTest, UnrequestedCrc32cFailsClient) {
  auto secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.use_crc32c = false;
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.handshake_flags = kRpcHandshakeFlagCrc32c;
  Pair p(cc, sc);
  EXPECT_EQ(p.Handshake(), RpcError::kBadHandshakeFlags);
}

TEST(RpcLinkTest, ServerRejectsClientPeerPidAndClientSeesRejection) {
  auto secret = SecretB1();
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  sc.own_pid.port = 9999;  // the client names port 8888 in its peer_pid
  Pair p(ConfigB1(RpcRole::kClient, secret), sc);
  EXPECT_EQ(p.Handshake(), RpcError::kPeerPidMismatch);
  EXPECT_EQ(p.server->error(), RpcError::kPeerPidMismatch);
  // The server queued RPC_HANDSHAKE_ERROR(-4) as its seq -1 packet.
  EXPECT_EQ(Pump(*p.server, *p.client, p.cv), RpcError::kHandshakeRejected);
  EXPECT_EQ(RpcErrorCloseCode(p.client->error()), -2);
  // With the check disabled (fake ME option) the same pair connects.
  sc.check_peer_pid = false;
  Pair q(ConfigB1(RpcRole::kClient, secret), sc);
  EXPECT_EQ(q.Handshake(), RpcError::kOk);
}

TEST(RpcLinkTest, CorruptedCiphertextFailsReceiver) {
  Pair p;
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  std::vector<uint8_t> m(64, 0x11);
  StoreLe32(m.data(), kRpcProxyAns);
  ASSERT_EQ(p.server->SendMessage(ByteSpan(m)), RpcError::kOk);
  ByteSpan out = p.server->Flush();
  std::vector<uint8_t> bytes(out.begin(), out.end());
  bytes[bytes.size() - 20] ^= 0x40;
  EXPECT_NE(p.client->Feed(ByteSpan(bytes), p.cv), RpcError::kOk);
  EXPECT_EQ(p.client->state(), RpcLinkState::kFailed);
  EXPECT_TRUE(p.cv.messages.empty());
}

TEST(RpcLinkTest, BoundsOnInputAndOutput) {
  auto secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.max_packet_bytes = 1024;
  cc.max_output_bytes = 4096;
  Pair p(cc, ConfigB1(RpcRole::kServer, secret));
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  std::vector<uint8_t> big(3000, 0);
  StoreLe32(big.data(), kRpcProxyReq);
  ASSERT_EQ(p.client->SendMessage(ByteSpan(big)), RpcError::kOk);
  EXPECT_EQ(p.client->SendMessage(ByteSpan(big)), RpcError::kBufferLimit);  // 6 KB > 4 KB
  EXPECT_TRUE(p.client->ready());
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv), RpcError::kOk);
  EXPECT_EQ(p.sv.messages.size(), 1u);
  ASSERT_EQ(p.client->SendMessage(ByteSpan(big)), RpcError::kOk);  // room again after flush
  // The server's 3000-byte answer exceeds the client's 1024-byte packet limit.
  StoreLe32(big.data(), kRpcProxyAns);
  ASSERT_EQ(p.server->SendMessage(ByteSpan(big)), RpcError::kOk);
  EXPECT_EQ(Pump(*p.server, *p.client, p.cv), RpcError::kTooLong);
}

TEST(RpcLinkTest, TrimGivesBackIdleBuffersAndTheLinkGoesOn) {
  Pair p;
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  // A burst of large messages each way grows both links' buffers.
  std::vector<uint8_t> big(600000, 0x5a);
  StoreLe32(big.data(), kRpcProxyReq);
  ASSERT_EQ(p.client->SendMessage(ByteSpan(big)), RpcError::kOk);
  // Pending output is kept: nothing may be lost by a trim.
  EXPECT_EQ(p.client->Trim(64 << 10), 0u);
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv), RpcError::kOk);
  ASSERT_EQ(p.sv.messages.size(), 1u);
  EXPECT_EQ(p.sv.messages[0], big);
  StoreLe32(big.data(), kRpcProxyAns);
  ASSERT_EQ(p.server->SendMessage(ByteSpan(big)), RpcError::kOk);
  ASSERT_EQ(Pump(*p.server, *p.client, p.cv), RpcError::kOk);
  ASSERT_EQ(p.cv.messages.size(), 1u);
  const size_t grown = p.client->buffer_capacity();
  EXPECT_GT(grown, 2 * big.size());
  // Idle now: both buffers go; a keep bound above the capacity keeps them.
  EXPECT_EQ(p.client->Trim(grown), 0u);
  EXPECT_EQ(p.client->Trim(64 << 10), grown);
  EXPECT_EQ(p.client->buffer_capacity(), 0u);
  // The streams (CBC state, sequence numbers) are untouched: more traffic both ways.
  std::vector<uint8_t> small(64, 0x11);
  StoreLe32(small.data(), kRpcProxyReq);
  ASSERT_EQ(p.client->SendMessage(ByteSpan(small)), RpcError::kOk);
  ASSERT_EQ(Pump(*p.client, *p.server, p.sv), RpcError::kOk);
  ASSERT_EQ(p.sv.messages.size(), 2u);
  EXPECT_EQ(p.sv.messages[1], small);
  StoreLe32(small.data(), kRpcProxyAns);
  ASSERT_EQ(p.server->SendMessage(ByteSpan(small)), RpcError::kOk);
  ASSERT_EQ(Pump(*p.server, *p.client, p.cv), RpcError::kOk);
  ASSERT_EQ(p.cv.messages.size(), 2u);
  EXPECT_EQ(p.cv.messages[1], small);
  EXPECT_LT(p.client->buffer_capacity(), grown);
}

TEST(RpcLinkTest, MalformedPingIsIgnoredAndPongSurfaced) {
  Pair p;
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  std::vector<uint8_t> odd_ping(16, 0);
  StoreLe32(odd_ping.data(), kRpcPing);
  ASSERT_EQ(p.server->SendMessage(ByteSpan(odd_ping)), RpcError::kOk);
  ASSERT_EQ(Pump(*p.server, *p.client, p.cv), RpcError::kOk);
  EXPECT_FALSE(p.client->HasPendingOutput());  // 16-byte ping: no pong
  EXPECT_TRUE(p.cv.messages.empty());
}

TEST(RpcLinkTest, RejectsBadConfig) {
  std::vector<uint8_t> short_secret(16, 1);
  RpcLinkConfig c;
  c.secret = ByteSpan(short_secret);
  EXPECT_FALSE(RpcLink::Create(c).ok());
  auto secret = SecretB1();
  c.secret = ByteSpan(secret);
  c.max_packet_bytes = 8;
  EXPECT_FALSE(RpcLink::Create(c).ok());
}

TEST(RpcLinkTest, OwnPidTakesLocalAddressUnlessLoopback) {
  auto secret = SecretB1();
  RpcLinkConfig cc = ConfigB1(RpcRole::kClient, secret);
  cc.own_pid.ip = 0;
  RpcLinkConfig sc = ConfigB1(RpcRole::kServer, secret);
  Pair p(cc, sc);
  ASSERT_EQ(p.Handshake(), RpcError::kOk);
  EXPECT_EQ(p.sv.peer.sender_pid.ip, 0xc000020au);
}

TEST(RpcLinkTest, AddressesFromSockets) {
  sockaddr_in proxy4{};
  proxy4.sin_family = AF_INET;
  proxy4.sin_port = htons(40000);
  inet_pton(AF_INET, "192.0.2.10", &proxy4.sin_addr);
  sockaddr_in me4{};
  me4.sin_family = AF_INET;
  me4.sin_port = htons(8888);
  inet_pton(AF_INET, "149.154.175.50", &me4.sin_addr);
  RpcLinkAddresses a;
  ASSERT_TRUE(MakeRpcLinkAddresses(RpcRole::kClient, reinterpret_cast<sockaddr*>(&proxy4),
                                   reinterpret_cast<sockaddr*>(&me4), &a));
  EXPECT_FALSE(a.ipv6);
  EXPECT_EQ(a.client_ipv4, 0xc000020au);
  EXPECT_EQ(a.client_port, 40000);
  EXPECT_EQ(a.server_ipv4, 0x959aaf32u);
  EXPECT_EQ(a.server_port, 8888);
  // The ME side sees the proxy as remote, on a dual-stack socket (IPv4-mapped): same result.
  sockaddr_in6 me6{};
  me6.sin6_family = AF_INET6;
  me6.sin6_port = htons(8888);
  inet_pton(AF_INET6, "::ffff:149.154.175.50", &me6.sin6_addr);
  sockaddr_in6 proxy6{};
  proxy6.sin6_family = AF_INET6;
  proxy6.sin6_port = htons(40000);
  inet_pton(AF_INET6, "::ffff:192.0.2.10", &proxy6.sin6_addr);
  RpcLinkAddresses b;
  ASSERT_TRUE(MakeRpcLinkAddresses(RpcRole::kServer, reinterpret_cast<sockaddr*>(&me6),
                                   reinterpret_cast<sockaddr*>(&proxy6), &b));
  EXPECT_FALSE(b.ipv6);
  EXPECT_EQ(b.client_ipv4, a.client_ipv4);
  EXPECT_EQ(b.server_ipv4, a.server_ipv4);
  EXPECT_EQ(b.client_port, a.client_port);
  EXPECT_EQ(b.server_port, a.server_port);
  // Real IPv6 on both ends.
  inet_pton(AF_INET6, "2001:db8::10", &proxy6.sin6_addr);
  inet_pton(AF_INET6, "2001:b28:f23d:8001::a", &me6.sin6_addr);
  ASSERT_TRUE(MakeRpcLinkAddresses(RpcRole::kClient, reinterpret_cast<sockaddr*>(&proxy6),
                                   reinterpret_cast<sockaddr*>(&me6), &b));
  EXPECT_TRUE(b.ipv6);
  EXPECT_EQ(HexEncode(b.client_ipv6), "20010db8000000000000000000000010");
  EXPECT_EQ(HexEncode(b.server_ipv6), "20010b28f23d8001000000000000000a");
  // Mixed families and unknown families are refused.
  EXPECT_FALSE(MakeRpcLinkAddresses(RpcRole::kClient, reinterpret_cast<sockaddr*>(&proxy4),
                                    reinterpret_cast<sockaddr*>(&me6), &b));
  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_FALSE(MakeRpcLinkAddresses(RpcRole::kClient, &unix_addr,
                                    reinterpret_cast<sockaddr*>(&me4), &b));
}

}  // namespace
}  // namespace mtp
