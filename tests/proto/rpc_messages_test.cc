// TCP-RPC message codecs against test-vectors.md §B, §C, §E, plus the validation rules of
// middle-end-rpc.md §3.2/§3.5 and malformed-message handling of §7.
#include "proto/rpc_messages.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/hex.h"
#include "crypto/aes.h"
#include "proto/rpc_packet.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

RpcNonceBytes NonceFrom(uint8_t first) {
  RpcNonceBytes n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(first + i);
  return n;
}

// Encodes payload -> packet (CRC32 unless told).
std::string Packet(int32_t seq, ByteSpan payload, RpcCrc crc = RpcCrc::kCrc32) {
  std::vector<uint8_t> out(RpcPacketBytes(payload.size()));
  EncodeRpcPacket(seq, payload, crc, MutableByteSpan(out));
  return HexEncode(out);
}

std::vector<uint8_t> NoncePayload(const RpcNonce& nonce) {
  std::vector<uint8_t> out(RpcNoncePayloadSize(nonce));
  EncodeRpcNonce(nonce, MutableByteSpan(out));
  return out;
}

constexpr uint32_t kKeySelectB1 = 0x7b70655a;

TEST(RpcMessagesTest, B1NoncePackets) {
  RpcNonce proxy;
  proxy.key_select = kKeySelectB1;
  proxy.crypto_ts = 1700000000;
  proxy.nonce = NonceFrom(0x20);
  EXPECT_EQ(Packet(-2, NoncePayload(proxy)),
            "2c000000feffffffaa87cb7a5a65707b0100000000f15365202122232425262728292a2b2c2d2e2f"
            "74f4f88e");
  RpcNonce me = proxy;
  me.crypto_ts = 1700000001;
  me.nonce = NonceFrom(0x10);
  EXPECT_EQ(Packet(-2, NoncePayload(me)),
            "2c000000feffffffaa87cb7a5a65707b0100000001f15365101112131415161718191a1b1c1d1e1f"
            "03ef24a5");
  // The proxy accepts the ME's nonce.
  RpcNonce parsed;
  auto payload = NoncePayload(me);
  ASSERT_EQ(CheckPeerNonce(ByteSpan(payload), kKeySelectB1, 1700000000, &parsed), RpcError::kOk);
  EXPECT_EQ(parsed.nonce, me.nonce);
  EXPECT_EQ(parsed.crypto_ts, 1700000001);
  EXPECT_EQ(parsed.schema, RpcCryptoSchema::kAes);
}

TEST(RpcMessagesTest, KeySelectorOfSecret) {
  std::vector<uint8_t> secret = H("5a65707b86919ca7");
  EXPECT_EQ(RpcKeySelector(ByteSpan(secret)), kKeySelectB1);
  std::vector<uint8_t> official = H("c4f9facaff");
  EXPECT_EQ(RpcKeySelector(ByteSpan(official)), 0xcafaf9c4u);
  EXPECT_EQ(RpcKeySelector(ByteSpan(official).first(3)), 0u);
}

TEST(RpcMessagesTest, B3CapturedNonceAndHandshake) {
  RpcNonce nonce;
  nonce.key_select = 0x18110a03;
  nonce.crypto_ts = 0x6b046fa5;
  auto n = H("7789d46f54c4f40f9a0e6e27a7e679fc");
  std::copy(n.begin(), n.end(), nonce.nonce.begin());
  EXPECT_EQ(Packet(-2, NoncePayload(nonce)),
            "2c000000feffffffaa87cb7a030a111801000000a56f046b7789d46f54c4f40f"
            "9a0e6e27a7e679fcd41f62b3");

  RpcHandshake hs;
  hs.flags = kRpcHandshakeFlagCrc32c;
  hs.sender_pid = MakeProcessId(0xc0000202, 18080, 0x3875, 0x6b046fa5);
  hs.peer_pid = MakeProcessId(0, 18888, 0, 0);
  std::vector<uint8_t> plain(48);
  EncodeRpcHandshake(hs, MutableByteSpan(plain).subspan(8));
  size_t len = SealRpcPacket(-1, kRpcHandshakePayloadBytes, RpcCrc::kCrc32, MutableByteSpan(plain));
  WriteRpcPadding(RpcFlushPaddingBytes(len), MutableByteSpan(plain).subspan(len));
  EXPECT_EQ(HexEncode(plain),
            "2c000000fffffffff5ee827600080000020200c0a0467538a56f046b00000000"
            "c849000000000000215333a904000000");
  auto key = H("cc533404c7b60a46a8045c58da249e3ef19b443ed17449d07452d322b50e545c");
  auto iv = H("4c88693b9ab6112b0c94c04b8914ae1f");
  auto enc = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  enc->Process(MutableByteSpan(plain));
  EXPECT_EQ(HexEncode(plain),
            "71ddbf19e4fe11452bf6004ca4ad9c8a96bc2ba112b1319a14712628859ed1c8"
            "e37552371cf125d55c9d4acdb7dee3c6");
}

