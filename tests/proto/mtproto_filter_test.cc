// Client payload filter (§4.2): PING/PONG, drops, forward flags; the captured ping of table F.
#include "proto/mtproto_filter.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/hex.h"
#include "proto/framing.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

// The 40-byte unencrypted req_pq_multi of vector A.5.
constexpr char kReqPqMulti[] =
    "0000000000000000" "00800b5e00000000" "14000000" "f18e7ebe"
    "000102030405060708090a0b0c0d0e0f";

std::vector<uint8_t> Unencrypted(uint32_t constructor, int32_t inner_len, size_t total) {
  std::vector<uint8_t> p(total, 0xab);
  StoreLe64(p.data(), 0);
  StoreLe64(p.data() + 8, 0x5e0b800000000000ull);
  StoreLe32(p.data() + 16, static_cast<uint32_t>(inner_len));
  StoreLe32(p.data() + 20, constructor);
  return p;
}

TEST(MtprotoFilterTest, CapturedPingIsAnsweredWithPong) {
  // Table F: client 0c000000 dfa23057 <8 bytes> -> proxy 0c000000 a7ea3084 <same 8 bytes>.
  std::vector<uint8_t> frame = H("0c000000dfa230570102030405060708");
  ClientFrame f = DecodeClientFrame(Transport::kIntermediate, frame);
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  ByteSpan payload = ByteSpan(frame).subspan(f.prefix_bytes, f.payload_bytes);
  FilterResult r = ClassifyClientPayload(payload);
  ASSERT_EQ(r.verdict, FilterVerdict::kAnswerPong);

  std::array<uint8_t, kPongPayloadBytes> pong{};
  BuildPong(payload, pong);
  std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
  size_t n = EncodeServerFrameHeader(Transport::kIntermediate, kPongPayloadBytes, 0, hdr);
  EXPECT_EQ(HexEncode(ByteSpan(hdr.data(), n)) + HexEncode(pong),
            "0c000000a7ea30840102030405060708");
}

TEST(MtprotoFilterTest, PingOfOtherSizesIsSwallowed) {
  for (size_t size : {4u, 8u, 16u, 28u, 64u}) {
    std::vector<uint8_t> p(size, 0);
    StoreLe32(p.data(), kRpcPingConstructor);
    FilterResult r = ClassifyClientPayload(p);
    EXPECT_EQ(r.verdict, FilterVerdict::kDrop) << size;
    EXPECT_EQ(r.drop_reason, FilterDropReason::kPingWrongSize);
  }
  // Quirk §10.2: an encrypted message whose auth_key_id low word is the PING constructor.
  std::vector<uint8_t> p(64, 0x11);
  StoreLe32(p.data(), kRpcPingConstructor);
  EXPECT_EQ(ClassifyClientPayload(p).verdict, FilterVerdict::kDrop);
}

TEST(MtprotoFilterTest, A5ReqPqMultiIsForwardedAsUnencrypted) {
  std::vector<uint8_t> p = H(kReqPqMulti);
  ASSERT_EQ(p.size(), 40u);
  FilterResult r = ClassifyClientPayload(p);
  EXPECT_EQ(r.verdict, FilterVerdict::kForward);
  EXPECT_EQ(r.proxy_req_flags, kProxyReqFlagUnencrypted);
}

TEST(MtprotoFilterTest, AllFourUnencryptedConstructors) {
  for (uint32_t c : {kReqPqConstructor, kReqPqMultiConstructor, kReqDhParamsConstructor,
                     kSetClientDhParamsConstructor}) {
    FilterResult r = ClassifyClientPayload(Unencrypted(c, 20, 40));
    EXPECT_EQ(r.verdict, FilterVerdict::kForward);
    EXPECT_EQ(r.proxy_req_flags, kProxyReqFlagUnencrypted);
  }
  FilterResult r = ClassifyClientPayload(Unencrypted(0x12345678, 20, 40));
  EXPECT_EQ(r.verdict, FilterVerdict::kDrop);
  EXPECT_EQ(r.drop_reason, FilterDropReason::kBadUnencryptedConstructor);
}

TEST(MtprotoFilterTest, UnencryptedInnerLengthBounds) {
  // 20 <= inner_len <= len - 20.
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 19, 40)).drop_reason,
            FilterDropReason::kBadUnencryptedLength);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 20, 40)).verdict,
            FilterVerdict::kForward);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 20, 40)).verdict,
            FilterVerdict::kForward);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 21, 40)).drop_reason,
            FilterDropReason::kBadUnencryptedLength);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, -1, 40)).drop_reason,
            FilterDropReason::kBadUnencryptedLength);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 0x7fffffff, 40)).drop_reason,
            FilterDropReason::kBadUnencryptedLength);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqMultiConstructor, 60, 80)).verdict,
            FilterVerdict::kForward);
}

TEST(MtprotoFilterTest, SizeRules) {
  EXPECT_EQ(ClassifyClientPayload(std::vector<uint8_t>(24, 1)).drop_reason,
            FilterDropReason::kTooShort);
  EXPECT_EQ(ClassifyClientPayload({}).drop_reason, FilterDropReason::kTooShort);
  EXPECT_EQ(ClassifyClientPayload(std::vector<uint8_t>(30, 1)).drop_reason,
            FilterDropReason::kNotMultipleOf4);
  // Encrypted (auth_key_id != 0): at least 56 bytes.
  EXPECT_EQ(ClassifyClientPayload(std::vector<uint8_t>(52, 1)).drop_reason,
            FilterDropReason::kEncryptedTooShort);
  FilterResult r = ClassifyClientPayload(std::vector<uint8_t>(56, 1));
  EXPECT_EQ(r.verdict, FilterVerdict::kForward);
  EXPECT_EQ(r.proxy_req_flags, 0u);
  // Unencrypted messages only need 28 bytes + a valid inner length.
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqConstructor, 20, 28)).drop_reason,
            FilterDropReason::kBadUnencryptedLength);
  EXPECT_EQ(ClassifyClientPayload(Unencrypted(kReqPqConstructor, 20, 28)).verdict,
            FilterVerdict::kDrop);
}

}  // namespace
}  // namespace mtp
