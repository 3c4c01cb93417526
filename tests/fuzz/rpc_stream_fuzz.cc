// Fuzz target: the TCP-RPC packet stream decoder and RpcLink's input path in both roles.
// Byte 0 selects the mode (low 3 bits, mod 5) and bit 3 the CRC (CRC32C when set); byte 1 sets
// the chunk size used to feed the rest (1 + byte 1). Modes:
//   0  RpcPacketDecoder over a plaintext stream (first seq from bits 4-5: -2, -1, 0, 0)
//   1  client link before the handshake: the rest is the server's raw bytes (nonce, then
//      ciphertext)
//   2  server link before the handshake: the rest is the client's raw bytes
//   3  client link after a real handshake: the rest is PLAINTEXT the server side encrypts
//      (continuing its CBC chain), so the fuzzer controls every decrypted byte
//   4  server link after a real handshake, same with the client's chain
// Seeds (tests/fuzz/corpus/rpc_stream/) start from valid streams of each mode.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "crypto/aes.h"
#include "crypto/rpc_keys.h"
#include "proto/rpc_link.h"
#include "proto/rpc_messages.h"
#include "proto/rpc_packet.h"

namespace {

#define FUZZ_CHECK(cond)         \
  do {                           \
    if (!(cond)) std::abort();   \
  } while (0)

using mtp::ByteSpan;
using mtp::MutableByteSpan;

constexpr int64_t kClientTime = 1700000000;
constexpr int64_t kServerTime = 1700000003;

const std::vector<uint8_t>& Secret() {
  static const std::vector<uint8_t> secret = [] {
    std::vector<uint8_t> s(64);
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x5a + 11 * i);
    return s;
  }();
  return secret;
}

mtp::RpcNonceBytes Nonce(uint8_t first) {
  mtp::RpcNonceBytes n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(first + i);
  return n;
}

mtp::RpcLinkConfig Config(mtp::RpcRole role, bool crc32c) {
  mtp::RpcLinkConfig c;
  c.role = role;
  c.secret = ByteSpan(Secret());
  c.addresses.client_ipv4 = 0xc000020a;
  c.addresses.client_port = 40000;
  c.addresses.server_ipv4 = 0x959aaf32;
  c.addresses.server_port = 8888;
  c.use_crc32c = crc32c;
  c.max_packet_bytes = 1 << 20;
  c.max_output_bytes = 1 << 20;
  if (role == mtp::RpcRole::kClient) {
    c.own_pid = mtp::MakeProcessId(0xc000020a, 8888, 4242, 1699999995);
    c.fixed_nonce = Nonce(0x20);
  } else {
    c.own_pid = mtp::MakeProcessId(0x959aaf32, 8888, 777, 1600000000);
    c.fixed_nonce = Nonce(0x10);
  }
  return c;
}

// Checks what a link hands to its visitor.
struct CheckingVisitor : mtp::RpcLinkVisitor {
  int ready = 0;
  void OnRpcLinkReady(mtp::RpcLink& link, const mtp::RpcHandshake&) override {
    FUZZ_CHECK(link.ready());
    ++ready;
  }
  void OnRpcMessage(mtp::RpcLink& link, uint32_t type, ByteSpan payload) override {
    FUZZ_CHECK(link.ready());
    FUZZ_CHECK(payload.size() >= 4 && payload.size() % 4 == 0);
    FUZZ_CHECK(type == mtp::RpcMessageType(payload) && type != mtp::kRpcPing);
    // Exercise every decoder on whatever arrives.
    mtp::RpcProxyReqView req;
    if (mtp::DecodeRpcProxyReq(payload, &req)) {
      FUZZ_CHECK(req.data.data() >= payload.data() &&
                 req.data.data() + req.data.size() == payload.data() + payload.size());
      FUZZ_CHECK(req.ad_tag.empty() || (req.ad_tag.data() >= req.extra.data() &&
                                        req.ad_tag.data() + req.ad_tag.size() <=
                                            req.extra.data() + req.extra.size()));
    }
    mtp::RpcProxyAns ans;
    if (mtp::DecodeRpcProxyAns(payload, &ans)) FUZZ_CHECK(ans.data.size() + 16 == payload.size());
    mtp::RpcSimpleAck ack;
    (void)mtp::DecodeRpcSimpleAck(payload, &ack);
    uint64_t id;
    (void)mtp::DecodeRpcClose(payload, mtp::kRpcCloseExt, &id);
    (void)mtp::DecodeRpcClose(payload, mtp::kRpcCloseConn, &id);
    (void)mtp::DecodeRpcPing(payload, mtp::kRpcPong, &id);
    mtp::RpcHandshakeError error;
    (void)mtp::DecodeRpcHandshakeError(payload, &error);
    // Answering from the callback is allowed.
    if (type == mtp::kRpcProxyReq && payload.size() >= 16) {
      uint8_t close[mtp::kRpcCloseBytes];
      mtp::EncodeRpcClose(mtp::kRpcCloseConn, 1, MutableByteSpan(close));
      const mtp::RpcError e = link.SendMessage(ByteSpan(close));
      FUZZ_CHECK(e == mtp::RpcError::kOk || e == mtp::RpcError::kBufferLimit);
    }
  }
};