TEST(RpcMessagesTest, C1C2HandshakeAndPongCiphertexts) {
  RpcHandshake hs;
  hs.flags = kRpcHandshakeFlagCrc32c;
  hs.sender_pid = MakeProcessId(0xc000020a, 8888, 4242, 1699999995);
  hs.peer_pid = MakeProcessId(0x959aaf32, 8888, 0, 0);
  std::vector<uint8_t> payload(kRpcHandshakePayloadBytes);
  EncodeRpcHandshake(hs, MutableByteSpan(payload));
  EXPECT_EQ(HexEncode(payload), "f5ee8276000800000a0200c0b8229210fbf0536532af9a95b822000000000000");

  std::vector<uint8_t> flush1(48);
  size_t len = EncodeRpcPacket(-1, ByteSpan(payload), RpcCrc::kCrc32, MutableByteSpan(flush1));
  WriteRpcPadding(RpcFlushPaddingBytes(len), MutableByteSpan(flush1).subspan(len));
  auto key = H("39a5b59690109e339c44a7a10ade3ad48a63abde2986eaff8c30962452224900");
  auto iv = H("da932595b991e4c609ce6807a0efd9d6");
  auto enc = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  enc->Process(MutableByteSpan(flush1));
  EXPECT_EQ(HexEncode(flush1),
            "c2315874dd438b0c1222de918e8aacc7d9401ae249c67ea70b7c5dc0e7ca7ae1"
            "13be5ca4e3884c619355a7da75a3b033");

  std::vector<uint8_t> pong(kRpcPingBytes);
  EncodeRpcPing(kRpcPong, 0x1122334455667788, MutableByteSpan(pong));
  std::vector<uint8_t> flush2(32);
  len = EncodeRpcPacket(0, ByteSpan(pong), RpcCrc::kCrc32c, MutableByteSpan(flush2));
  EXPECT_EQ(HexEncode(ByteSpan(flush2).first(len)),
            "1800000000000000a7ea30848877665544332211c90a7274");
  WriteRpcPadding(RpcFlushPaddingBytes(len), MutableByteSpan(flush2).subspan(len));
  enc->Process(MutableByteSpan(flush2));  // the CBC chain continues from C.1
  EXPECT_EQ(HexEncode(flush2), "073c48f466fc5ddc4521d9931547b84a735cb970d2ba983b93c3e2713851485a");
}

// ---- Nonce validation (§3.2) ----

RpcError Check(const std::vector<uint8_t>& payload, int64_t own_time = 1700000000) {
  RpcNonce out;
  return CheckPeerNonce(ByteSpan(payload), kKeySelectB1, own_time, &out);
}

RpcNonce GoodNonce() {
  RpcNonce n;
  n.key_select = kKeySelectB1;
  n.crypto_ts = 1700000000;
  n.nonce = NonceFrom(0x10);
  return n;
}

