// Framings: every row of spec table F, the A.5 answers through encoder + write stream,
// negatives of §4.1, round trips and frames split across arbitrary chunk boundaries.
#include "proto/framing.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/hex.h"
#include "proto/obfuscated2.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

std::vector<uint8_t> Payload(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 13);
  return p;
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string ClientHeaderHex(Transport t, uint32_t payload, uint32_t pad, bool quick_ack) {
  std::array<uint8_t, kMaxFrameHeaderBytes> buf{};
  size_t n = EncodeClientFrameHeader(t, payload, pad, quick_ack, buf);
  return HexEncode(ByteSpan(buf.data(), n));
}

std::string ServerHeaderHex(Transport t, uint32_t payload, uint32_t pad) {
  std::array<uint8_t, kMaxFrameHeaderBytes> buf{};
  size_t n = EncodeServerFrameHeader(t, payload, pad, buf);
  return HexEncode(ByteSpan(buf.data(), n));
}

std::string QuickAckHex(Transport t, uint32_t token, const QuickAckRandom& r) {
  std::array<uint8_t, kMaxServerQuickAckBytes> buf{};
  size_t n = EncodeServerQuickAck(t, token, r, buf);
  return HexEncode(ByteSpan(buf.data(), n));
}

// ---- Table F: client -> proxy rows ----

struct ClientRow {
  Transport transport;
  uint32_t payload;
  uint32_t pad;
  bool quick_ack;
  const char* prefix;
};

class TableFClientTest : public ::testing::TestWithParam<ClientRow> {};

TEST_P(TableFClientTest, EncodeAndDecode) {
  const ClientRow& row = GetParam();
  EXPECT_EQ(ClientHeaderHex(row.transport, row.payload, row.pad, row.quick_ack), row.prefix);

  std::vector<uint8_t> payload = Payload(row.payload);
  std::vector<uint8_t> frame = Concat({H(row.prefix), payload, Payload(row.pad, 0x99)});
  ClientFrame f = DecodeClientFrame(row.transport, frame);
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  EXPECT_EQ(f.error, FrameError::kNone);
  EXPECT_EQ(f.quick_ack, row.quick_ack);
  EXPECT_EQ(f.prefix_bytes, H(row.prefix).size());
  EXPECT_EQ(f.payload_bytes, row.payload);
  EXPECT_EQ(f.padding_bytes, row.pad);
  EXPECT_EQ(f.frame_bytes(), frame.size());
  EXPECT_EQ(f.wanted_bytes, frame.size());

  // One byte short of the frame: need more, asking for exactly the frame.
  frame.pop_back();
  f = DecodeClientFrame(row.transport, frame);
  EXPECT_EQ(f.status, FrameStatus::kNeedMore);
  EXPECT_EQ(f.wanted_bytes, frame.size() + 1);
}

INSTANTIATE_TEST_SUITE_P(
    SpecF, TableFClientTest,
    ::testing::Values(ClientRow{Transport::kAbridged, 40, 0, false, "0a"},
                      ClientRow{Transport::kAbridged, 40, 0, true, "8a"},
                      ClientRow{Transport::kAbridged, 600, 0, false, "7f960000"},
                      ClientRow{Transport::kAbridged, 600, 0, true, "ff960000"},
                      ClientRow{Transport::kIntermediate, 40, 0, false, "28000000"},
                      ClientRow{Transport::kIntermediate, 40, 0, true, "28000080"},
                      ClientRow{Transport::kPadded, 40, 2, false, "2a000000"},
                      ClientRow{Transport::kPadded, 40, 3, true, "2b000080"},
                      ClientRow{Transport::kAbridged, 4 * 0x7e, 0, false, "7e"},
                      ClientRow{Transport::kAbridged, 4 * 0x7f, 0, false, "7f7f0000"}));

// ---- Table F: proxy -> client rows ----