void CheckOutput(mtp::RpcLink& link) {
  const size_t pending = link.PendingOutputBytes();
  std::vector<uint8_t> out(pending);
  FUZZ_CHECK(link.FlushTo(MutableByteSpan(out)) == pending);
  FUZZ_CHECK(!link.HasPendingOutput());
}

void FeedChunked(mtp::RpcLink& link, ByteSpan stream, size_t chunk) {
  CheckingVisitor visitor;
  for (size_t pos = 0; pos < stream.size(); pos += chunk) {
    const size_t n = std::min(chunk, stream.size() - pos);
    mtp::RpcError e = link.Feed(stream.subspan(pos, n), visitor);
    if (e != mtp::RpcError::kOk) {
      FUZZ_CHECK(link.state() == mtp::RpcLinkState::kFailed);
      FUZZ_CHECK(link.error() == e || e == mtp::RpcError::kLinkFailed);
      FUZZ_CHECK(mtp::RpcErrorCloseCode(link.error()) < 0);
      FUZZ_CHECK(link.Feed(stream.subspan(pos, n), visitor) == mtp::RpcError::kLinkFailed);
      CheckOutput(link);  // a handshake error may be queued
      return;
    }
    FUZZ_CHECK(link.state() != mtp::RpcLinkState::kFailed);
    if (link.HasPendingOutput()) CheckOutput(link);
  }
  FUZZ_CHECK(visitor.ready <= 1);
}

void PacketDecoder(ByteSpan stream, mtp::RpcCrc crc, int32_t first_seq) {
  mtp::RpcPacketDecoder decoder(first_seq, crc, 1 << 20);
  while (true) {
    mtp::RpcDecodeResult r = decoder.Next(stream);
    if (r.status == mtp::RpcDecodeStatus::kError) {
      FUZZ_CHECK(r.error != mtp::RpcError::kOk);
      return;
    }
    FUZZ_CHECK(r.consumed <= stream.size() && r.consumed % 4 == 0);
    if (r.status == mtp::RpcDecodeStatus::kNeedMore) {
      FUZZ_CHECK(r.consumed + r.needed > stream.size());
      return;
    }
    const ByteSpan payload = r.packet.payload;
    FUZZ_CHECK(payload.size() >= 4 && payload.size() % 4 == 0);
    FUZZ_CHECK(r.packet.seq + 1 == decoder.expected_seq());
    // Re-encoding the packet reproduces the input bytes exactly.
    const size_t total = mtp::RpcPacketBytes(payload.size());
    FUZZ_CHECK(payload.data() + payload.size() + 4 == stream.data() + r.consumed);
    std::vector<uint8_t> again(total);
    mtp::EncodeRpcPacket(r.packet.seq, payload, crc, MutableByteSpan(again));
    FUZZ_CHECK(std::memcmp(again.data(), stream.data() + r.consumed - total, total) == 0);
    stream = stream.subspan(r.consumed);
  }
}