TEST(RpcMessagesTest, NonceValidation) {
  EXPECT_EQ(Check(NoncePayload(GoodNonce())), RpcError::kOk);
  // Clock skew: 30 s either way is fine, 31 is not.
  EXPECT_EQ(Check(NoncePayload(GoodNonce()), 1700000030), RpcError::kOk);
  EXPECT_EQ(Check(NoncePayload(GoodNonce()), 1699999970), RpcError::kOk);
  EXPECT_EQ(Check(NoncePayload(GoodNonce()), 1700000031), RpcError::kClockSkew);
  EXPECT_EQ(Check(NoncePayload(GoodNonce()), 1699999969), RpcError::kClockSkew);
  // Key selector.
  RpcNonce n = GoodNonce();
  n.key_select = 0x12345678;
  EXPECT_EQ(Check(NoncePayload(n)), RpcError::kKeyMismatch);
  n.key_select = 0;
  EXPECT_EQ(Check(NoncePayload(n)), RpcError::kKeyMismatch);
  // Schema AES with extra bytes, and a short payload.
  auto p = NoncePayload(GoodNonce());
  p.resize(36);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  p.resize(28);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  // Unknown schema, NONE, DH.
  p = NoncePayload(GoodNonce());
  StoreLe32(p.data() + 8, 7);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  StoreLe32(p.data() + 8, 0);
  EXPECT_EQ(Check(p), RpcError::kKeyMismatch);  // NONE with a key selector
  StoreLe32(p.data() + 4, 0);
  EXPECT_EQ(Check(p), RpcError::kUnencrypted);
  std::vector<uint8_t> dh(kRpcNoncePayloadBytes + 4 + 4 + 256, 0);
  std::copy(p.begin(), p.end(), dh.begin());
  StoreLe32(dh.data() + 4, kKeySelectB1);
  StoreLe32(dh.data() + 8, 3);
  EXPECT_EQ(Check(dh), RpcError::kDhUnsupported);
  dh.resize(dh.size() - 4);
  EXPECT_EQ(Check(dh), RpcError::kBadNonce);
  // Wrong type.
  p = NoncePayload(GoodNonce());
  StoreLe32(p.data(), kRpcHandshake);
  EXPECT_EQ(Check(p), RpcError::kUnexpectedType);
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kClockSkew), -6);
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kKeyMismatch), -3);
}

TEST(RpcMessagesTest, NonceSchemaExtKeySelectors) {
  RpcNonce n = GoodNonce();
  n.schema = RpcCryptoSchema::kAesExt;
  n.key_select = 0x11111111;
  n.extra_key_count = 3;
  n.extra_keys = {0x22222222, kKeySelectB1, 0x33333333};
  auto p = NoncePayload(n);
  EXPECT_EQ(p.size(), 36u + 12u);
  RpcNonce out;
  ASSERT_EQ(CheckPeerNonce(ByteSpan(p), kKeySelectB1, 1700000000, &out), RpcError::kOk);
  EXPECT_EQ(out.key_select, kKeySelectB1);
  EXPECT_EQ(out.extra_key_count, 3u);
  // Our key absent from every position.
  n.extra_keys[1] = 0x44444444;
  EXPECT_EQ(Check(NoncePayload(n)), RpcError::kKeyMismatch);
  // Count / length disagreement, count above 8.
  n.extra_keys[1] = kKeySelectB1;
  p = NoncePayload(n);
  p.resize(p.size() + 4);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  p = NoncePayload(n);
  StoreLe32(p.data() + 32, 9);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  StoreLe32(p.data() + 32, 0xffffffff);
  EXPECT_EQ(Check(p), RpcError::kBadNonce);
  // Zero extra keys, own key in the main slot.
  n.key_select = kKeySelectB1;
  n.extra_key_count = 0;
  EXPECT_EQ(Check(NoncePayload(n)), RpcError::kOk);
}

// ---- Handshake validation (§3.5) ----