TEST(TableFServerTest, AnswerPrefixes) {
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 32, 0), "08");
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 1024, 0), "7f000100");
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 4 * 0x7e, 0), "7e");
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 4 * 0x7f, 0), "7f7f0000");
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 4 * 0xffffff, 0), "7fffffff");
  EXPECT_EQ(ServerHeaderHex(Transport::kIntermediate, 32, 0), "20000000");
  for (uint32_t r = 0; r < 4; ++r) {
    EXPECT_EQ(ServerHeaderHex(Transport::kPadded, 32, r),
              HexEncode(std::vector<uint8_t>{static_cast<uint8_t>(32 + r), 0, 0, 0}));
  }
  // Error codes (4-byte payloads) are ordinary frames.
  EXPECT_EQ(ServerHeaderHex(Transport::kAbridged, 4, 0), "01");
}

TEST(TableFServerTest, PaddingChoices) {
  bool seen[4] = {};
  for (int i = 0; i < 400; ++i) {
    uint32_t r = ServerPaddingBytes(Transport::kPadded);
    ASSERT_LT(r, 4u);
    seen[r] = true;
    EXPECT_EQ(ServerPaddingBytes(Transport::kIntermediate), 0u);
    EXPECT_EQ(ServerPaddingBytes(Transport::kAbridged), 0u);
    EXPECT_LT(ClientPaddingBytes(Transport::kPadded), 16u);
    EXPECT_EQ(ClientPaddingBytes(Transport::kAbridged), 0u);
  }
  EXPECT_TRUE(seen[0] && seen[1] && seen[2] && seen[3]);
}

TEST(TableFServerTest, QuickAcks) {
  QuickAckRandom bare;
  bare.bare = true;
  EXPECT_EQ(QuickAckHex(Transport::kAbridged, 0x81234567, bare), "81234567");
  EXPECT_EQ(QuickAckHex(Transport::kIntermediate, 0x81234567, bare), "67452381");
  EXPECT_EQ(QuickAckHex(Transport::kPadded, 0x81234567, bare), "67452381");
  // Abridged/intermediate ignore the random branch.
  QuickAckRandom framed;
  framed.bare = false;
  EXPECT_EQ(QuickAckHex(Transport::kAbridged, 0x81234567, framed), "81234567");
  EXPECT_EQ(QuickAckHex(Transport::kIntermediate, 0x81234567, framed), "67452381");
}