// Performs a real handshake between a client and a server link and returns the link under
// test (`role`) plus a CBC encryptor that continues the peer's chain towards it.
bool Handshake(mtp::RpcRole role, bool crc32c, std::unique_ptr<mtp::RpcLink>* under_test,
               mtp::AesCbc* peer_chain) {
  auto client = mtp::RpcLink::Create(Config(mtp::RpcRole::kClient, crc32c));
  auto server = mtp::RpcLink::Create(Config(mtp::RpcRole::kServer, crc32c));
  FUZZ_CHECK(client.ok() && server.ok());
  mtp::RpcLink& c = **client;
  mtp::RpcLink& s = **server;
  CheckingVisitor cv, sv;
  c.Start(kClientTime);
  s.Start(kServerTime);
  std::vector<uint8_t> last_to_client, last_to_server;
  auto pump = [](mtp::RpcLink& from, mtp::RpcLink& to, mtp::RpcLinkVisitor& v,
                 std::vector<uint8_t>* sent) {
    ByteSpan out = from.Flush();
    sent->assign(out.begin(), out.end());
    return to.Feed(out, v) == mtp::RpcError::kOk;
  };
  FUZZ_CHECK(pump(c, s, sv, &last_to_server));
  FUZZ_CHECK(pump(s, c, cv, &last_to_client));
  FUZZ_CHECK(pump(c, s, sv, &last_to_server));
  FUZZ_CHECK(pump(s, c, cv, &last_to_client));
  FUZZ_CHECK(c.ready() && s.ready());

  // Keys of the peer's sending direction; IV = the peer's last ciphertext block.
  mtp::RpcKeyInput input;
  input.nonce_server = Nonce(0x10);
  input.nonce_client = Nonce(0x20);
  input.client_timestamp = static_cast<uint32_t>(kClientTime);
  input.addresses = Config(role, crc32c).addresses;
  input.secret = ByteSpan(Secret());
  const mtp::RpcRole peer = role == mtp::RpcRole::kClient ? mtp::RpcRole::kServer
                                                          : mtp::RpcRole::kClient;
  auto keys = mtp::DeriveRpcLinkKeys(input, peer);
  FUZZ_CHECK(keys.ok());
  const std::vector<uint8_t>& last =
      role == mtp::RpcRole::kClient ? last_to_client : last_to_server;
  FUZZ_CHECK(last.size() >= 16 && last.size() % 16 == 0);
  auto chain = mtp::AesCbc::Create(mtp::AesKey(keys->encrypt.key),
                                   mtp::AesIv(last.data() + last.size() - 16, 16),
                                   mtp::AesCbc::Direction::kEncrypt);
  FUZZ_CHECK(chain.ok());
  *peer_chain = std::move(*chain);
  *under_test = std::move(role == mtp::RpcRole::kClient ? *client : *server);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = static_cast<uint8_t>((data[0] & 7) % 5);
  const bool crc32c = (data[0] & 8) != 0;
  const size_t chunk = 1 + data[1];
  ByteSpan stream(data + 2, size - 2);
  switch (mode) {
    case 0: {
      static constexpr int32_t kFirstSeq[4] = {-2, -1, 0, 0};
      PacketDecoder(stream, crc32c ? mtp::RpcCrc::kCrc32c : mtp::RpcCrc::kCrc32,
                    kFirstSeq[(data[0] >> 4) & 3]);
      break;
    }
    case 1:
    case 2: {
      const mtp::RpcRole role = mode == 1 ? mtp::RpcRole::kClient : mtp::RpcRole::kServer;
      auto link = mtp::RpcLink::Create(Config(role, crc32c));
      FUZZ_CHECK(link.ok());
      (*link)->Start(role == mtp::RpcRole::kClient ? kClientTime : kServerTime);
      if ((*link)->HasPendingOutput()) CheckOutput(**link);
      FeedChunked(**link, stream, chunk);
      break;
    }
    case 3:
    case 4: {
      const mtp::RpcRole role = mode == 3 ? mtp::RpcRole::kClient : mtp::RpcRole::kServer;
      std::unique_ptr<mtp::RpcLink> link;
      mtp::AesCbc chain;
      Handshake(role, crc32c, &link, &chain);
      // Encrypt the fuzzer's plaintext (rounded down to whole blocks) with the peer's chain.
      std::vector<uint8_t> cipher(stream.begin(), stream.begin() + (stream.size() & ~size_t{15}));
      if (!cipher.empty()) chain.Process(MutableByteSpan(cipher));
      FeedChunked(*link, ByteSpan(cipher), chunk);
      break;
    }
    default:
      break;
  }
  return 0;
}