TEST(RpcMessagesTest, HandshakeValidation) {
  const ProcessId own = MakeProcessId(0xc0000202, 18080, 0x3875, 0x6b046fa5);
  RpcHandshake hs;
  hs.flags = kRpcHandshakeFlagCrc32c;
  hs.sender_pid = MakeProcessId(0x7f000001, 18888, 77, 1234);
  hs.peer_pid = own;
  std::vector<uint8_t> p(kRpcHandshakePayloadBytes);
  auto encode = [&] { EncodeRpcHandshake(hs, MutableByteSpan(p)); };
  RpcHandshake out;
  encode();
  ASSERT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kOk);
  EXPECT_EQ(out.flags, kRpcHandshakeFlagCrc32c);
  EXPECT_EQ(out.sender_pid, hs.sender_pid);
  // All-zero and partial peer pids match; a differing non-zero field does not.
  hs.peer_pid = ProcessId{};
  encode();
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kOk);
  hs.peer_pid = MakeProcessId(0, 18080, 0, 0);
  encode();
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kOk);
  hs.peer_pid = MakeProcessId(0, 18080, 0x3876, 0);
  encode();
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kPeerPidMismatch);
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, false, &out), RpcError::kOk);
  // Flags: low byte set is fatal; 0 (no CRC32C) is fine.
  hs.peer_pid = own;
  hs.flags = 0x801;
  encode();
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kBadHandshakeFlags);
  hs.flags = 0;
  encode();
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kOk);
  // Length, type, handshake error.
  std::vector<uint8_t> longer = p;
  longer.resize(36);
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(longer), own, true, &out),
            RpcError::kBadHandshakeLength);
  StoreLe32(p.data(), kRpcNonce);
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(p), own, true, &out), RpcError::kUnexpectedType);
  std::vector<uint8_t> err(kRpcHandshakeErrorPayloadBytes);
  EncodeRpcHandshakeError(RpcHandshakeError{-4, own}, MutableByteSpan(err));
  EXPECT_EQ(CheckPeerHandshake(ByteSpan(err), own, true, &out), RpcError::kHandshakeRejected);
  RpcHandshakeError decoded;
  ASSERT_TRUE(DecodeRpcHandshakeError(ByteSpan(err), &decoded));
  EXPECT_EQ(decoded.error_code, -4);
  EXPECT_EQ(decoded.sender_pid, own);
  EXPECT_EQ(HexEncode(ByteSpan(err).first(8)), "dabe276afcffffff");
}

TEST(RpcMessagesTest, ProcessIdTruncatesAndMatches) {
  ProcessId pid = MakeProcessId(0xc0000202, -1, 4194303, 100);  // no -p, huge pid_max
  EXPECT_EQ(pid.port, 0xffff);
  EXPECT_EQ(pid.pid, 0xffff);
  uint8_t wire[kProcessIdBytes];
  EncodeProcessId(pid, wire);
  EXPECT_EQ(HexEncode(ByteSpan(wire)), "020200c0ffffffff64000000");
  EXPECT_EQ(DecodeProcessId(wire), pid);
  EXPECT_EQ(MakeProcessId(0, 0, 0x12345, 0).pid, 0x2345);
  EXPECT_TRUE(MatchesPid(ProcessId{}, pid));
  EXPECT_FALSE(MatchesPid(MakeProcessId(0, 0, 0, 99), pid));
}

// ---- RPC_PROXY_REQ (§7.1, vectors E) ----

std::vector<uint8_t> ReqPqMulti() {
  return H("0000000000000000" "0000000000800b5e" "14000000" "f18e7ebe" "000102030405060708090a0b0c0d0e0f");
}

std::string EncodeReq(const RpcProxyReqHeader& h, ByteSpan data) {
  std::vector<uint8_t> out(RpcProxyReqHeaderSize(h.flags, h.ad_tag.size()) + data.size());
  size_t n = EncodeRpcProxyReqHeader(h, MutableByteSpan(out));
  EXPECT_EQ(n, out.size() - data.size());
  std::copy(data.begin(), data.end(), out.begin() + static_cast<ptrdiff_t>(n));
  return HexEncode(out);
}

constexpr std::string_view kTag = "00112233445566778899aabbccddeeff";