TEST(TableFServerTest, PaddedQuickAckBranch2AsCapturedInA5) {
  // Captured: 0d000000 ffffffff 67452381 d218a05b a1 | 04000000 00000000.
  QuickAckRandom r;
  r.bare = false;
  r.extra_word_a = true;
  r.padding_a = 1;
  r.extra_word_b = false;
  r.padding_b = 0;
  r.filler = {0xd2, 0x18, 0xa0, 0x5b, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(QuickAckHex(Transport::kPadded, 0x81234567, r),
            "0d000000ffffffff67452381d218a05ba1"
            "0400000000000000");
}

TEST(TableFServerTest, PaddedQuickAckAllBranchesDecodeOnTheClient) {
  for (int mask = 0; mask < 64; ++mask) {
    QuickAckRandom r;
    r.bare = false;
    r.extra_word_a = mask & 1;
    r.extra_word_b = mask & 2;
    r.padding_a = static_cast<uint8_t>((mask >> 2) & 3);
    r.padding_b = static_cast<uint8_t>((mask >> 4) & 3);
    for (size_t i = 0; i < r.filler.size(); ++i) r.filler[i] = static_cast<uint8_t>(0xa0 + i);
    std::array<uint8_t, kMaxServerQuickAckBytes> buf{};
    size_t n = EncodeServerQuickAck(Transport::kPadded, 0x87654321, r, buf);
    size_t expected = 12 + (r.extra_word_a ? 4 : 0) + r.padding_a + 8 +
                      (r.extra_word_b ? 4 : 0) + r.padding_b;
    ASSERT_EQ(n, expected);

    ServerFrame a = DecodeServerFrame(Transport::kPadded, ByteSpan(buf.data(), n));
    ASSERT_EQ(a.kind, ServerFrameKind::kQuickAck) << mask;
    EXPECT_EQ(a.quick_ack_token, 0x87654321u);
    ServerFrame b = DecodeServerFrame(Transport::kPadded, ByteSpan(buf.data(), n).subspan(a.frame_bytes()));
    ASSERT_EQ(b.kind, ServerFrameKind::kNoOp) << mask;
    EXPECT_EQ(a.frame_bytes() + b.frame_bytes(), n);
  }
}

TEST(TableFServerTest, DrawnQuickAckRandomCoversBothBranches) {
  int bare = 0, framed = 0;
  for (int i = 0; i < 200; ++i) {
    QuickAckRandom r = DrawQuickAckRandom();
    EXPECT_LT(r.padding_a, 4);
    EXPECT_LT(r.padding_b, 4);
    (r.bare ? bare : framed)++;
  }
  EXPECT_GT(bare, 0);
  EXPECT_GT(framed, 0);
}

// ---- A.5: proxy answers = encoder + write stream ----

constexpr char kWireA1[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6df09b9f71a50c423";
constexpr char kWireA2[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6de08b8f6e6afc423";
constexpr char kWireA4[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e660a8520975711c4b";
constexpr char kAnswer[] = "414e535745522d444154412d3031323334353637383941424344454630313233";

Obfuscated2ServerResult Accept(const char* wire, bool with_secret) {
  ClientSecret secret = ParseClientSecretHex("0123456789abcdef0123456789abcdef").value();
  std::vector<uint8_t> bytes = H(wire);
  Obfuscated2Header header;
  std::copy(bytes.begin(), bytes.end(), header.begin());
  std::vector<ClientSecret> secrets;
  if (with_secret) secrets.push_back(secret);
  return AcceptObfuscated2(header, secrets);
}

// What the proxy writes for one answer, optionally preceded by a quick ack.
std::vector<uint8_t> ProxyOutput(Transport t, const std::vector<uint8_t>& answer,
                                 const uint32_t* ack_token) {
  std::vector<uint8_t> out;
  if (ack_token != nullptr) {
    std::array<uint8_t, kMaxServerQuickAckBytes> ack{};
    QuickAckRandom bare;
    size_t n = EncodeServerQuickAck(t, *ack_token, bare, ack);
    out.insert(out.end(), ack.begin(), ack.begin() + n);
  }
  std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
  size_t n = EncodeServerFrameHeader(t, static_cast<uint32_t>(answer.size()), 0, hdr);
  out.insert(out.end(), hdr.begin(), hdr.begin() + n);
  out.insert(out.end(), answer.begin(), answer.end());
  return out;
}

TEST(A5VectorTest, ProxyAnswerCiphertexts) {
  const uint32_t token = 0x81234567;
  std::vector<uint8_t> answer = H(kAnswer);
  struct Case {
    const char* wire;
    bool with_secret;
    bool quick_ack;
    const char* ciphertext;
  } cases[] = {
      {kWireA1, true, false,
       "fa1aa429eab44982217bf09360cb2c7b554763154d2b7befb8fe5f1783df3e61f52a940c"},
      {kWireA1, true, true,
       "bd5f87a88bfa1ad525678e8064cd40122422100b492f7febb4f22862f8a23a65865fe3794087dca3"},
      {kWireA2, true, true,
       "5b39e14ea3bb5486336c8ffa65de3917484660144a2a78eeb7ff271482d83f62832b970d43"},
      {kWireA4, false, false,
       "b5d5d4fda23130e923ac0474f2bbc7de47420934402b377b4a24d46f961a1703c1422870"},
  };
  for (const Case& c : cases) {
    Obfuscated2ServerResult r = Accept(c.wire, c.with_secret);
    ASSERT_TRUE(r.accepted());
    std::vector<uint8_t> out = ProxyOutput(r.transport, answer, c.quick_ack ? &token : nullptr);
    r.encrypt.Apply(out);
    EXPECT_EQ(HexEncode(out), c.ciphertext);
  }
}

TEST(A5VectorTest, FirstClientFrameDecodesAsUnencryptedReqPqMulti) {
  Obfuscated2ServerResult r = Accept(kWireA1, true);
  ASSERT_TRUE(r.accepted());
  std::vector<uint8_t> data = H(
      "ce5adf9aec4b880320dbef6323e4c14b2dd1c8fc8f9cf1d23e78fe228ca5a015"
      "cd7a25fc5d162ecce19ec1f0");
  r.decrypt.Apply(data);
  ClientFrame f = DecodeClientFrame(r.transport, data);
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  EXPECT_EQ(f.prefix_bytes, 4u);
  EXPECT_EQ(f.payload_bytes, 40u);
  EXPECT_FALSE(f.quick_ack);
  EXPECT_EQ(LoadLe32(data.data() + 4 + 20), 0xbe7e8ef1u);
}

TEST(A5VectorTest, PaddedAnswersAsObserved) {
  // Branch 1: 67452381 | 23000000 <32 bytes> 5fc2f6.
  std::array<uint8_t, kMaxServerQuickAckBytes> ack{};
  QuickAckRandom bare;
  size_t n = EncodeServerQuickAck(Transport::kPadded, 0x81234567, bare, ack);
  EXPECT_EQ(HexEncode(ByteSpan(ack.data(), n)), "67452381");
  EXPECT_EQ(ServerHeaderHex(Transport::kPadded, 32, 3), "23000000");
  EXPECT_EQ(ServerHeaderHex(Transport::kPadded, 32, 2), "22000000");
  // The client side reads the observed branch-2 stream back as ack, no-op, answer.
  std::vector<uint8_t> stream = Concat({H("0d000000ffffffff67452381d218a05ba1"),
                                        H("0400000000000000"), H("22000000"), H(kAnswer),
                                        H("4024")});
  ByteSpan rest(stream);
  ServerFrame a = DecodeServerFrame(Transport::kPadded, rest);
  ASSERT_EQ(a.kind, ServerFrameKind::kQuickAck);
  EXPECT_EQ(a.quick_ack_token, 0x81234567u);
  rest = rest.subspan(a.frame_bytes());
  ServerFrame b = DecodeServerFrame(Transport::kPadded, rest);
  ASSERT_EQ(b.kind, ServerFrameKind::kNoOp);
  rest = rest.subspan(b.frame_bytes());
  ServerFrame c = DecodeServerFrame(Transport::kPadded, rest);
  ASSERT_EQ(c.kind, ServerFrameKind::kFrame);
  EXPECT_EQ(c.payload_bytes, 32u);
  EXPECT_EQ(c.padding_bytes, 2u);
  EXPECT_EQ(c.frame_bytes(), rest.size());
}

// ---- §4.1 negatives and the minimum-buffering quirk ----

ClientFrame DecodeHex(Transport t, std::string_view hex) { return DecodeClientFrame(t, H(hex)); }

TEST(ClientDecodeTest, MinimumBufferingHoldsShortCompleteFrames) {
  // Abridged 4-byte frame (5 bytes) waits until 9 bytes are buffered.
  std::vector<uint8_t> buf = H("01aabbccdd");
  ClientFrame f = DecodeClientFrame(Transport::kAbridged, buf);
  EXPECT_EQ(f.status, FrameStatus::kNeedMore);
  EXPECT_EQ(f.wanted_bytes, 9u);
  buf.resize(8, 0);
  EXPECT_EQ(DecodeClientFrame(Transport::kAbridged, buf).status, FrameStatus::kNeedMore);
  buf.resize(9, 0);
  f = DecodeClientFrame(Transport::kAbridged, buf);
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  EXPECT_EQ(f.frame_bytes(), 5u);

  // Intermediate 4-byte frame (8 bytes) waits for 12.
  buf = H("04000000aabbccdd");
  f = DecodeClientFrame(Transport::kIntermediate, buf);
  EXPECT_EQ(f.status, FrameStatus::kNeedMore);
  EXPECT_EQ(f.wanted_bytes, 12u);
  buf.resize(12, 0);
  EXPECT_EQ(DecodeClientFrame(Transport::kIntermediate, buf).status, FrameStatus::kFrame);

  // Errors are not reported either before the minimum is buffered.
  EXPECT_EQ(DecodeHex(Transport::kIntermediate, "ffffffff").status, FrameStatus::kNeedMore);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "").status, FrameStatus::kNeedMore);
}

TEST(ClientDecodeTest, AbridgedErrors) {
  const std::string tail = "0000000000000000";
  ClientFrame f = DecodeHex(Transport::kAbridged, "00" + tail);
  EXPECT_EQ(f.status, FrameStatus::kError);
  EXPECT_EQ(f.error, FrameError::kZeroLength);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "80" + tail).error, FrameError::kZeroLength);
  // Overlong: long form with < 0x7f words, incl. 0 words and with the quick-ack bit.
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "7f7e0000" + tail).error,
            FrameError::kOverlongAbridged);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "7f000000" + tail).error,
            FrameError::kOverlongAbridged);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "ff010000" + tail).error,
            FrameError::kOverlongAbridged);
  // Too long: 1044480 / 4 = 0x3fc00 words is fine, one more word is not.
  f = DecodeHex(Transport::kAbridged, "7f00fc03" + tail);
  EXPECT_EQ(f.status, FrameStatus::kNeedMore);
  EXPECT_EQ(f.payload_bytes, kMaxFramePayloadBytes);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "7f01fc03" + tail).error, FrameError::kTooLong);
  EXPECT_EQ(DecodeHex(Transport::kAbridged, "7fffffff" + tail).error, FrameError::kTooLong);
}

