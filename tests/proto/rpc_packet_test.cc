// TCP-RPC framing: encoder against the spec's packets, decoder over split/padded streams and
// every close condition of middle-end-rpc.md §2.
#include "proto/rpc_packet.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

// C.2's RPC_PONG packet (CRC32C) and C.1's handshake packet (CRC32).
constexpr std::string_view kPongPayload = "a7ea30848877665544332211";
constexpr std::string_view kPongPacket = "1800000000000000a7ea30848877665544332211c90a7274";
constexpr std::string_view kHandshakePayload =
    "f5ee8276000800000a0200c0b8229210fbf0536532af9a95b822000000000000";
constexpr std::string_view kHandshakePacket =
    "2c000000fffffffff5ee8276000800000a0200c0b8229210fbf0536532af9a95"
    "b82200000000000087539103";

TEST(RpcPacketTest, EncodesSpecPackets) {
  std::vector<uint8_t> out(64);
  auto pong = H(kPongPayload);
  size_t n = EncodeRpcPacket(0, ByteSpan(pong), RpcCrc::kCrc32c, MutableByteSpan(out));
  EXPECT_EQ(HexEncode(ByteSpan(out.data(), n)), kPongPacket);
  auto hs = H(kHandshakePayload);
  n = EncodeRpcPacket(-1, ByteSpan(hs), RpcCrc::kCrc32, MutableByteSpan(out));
  EXPECT_EQ(HexEncode(ByteSpan(out.data(), n)), kHandshakePacket);
}

TEST(RpcPacketTest, SealInPlace) {
  std::vector<uint8_t> out(RpcPacketBytes(12));
  auto pong = H(kPongPayload);
  std::copy(pong.begin(), pong.end(), out.begin() + 8);
  EXPECT_EQ(SealRpcPacket(0, 12, RpcCrc::kCrc32c, MutableByteSpan(out)), 24u);
  EXPECT_EQ(HexEncode(out), kPongPacket);
}

TEST(RpcPacketTest, FlushPadding) {
  EXPECT_EQ(RpcFlushPaddingBytes(0), 0u);
  EXPECT_EQ(RpcFlushPaddingBytes(44), 4u);   // handshake: 44 + 4 = 48
  EXPECT_EQ(RpcFlushPaddingBytes(24), 8u);   // pong: 24 + 8 = 32
  EXPECT_EQ(RpcFlushPaddingBytes(36), 12u);
  EXPECT_EQ(RpcFlushPaddingBytes(64), 0u);
  std::vector<uint8_t> pad(12, 0xee);
  EXPECT_EQ(WriteRpcPadding(8, MutableByteSpan(pad)), 8u);
  EXPECT_EQ(HexEncode(pad), "0400000004000000eeeeeeee");
}

TEST(RpcPacketTest, DecodesAcrossPaddingAndAdvancesSeq) {
  auto stream = H(std::string("04000000") + std::string(kHandshakePacket) + "0400000004000000" +
                  std::string(kPongPacket).substr(0, 16));
  RpcPacketDecoder dec(-1, RpcCrc::kCrc32);
  RpcDecodeResult r = dec.Next(ByteSpan(stream));
  ASSERT_EQ(r.status, RpcDecodeStatus::kPacket);
  EXPECT_EQ(r.packet.seq, -1);
  EXPECT_EQ(HexEncode(r.packet.payload), kHandshakePayload);
  EXPECT_EQ(r.consumed, 4u + 44u);
  EXPECT_EQ(dec.expected_seq(), 0);
  // Then two padding words and a partial packet: the words may be dropped, 24 bytes needed.
  dec.set_crc(RpcCrc::kCrc32c);
  ByteSpan rest = ByteSpan(stream).subspan(r.consumed);
  r = dec.Next(rest);
  ASSERT_EQ(r.status, RpcDecodeStatus::kNeedMore);
  EXPECT_EQ(r.consumed, 8u);
  EXPECT_EQ(r.needed, 24u);
  auto pong = H(kPongPacket);
  r = dec.Next(ByteSpan(pong).first(3));
  ASSERT_EQ(r.status, RpcDecodeStatus::kNeedMore);
  EXPECT_EQ(r.needed, 4u);
  r = dec.Next(ByteSpan(pong));
  ASSERT_EQ(r.status, RpcDecodeStatus::kPacket);
  EXPECT_EQ(r.packet.seq, 0);
  EXPECT_EQ(HexEncode(r.packet.payload), kPongPayload);
  EXPECT_EQ(dec.expected_seq(), 1);
  r = dec.Next(ByteSpan());
  EXPECT_EQ(r.status, RpcDecodeStatus::kNeedMore);
}