TEST(RpcMessagesTest, E1IntermediateWithTag) {
  auto tag = H(kTag);
  RpcProxyReqHeader h;
  h.flags = MakeRpcProxyReqFlags(RpcClientFraming::kIntermediate, true, true, false);
  EXPECT_EQ(h.flags, 0x2002100au);
  h.ext_conn_id = 0x40000d;
  h.client_ip = Ipv4MappedIpv6(0xcb007107);  // 203.0.113.7
  h.client_port = 51234;
  h.proxy_ip = Ipv4MappedIpv6(0xc000020a);
  h.proxy_port = 443;
  h.ad_tag = ByteSpan(tag);
  EXPECT_EQ(RpcProxyReqHeaderSize(h.flags, 16), 56u + 4u + 24u);
  auto data = ReqPqMulti();
  const std::string e1 =
      "eef1ce360a1002200d0040000000000000000000000000000000ffffcb007107"
      "22c8000000000000000000000000ffffc000020abb01000018000000ae261edb"
      "1000112233445566778899aabbccddeeff000000000000000000000000000000"
      "00800b5e14000000f18e7ebe000102030405060708090a0b0c0d0e0f";
  EXPECT_EQ(EncodeReq(h, ByteSpan(data)), e1);

  // Server side decodes it back.
  auto wire = H(e1);
  RpcProxyReqView v;
  ASSERT_TRUE(DecodeRpcProxyReq(ByteSpan(wire), &v));
  EXPECT_EQ(v.flags, 0x2002100au);
  EXPECT_EQ(v.ext_conn_id, 0x40000du);
  EXPECT_EQ(v.client_ip, Ipv4MappedIpv6(0xcb007107));
  EXPECT_EQ(v.client_port, 51234u);
  EXPECT_EQ(v.proxy_port, 443u);
  EXPECT_EQ(v.extra.size(), 24u);
  EXPECT_EQ(HexEncode(v.ad_tag), kTag);
  EXPECT_EQ(HexEncode(v.data), HexEncode(data));
}

TEST(RpcMessagesTest, E2AbridgedIpv6QuickAck) {
  RpcProxyReqHeader h;
  h.flags = MakeRpcProxyReqFlags(RpcClientFraming::kAbridged, false, false, true);
  EXPECT_EQ(h.flags, 0xc0021000u);
  h.ext_conn_id = 0x840000007;
  auto cip = H("20010db8000000000000000000000001");
  auto pip = H("20010db80000000000000000000000aa");
  std::copy(cip.begin(), cip.end(), h.client_ip.begin());
  std::copy(pip.begin(), pip.end(), h.proxy_ip.begin());
  h.client_port = 60000;
  h.proxy_port = 443;
  EXPECT_EQ(RpcProxyReqHeaderSize(h.flags, 0), 56u);
  std::vector<uint8_t> data(56);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(EncodeReq(h, ByteSpan(data)),
            "eef1ce36001002c0070000400800000020010db8000000000000000000000001"
            "60ea000020010db80000000000000000000000aabb0100000001020304050607"
            "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627"
            "28292a2b2c2d2e2f3031323334353637");
}