TEST(ClientDecodeTest, IntermediateAndPaddedErrors) {
  const std::string tail = "0000000000000000";
  for (Transport t : {Transport::kIntermediate, Transport::kPadded}) {
    EXPECT_EQ(DecodeHex(t, "00000000" + tail).error, FrameError::kZeroLength);
    EXPECT_EQ(DecodeHex(t, "00000080" + tail).error, FrameError::kZeroLength);
    EXPECT_EQ(DecodeHex(t, "04000040" + tail).error, FrameError::kBit30Set);
    EXPECT_EQ(DecodeHex(t, "040000c0" + tail).error, FrameError::kBit30Set);
    EXPECT_EQ(DecodeHex(t, "04f00f00" + tail).error, FrameError::kTooLong);
    ClientFrame max = DecodeHex(t, "00f00f00" + tail);  // exactly 1044480
    EXPECT_EQ(max.status, FrameStatus::kNeedMore);
    EXPECT_EQ(max.wanted_bytes, 4u + kMaxFramePayloadBytes);
  }
  EXPECT_EQ(DecodeHex(Transport::kIntermediate, "29000000" + tail).error,
            FrameError::kNotMultipleOf4);
  EXPECT_EQ(DecodeHex(Transport::kIntermediate, "2a000080" + tail).error,
            FrameError::kNotMultipleOf4);
  // Padded: 1044481 is too long (the limit applies to the length including padding).
  EXPECT_EQ(DecodeHex(Transport::kPadded, "01f00f00" + tail).error, FrameError::kTooLong);
  // Padded: any remainder is fine; length 1..3 leaves an empty payload.
  ClientFrame f = DecodeHex(Transport::kPadded, "03000000aabbcc" + std::string("0000000000"));
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  EXPECT_EQ(f.payload_bytes, 0u);
  EXPECT_EQ(f.padding_bytes, 3u);
  // Padded keeps extra whole words of client padding in the payload (quirk §4.1).
  f = DecodeHex(Transport::kPadded, "0d000000" + std::string(26, 'a'));
  ASSERT_EQ(f.status, FrameStatus::kFrame);
  EXPECT_EQ(f.payload_bytes, 12u);
  EXPECT_EQ(f.padding_bytes, 1u);
}