RpcError DecodeError(std::vector<uint8_t> bytes, int32_t seq = 0, RpcCrc crc = RpcCrc::kCrc32,
                     uint32_t max = 0) {
  RpcPacketDecoder dec(seq, crc, max);
  RpcDecodeResult r = dec.Next(ByteSpan(bytes));
  return r.status == RpcDecodeStatus::kError ? r.error : RpcError::kOk;
}

TEST(RpcPacketTest, CloseConditions) {
  auto pong = H(kPongPacket);
  EXPECT_EQ(DecodeError(pong, 0, RpcCrc::kCrc32c), RpcError::kOk);
  // Wrong CRC kind, then a flipped CRC bit, then a flipped payload bit.
  EXPECT_EQ(DecodeError(pong, 0, RpcCrc::kCrc32), RpcError::kBadCrc);
  auto bad = pong;
  bad[23] ^= 1;
  EXPECT_EQ(DecodeError(bad, 0, RpcCrc::kCrc32c), RpcError::kBadCrc);
  bad = pong;
  bad[12] ^= 0x80;
  EXPECT_EQ(DecodeError(bad, 0, RpcCrc::kCrc32c), RpcError::kBadCrc);
  // Expected seq 1 but got 0.
  EXPECT_EQ(DecodeError(pong, 1, RpcCrc::kCrc32c), RpcError::kBadSeq);
  EXPECT_EQ(DecodeError(pong, -2, RpcCrc::kCrc32c), RpcError::kBadSeq);
  // Length words.
  EXPECT_EQ(DecodeError(H("1a000000")), RpcError::kBadLength);   // % 4
  EXPECT_EQ(DecodeError(H("00000000")), RpcError::kBadLength);   // 0
  EXPECT_EQ(DecodeError(H("fcffffff")), RpcError::kBadLength);   // negative
  EXPECT_EQ(DecodeError(H("08000000")), RpcError::kTooShort);
  EXPECT_EQ(DecodeError(H("0c000000")), RpcError::kTooShort);
  EXPECT_EQ(DecodeError(pong, 0, RpcCrc::kCrc32c, 20), RpcError::kTooLong);
  EXPECT_EQ(DecodeError(pong, 0, RpcCrc::kCrc32c, 24), RpcError::kOk);
  // Close codes of the reference (client side).
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kBadLength), -1);
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kTooShort), -2);
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kBadCrc), -3);
  EXPECT_EQ(RpcErrorCloseCode(RpcError::kBadSeq), -4);
  EXPECT_STREQ(RpcErrorName(RpcError::kBadCrc), "crc mismatch");
}

TEST(RpcPacketTest, RoundTripManySizesBothCrcs) {
  std::vector<uint8_t> stream;
  std::vector<std::vector<uint8_t>> payloads;
  for (size_t words = 1; words < 40; ++words) {
    std::vector<uint8_t> p(words * 4);
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(words * 31 + i);
    payloads.push_back(p);
  }
  for (RpcCrc crc : {RpcCrc::kCrc32, RpcCrc::kCrc32c}) {
    stream.clear();
    int32_t seq = 5;
    for (const auto& p : payloads) {
      size_t at = stream.size();
      stream.resize(at + RpcPacketBytes(p.size()) + 4);
      EncodeRpcPacket(seq++, ByteSpan(p), crc, MutableByteSpan(stream).subspan(at));
      WriteRpcPadding(4, MutableByteSpan(stream).subspan(stream.size() - 4));
    }
    RpcPacketDecoder dec(5, crc);
    ByteSpan rest(stream);
    for (const auto& p : payloads) {
      RpcDecodeResult r = dec.Next(rest);
      ASSERT_EQ(r.status, RpcDecodeStatus::kPacket);
      EXPECT_EQ(std::vector<uint8_t>(r.packet.payload.begin(), r.packet.payload.end()), p);
      rest = rest.subspan(r.consumed);
    }
    RpcDecodeResult r = dec.Next(rest);
    EXPECT_EQ(r.status, RpcDecodeStatus::kNeedMore);
    EXPECT_EQ(r.consumed, 4u);
  }
}

}  // namespace
}  // namespace mtp