TEST(RpcMessagesTest, E3CapturedPayloads) {
  auto tag = H(kTag);
  auto data = ReqPqMulti();
  RpcProxyReqHeader h;
  h.flags = 0x2002100a;
  h.ext_conn_id = 0x40000d;
  h.client_ip = Ipv4MappedIpv6(0x7f000001);
  h.client_port = 42412;
  h.proxy_ip = Ipv4MappedIpv6(0x7f000001);
  h.proxy_port = 18443;
  h.ad_tag = ByteSpan(tag);
  EXPECT_EQ(EncodeReq(h, ByteSpan(data)),
            "eef1ce360a1002200d0040000000000000000000000000000000ffff7f000001"
            "aca5000000000000000000000000ffff7f0000010b48000018000000ae261edb"
            "1000112233445566778899aabbccddeeff000000000000000000000000000000"
            "00800b5e14000000f18e7ebe000102030405060708090a0b0c0d0e0f");
  h.flags = MakeRpcProxyReqFlags(RpcClientFraming::kAbridged, true, true, true);
  EXPECT_EQ(h.flags, 0xc002100au);
  h.ext_conn_id = 0x80000d;
  h.client_port = 42416;
  EXPECT_EQ(EncodeReq(h, ByteSpan(data)),
            "eef1ce360a1002c00d0080000000000000000000000000000000ffff7f000001"
            "b0a5000000000000000000000000ffff7f0000010b48000018000000ae261edb"
            "1000112233445566778899aabbccddeeff000000000000000000000000000000"
            "00800b5e14000000f18e7ebe000102030405060708090a0b0c0d0e0f");
  // IPv6 listener, client ::1, no tag.
  RpcProxyReqHeader v6;
  v6.flags = MakeRpcProxyReqFlags(RpcClientFraming::kPaddedIntermediate, false, true, false);
  EXPECT_EQ(v6.flags, 0x20021002u);
  v6.ext_conn_id = 0x40000c;
  v6.client_ip[15] = 1;
  v6.client_port = 54090;
  v6.proxy_ip[15] = 1;
  v6.proxy_port = 18443;
  EXPECT_EQ(EncodeReq(v6, ByteSpan(data)),
            "eef1ce36021002200c0040000000000000000000000000000000000000000001"
            "4ad30000000000000000000000000000000000010b4800000000000000000000"
            "0000000000800b5e14000000f18e7ebe000102030405060708090a0b0c0d0e0f");
  // RPC_CLOSE_CONN sent when the client disconnected.
  std::vector<uint8_t> close(kRpcCloseBytes);
  EncodeRpcClose(kRpcCloseConn, 0x40000d, MutableByteSpan(close));
  EXPECT_EQ(HexEncode(close), "5d42cf1f0d00400000000000");
  uint64_t id = 0;
  EXPECT_TRUE(DecodeRpcClose(ByteSpan(close), kRpcCloseConn, &id));
  EXPECT_EQ(id, 0x40000du);
  EXPECT_FALSE(DecodeRpcClose(ByteSpan(close), kRpcCloseExt, &id));
}

TEST(RpcMessagesTest, ProxyReqDecodeRejectsMalformed) {
  auto tag = H(kTag);
  auto data = ReqPqMulti();
  RpcProxyReqHeader h;
  h.flags = 0x2002100a;
  h.ad_tag = ByteSpan(tag);
  auto wire = H(EncodeReq(h, ByteSpan(data)));
  RpcProxyReqView v;
  ASSERT_TRUE(DecodeRpcProxyReq(ByteSpan(wire), &v));
  EXPECT_FALSE(DecodeRpcProxyReq(ByteSpan(wire).first(55), &v));
  EXPECT_FALSE(DecodeRpcProxyReq(ByteSpan(wire).first(59), &v));
  auto bad = wire;
  StoreLe32(bad.data() + 56, 0x1000);  // extra size beyond the payload
  EXPECT_FALSE(DecodeRpcProxyReq(ByteSpan(bad), &v));
  bad = wire;
  bad[64] = 200;  // TL string longer than the extra section
  EXPECT_FALSE(DecodeRpcProxyReq(ByteSpan(bad), &v));
  bad = wire;
  StoreLe32(bad.data(), kRpcProxyAns);
  EXPECT_FALSE(DecodeRpcProxyReq(ByteSpan(bad), &v));
}

TEST(RpcMessagesTest, TlStrings) {
  EXPECT_EQ(TlStringSize(0), 4u);
  EXPECT_EQ(TlStringSize(3), 4u);
  EXPECT_EQ(TlStringSize(16), 20u);
  EXPECT_EQ(TlStringSize(253), 256u);
  EXPECT_EQ(TlStringSize(254), 260u);
  EXPECT_EQ(TlStringSize(300), 304u);
  for (size_t len : {0, 1, 3, 4, 16, 253, 254, 255, 300, 1000}) {
    std::vector<uint8_t> s(len);
    for (size_t i = 0; i < len; ++i) s[i] = static_cast<uint8_t>(i + 1);
    std::vector<uint8_t> out(TlStringSize(len), 0xcc);
    ASSERT_EQ(EncodeTlString(ByteSpan(s), MutableByteSpan(out)), out.size());
    ByteSpan back;
    size_t used = 0;
    ASSERT_TRUE(DecodeTlString(ByteSpan(out), &back, &used));
    EXPECT_EQ(used, out.size());
    EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.end()), s);
    for (size_t i = (len < 254 ? 1 : 4) + len; i < out.size(); ++i) EXPECT_EQ(out[i], 0);
    EXPECT_FALSE(DecodeTlString(ByteSpan(out).first(out.size() - 1), &back, &used));
  }
  std::vector<uint8_t> long_prefix = H("fe2c0100");
  EXPECT_FALSE(DecodeTlString(ByteSpan(long_prefix), nullptr, nullptr));
  std::vector<uint8_t> ff = H("ff000000");
  ByteSpan back;
  size_t used;
  EXPECT_FALSE(DecodeTlString(ByteSpan(ff), &back, &used));
}