// ---- server frame decoder (client side) ----

TEST(ServerDecodeTest, BareQuickAcksAndFrames) {
  ServerFrame f = DecodeServerFrame(Transport::kAbridged, H("81234567"));
  ASSERT_EQ(f.kind, ServerFrameKind::kQuickAck);
  EXPECT_EQ(f.quick_ack_token, 0x81234567u);
  EXPECT_EQ(f.frame_bytes(), 4u);
  EXPECT_EQ(DecodeServerFrame(Transport::kAbridged, H("8123")).kind, ServerFrameKind::kNeedMore);
  for (Transport t : {Transport::kIntermediate, Transport::kPadded}) {
    f = DecodeServerFrame(t, H("67452381"));
    ASSERT_EQ(f.kind, ServerFrameKind::kQuickAck);
    EXPECT_EQ(f.quick_ack_token, 0x81234567u);
    EXPECT_EQ(f.frame_bytes(), 4u);
  }
  f = DecodeServerFrame(Transport::kAbridged, Concat({H("08"), H(kAnswer)}));
  ASSERT_EQ(f.kind, ServerFrameKind::kFrame);
  EXPECT_EQ(f.prefix_bytes, 1u);
  EXPECT_EQ(f.payload_bytes, 32u);
  // 4-byte error code frame (e.g. -404).
  f = DecodeServerFrame(Transport::kIntermediate, H("040000006cfeffff"));
  ASSERT_EQ(f.kind, ServerFrameKind::kFrame);
  EXPECT_EQ(f.payload_bytes, 4u);
}

TEST(ServerDecodeTest, Errors) {
  EXPECT_EQ(DecodeServerFrame(Transport::kAbridged, H("00")).kind, ServerFrameKind::kError);
  EXPECT_EQ(DecodeServerFrame(Transport::kAbridged, H("7f000000")).kind, ServerFrameKind::kError);
  EXPECT_EQ(DecodeServerFrame(Transport::kIntermediate, H("00000000")).kind,
            ServerFrameKind::kError);
  EXPECT_EQ(DecodeServerFrame(Transport::kIntermediate, H("05000000")).kind,
            ServerFrameKind::kError);
  EXPECT_EQ(DecodeServerFrame(Transport::kIntermediate, H("00000040")).kind,
            ServerFrameKind::kError);
  EXPECT_EQ(DecodeServerFrame(Transport::kPadded, H("00000000")).kind, ServerFrameKind::kError);
}

TEST(ServerDecodeTest, PaddedSmallFramesThatAreNotAcks) {
  // 12+ bytes starting with 0 is an ordinary (if odd) frame; < 8 bytes with -1 too.
  ServerFrame f = DecodeServerFrame(Transport::kPadded, H("0c000000" "00000000" "1111111122222222"));
  EXPECT_EQ(f.kind, ServerFrameKind::kFrame);
  f = DecodeServerFrame(Transport::kPadded, H("04000000ffffffff"));
  EXPECT_EQ(f.kind, ServerFrameKind::kFrame);
  f = DecodeServerFrame(Transport::kPadded, H("10000000ffffffff67452381aaaaaaaabbbbbbbb"));
  EXPECT_EQ(f.kind, ServerFrameKind::kFrame);
}

// ---- round trips and chunking ----

struct Sent {
  uint32_t payload;
  uint32_t pad;
  bool quick_ack;
  uint8_t seed;
};