// ---- Answers, acks, close, ping ----

TEST(RpcMessagesTest, ProxyAnsSimpleAckCloseExtPing) {
  std::vector<uint8_t> ans(kRpcProxyAnsHeaderBytes + 32);
  EncodeRpcProxyAnsHeader(8, 0x40000d, MutableByteSpan(ans));
  for (size_t i = 16; i < ans.size(); ++i) ans[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(HexEncode(ByteSpan(ans).first(16)), "0dda0344080000000d00400000000000");
  RpcProxyAns a;
  ASSERT_TRUE(DecodeRpcProxyAns(ByteSpan(ans), &a));
  EXPECT_EQ(a.flags, 8u);
  EXPECT_EQ(a.ext_conn_id, 0x40000du);
  EXPECT_EQ(a.data.size(), 32u);
  EXPECT_EQ(a.data[0], 16);
  EXPECT_TRUE(DecodeRpcProxyAns(ByteSpan(ans).first(16), &a));  // empty data is legal
  EXPECT_TRUE(a.data.empty());
  EXPECT_FALSE(DecodeRpcProxyAns(ByteSpan(ans).first(12), &a));  // < 16: ignored

  std::vector<uint8_t> ack(kRpcSimpleAckBytes);
  EncodeRpcSimpleAck(RpcSimpleAck{0x40000d, 0x81234567}, MutableByteSpan(ack));
  EXPECT_EQ(HexEncode(ack), "9b40ac3b0d0040000000000067452381");
  RpcSimpleAck k;
  ASSERT_TRUE(DecodeRpcSimpleAck(ByteSpan(ack), &k));
  EXPECT_EQ(k.ext_conn_id, 0x40000du);
  EXPECT_EQ(k.confirm, 0x81234567u);
  ack.resize(20);
  EXPECT_FALSE(DecodeRpcSimpleAck(ByteSpan(ack), &k));

  std::vector<uint8_t> close(kRpcCloseBytes);
  EncodeRpcClose(kRpcCloseExt, 0x123456789, MutableByteSpan(close));
  EXPECT_EQ(HexEncode(close), "a234b65e8967452301000000");
  uint64_t id;
  EXPECT_TRUE(DecodeRpcClose(ByteSpan(close), kRpcCloseExt, &id));
  EXPECT_EQ(id, 0x123456789u);
  EXPECT_FALSE(DecodeRpcClose(ByteSpan(close).first(8), kRpcCloseExt, &id));

  std::vector<uint8_t> ping(kRpcPingBytes);
  EncodeRpcPing(kRpcPing, 0x1122334455667788, MutableByteSpan(ping));
  EXPECT_EQ(HexEncode(ping), "dfa230578877665544332211");
  uint64_t ping_id;
  EXPECT_TRUE(DecodeRpcPing(ByteSpan(ping), kRpcPing, &ping_id));
  EXPECT_EQ(ping_id, 0x1122334455667788u);
  EXPECT_FALSE(DecodeRpcPing(ByteSpan(ping), kRpcPong, &ping_id));
  ping.resize(16);
  EXPECT_FALSE(DecodeRpcPing(ByteSpan(ping), kRpcPing, &ping_id));
  EXPECT_EQ(RpcMessageType(ByteSpan(ping)), kRpcPing);
  EXPECT_EQ(RpcMessageType(ByteSpan(ping).first(3)), 0u);
}

}  // namespace
}  // namespace mtp