std::vector<uint8_t> EncodeClientStream(Transport t, const std::vector<Sent>& frames) {
  std::vector<uint8_t> out;
  for (const Sent& s : frames) {
    std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
    size_t n = EncodeClientFrameHeader(t, s.payload, s.pad, s.quick_ack, hdr);
    out.insert(out.end(), hdr.begin(), hdr.begin() + n);
    std::vector<uint8_t> p = Payload(s.payload + s.pad, s.seed);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

TEST(FramingRoundTripTest, ClientFramesSplitAtArbitraryChunkBoundaries) {
  std::mt19937 rng(12345);
  for (Transport t : {Transport::kAbridged, Transport::kIntermediate, Transport::kPadded}) {
    std::vector<Sent> frames;
    for (uint32_t words : {1u, 2u, 3u, 7u, 10u, 0x7eu, 0x7fu, 0x80u, 300u, 5000u}) {
      uint32_t pad = t == Transport::kPadded ? static_cast<uint32_t>(rng() % 4) : 0;
      frames.push_back({words * 4, pad, (rng() & 1) != 0, static_cast<uint8_t>(rng())});
    }
    std::vector<uint8_t> stream = EncodeClientStream(t, frames);
    // Pad the tail so the last small frame clears the minimum-buffering rule.
    const size_t stream_bytes = stream.size();
    stream.resize(stream_bytes + 12, 0);

    for (int trial = 0; trial < 20; ++trial) {
      std::vector<uint8_t> buffer;
      size_t fed = 0;
      size_t next = 0;
      while (next < frames.size()) {
        ClientFrame f = DecodeClientFrame(t, buffer);
        ASSERT_NE(f.status, FrameStatus::kError);
        if (f.status == FrameStatus::kNeedMore) {
          ASSERT_LT(fed, stream.size());
          size_t chunk = 1 + rng() % (trial < 10 ? 7 : 3000);
          chunk = std::min(chunk, stream.size() - fed);
          buffer.insert(buffer.end(), stream.begin() + fed, stream.begin() + fed + chunk);
          fed += chunk;
          continue;
        }
        const Sent& s = frames[next];
        EXPECT_EQ(f.payload_bytes, s.payload);
        EXPECT_EQ(f.padding_bytes, s.pad);
        EXPECT_EQ(f.quick_ack, s.quick_ack);
        std::vector<uint8_t> want = Payload(s.payload, s.seed);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), buffer.begin() + f.prefix_bytes));
        buffer.erase(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(f.frame_bytes()));
        ++next;
      }
      EXPECT_LE(fed - buffer.size(), stream_bytes);
    }
  }
}

TEST(FramingRoundTripTest, ServerFramesDecodeOnTheClient) {
  for (Transport t : {Transport::kAbridged, Transport::kIntermediate, Transport::kPadded}) {
    for (uint32_t words : {1u, 3u, 0x7eu, 0x7fu, 1000u, kMaxFramePayloadBytes / 4}) {
      for (uint32_t pad = 0; pad < (t == Transport::kPadded ? 4u : 1u); ++pad) {
        std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
        size_t n = EncodeServerFrameHeader(t, words * 4, pad, hdr);
        std::vector<uint8_t> frame(hdr.begin(), hdr.begin() + n);
        frame.resize(n + words * 4 + pad, 0x11);
        ServerFrame f = DecodeServerFrame(t, frame);
        ASSERT_EQ(f.kind, ServerFrameKind::kFrame) << TransportName(t) << " " << words;
        EXPECT_EQ(f.payload_bytes, words * 4);
        EXPECT_EQ(f.padding_bytes, pad);
        EXPECT_EQ(f.frame_bytes(), frame.size());
        frame.pop_back();
        EXPECT_EQ(DecodeServerFrame(t, frame).kind, ServerFrameKind::kNeedMore);
      }
    }
  }
}

}  // namespace
}  // namespace mtp
