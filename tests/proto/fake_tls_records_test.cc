// Fake-TLS record layer: streaming unwrap under arbitrary chunking, the close conditions,
// and both proxy->client record-size policies (with and without AES-CTR on the way).
#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

#include "core/hex.h"
#include "crypto/aes.h"
#include "proto/fake_tls_records.h"

namespace mtp {
namespace {

// A client->proxy stream: CCS + first record of `first` bytes, then records of `sizes`.
// `payload` receives the concatenated payloads.
std::vector<uint8_t> MakeStream(size_t first, const std::vector<size_t>& sizes,
                                std::vector<uint8_t>* payload) {
  std::vector<uint8_t> s = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03,
                            static_cast<uint8_t>(first >> 8), static_cast<uint8_t>(first)};
  uint8_t next = 0;
  auto body = [&](size_t n) {
    for (size_t i = 0; i < n; ++i) {
      s.push_back(next);
      payload->push_back(next);
      next = static_cast<uint8_t>(next * 7 + 13);
    }
  };
  body(first);
  for (size_t n : sizes) {
    s.insert(s.end(), {0x17, 0x03, 0x03, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    body(n);
  }
  return s;
}

TEST(TlsRecordReaderTest, ArbitraryChunkingYieldsThePayload) {
  std::vector<uint8_t> expected;
  std::vector<uint8_t> stream =
      MakeStream(110, {0, 1, 2, 5, 1425, 0, 16401, 3, 65535, 7}, &expected);
  std::mt19937 rng(12345);
  for (int round = 0; round < 40; ++round) {
    TlsRecordReader reader;
    std::vector<uint8_t> got;
    size_t pos = 0;
    const size_t max_chunk = round < 10 ? static_cast<size_t>(round + 1) : 3000;
    while (pos < stream.size()) {
      const size_t chunk = std::min(stream.size() - pos, 1 + rng() % max_chunk);
      ByteSpan input = ByteSpan(stream).subspan(pos, chunk);
      while (!input.empty()) {
        TlsRecordReader::Step step = reader.Next(input);
        ASSERT_EQ(step.error, TlsReadError::kNone);
        ASSERT_GT(step.consumed, 0u);
        ASSERT_LE(step.payload_offset + step.payload_size, step.consumed);
        ByteSpan piece = input.subspan(step.payload_offset, step.payload_size);
        got.insert(got.end(), piece.begin(), piece.end());
        input = input.subspan(step.consumed);
      }
      pos += chunk;
    }
    EXPECT_EQ(got, expected) << "round " << round;
    EXPECT_EQ(reader.payload_bytes(), expected.size());
    EXPECT_EQ(reader.record_left(), 0u);
  }
}

TEST(TlsRecordReaderTest, UnwrapInPlaceAcrossChunks) {
  std::vector<uint8_t> expected;
  std::vector<uint8_t> stream = MakeStream(64, {100, 0, 300, 1}, &expected);
  for (size_t chunk : {1u, 4u, 5u, 6u, 11u, 12u, 64u, 75u, 1000u}) {
    TlsRecordReader reader;
    std::vector<uint8_t> got;
    for (size_t pos = 0; pos < stream.size(); pos += chunk) {
      std::vector<uint8_t> buf(stream.begin() + pos,
                               stream.begin() + std::min(stream.size(), pos + chunk));
      TlsReadError error;
      const size_t n = reader.UnwrapInPlace(MutableByteSpan(buf), &error);
      ASSERT_EQ(error, TlsReadError::kNone);
      got.insert(got.end(), buf.begin(), buf.begin() + n);
    }
    EXPECT_EQ(got, expected) << chunk;
  }
}

TEST(TlsRecordReaderTest, FirstPrefixMustBeExact) {
  std::vector<uint8_t> dummy;
  const std::vector<uint8_t> good = MakeStream(64, {}, &dummy);
  for (size_t i = 0; i < 9; ++i) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0x01;
    TlsRecordReader reader;
    TlsReadError error;
    EXPECT_EQ(reader.UnwrapInPlace(MutableByteSpan(bad), &error), 0u);
    EXPECT_EQ(error, TlsReadError::kBadFirstPrefix) << i;
  }
  // Without the CCS (a 17 03 03 record right away) the proxy side closes too.
  std::vector<uint8_t> no_ccs = {0x17, 0x03, 0x03, 0x00, 0x40};
  no_ccs.resize(5 + 64 + 6);
  TlsRecordReader reader;
  TlsReadError error;
  reader.UnwrapInPlace(MutableByteSpan(no_ccs), &error);
  EXPECT_EQ(error, TlsReadError::kBadFirstPrefix);
}

TEST(TlsRecordReaderTest, FirstRecordMustHoldTheHeader) {
  std::vector<uint8_t> dummy;
  for (size_t l1 : {0u, 1u, 63u}) {
    std::vector<uint8_t> s = MakeStream(l1, {}, &dummy);
    TlsRecordReader reader;
    // The decision needs only the 11-byte prefix.
    TlsRecordReader::Step step = reader.Next(ByteSpan(s).first(11));
    EXPECT_EQ(step.error, TlsReadError::kFirstRecordTooShort) << l1;
  }
  std::vector<uint8_t> s = MakeStream(64, {}, &dummy);
  TlsRecordReader reader;
  TlsReadError error;
  EXPECT_EQ(reader.UnwrapInPlace(MutableByteSpan(s), &error), 64u);
  EXPECT_EQ(error, TlsReadError::kNone);
}

TEST(TlsRecordReaderTest, BadLaterHeaderIsStickyError) {
  std::vector<uint8_t> payload;
  std::vector<uint8_t> s = MakeStream(70, {10, 10}, &payload);
  const size_t second = 11 + 70 + 5 + 10;
  for (size_t i = 0; i < 3; ++i) {
    std::vector<uint8_t> bad = s;
    bad[second + i] ^= 0x02;  // 15/17 03 03, 17 01 03, 17 03 01...
    TlsRecordReader reader;
    TlsReadError error;
    EXPECT_EQ(reader.UnwrapInPlace(MutableByteSpan(bad), &error), 80u);
    EXPECT_EQ(error, TlsReadError::kBadRecordHeader);
    EXPECT_EQ(reader.error(), TlsReadError::kBadRecordHeader);
    EXPECT_EQ(reader.Next(ByteSpan(s)).error, TlsReadError::kBadRecordHeader);
  }
  // The length bytes are free: any value is accepted.
  std::vector<uint8_t> handshake_type = s;
  handshake_type[second] = 0x16;
  TlsRecordReader reader;
  TlsReadError error;
  reader.UnwrapInPlace(MutableByteSpan(handshake_type), &error);
  EXPECT_EQ(error, TlsReadError::kBadRecordHeader);
}

TEST(TlsRecordReaderTest, EmptyInputIsANoOp) {
  TlsRecordReader reader;
  TlsRecordReader::Step step = reader.Next(ByteSpan());
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_EQ(step.payload_size, 0u);
  EXPECT_EQ(step.error, TlsReadError::kNone);
  TlsReadError error;
  EXPECT_EQ(reader.UnwrapInPlace(MutableByteSpan(), &error), 0u);
  EXPECT_EQ(error, TlsReadError::kNone);
}

TEST(TlsRecordReaderTest, ErrorNamesAreDistinct) {
  EXPECT_STRNE(TlsReadErrorName(TlsReadError::kBadFirstPrefix),
               TlsReadErrorName(TlsReadError::kBadRecordHeader));
  EXPECT_STRNE(TlsReadErrorName(TlsReadError::kFirstRecordTooShort),
               TlsReadErrorName(TlsReadError::kNone));
}

std::vector<size_t> RecordSizes(ByteSpan wire) {
  std::vector<size_t> sizes;
  size_t pos = 0;
  while (pos < wire.size()) {
    EXPECT_EQ(HexEncode(wire.subspan(pos, 3)), "170303");
    const size_t n = LoadBe16(wire.data() + pos + 3);
    sizes.push_back(n);
    pos += 5 + n;
  }
  EXPECT_EQ(pos, wire.size());
  return sizes;
}

std::vector<size_t> WrapSizes(TlsRecordSizer& sizer, size_t n, int64_t now_ms) {
  std::vector<uint8_t> payload(n, 0x5a);
  std::vector<uint8_t> out(MaxWrappedSize(n));
  sizer.BeginFlush(now_ms);
  const size_t written = WrapTlsRecords(sizer, payload, out);
  return RecordSizes(ByteSpan(out).first(written));
}

using Sizes = std::vector<size_t>;

TEST(TlsRecordWriterTest, ReferencePolicyCutsAt1425PerFlush) {
  TlsRecordSizer sizer(TlsRecordSizing::kReference);
  EXPECT_EQ(WrapSizes(sizer, 5000, 0), (Sizes{1425, 1425, 1425, 725}));
  EXPECT_EQ(WrapSizes(sizer, 100, 1), (Sizes{100}));  // restarts at each flush
  EXPECT_EQ(WrapSizes(sizer, 1425, 2), (Sizes{1425}));
  EXPECT_EQ(WrapSizes(sizer, 1426, 3), (Sizes{1425, 1}));
  EXPECT_EQ(WrapSizes(sizer, 0, 4), (Sizes{}));
}

TEST(TlsRecordWriterTest, AdaptivePolicyGrowsPerBurstAndResetsWhenIdle) {
  TlsRecordSizer sizer(TlsRecordSizing::kAdaptive);
  EXPECT_EQ(WrapSizes(sizer, 60000, 0),
            (Sizes{1400, 2800, 5600, 11200, 16401, 16401, 6198}));
  // Same burst (< 1 s later): stays at full size.
  EXPECT_EQ(WrapSizes(sizer, 20000, 999), (Sizes{16401, 3599}));
  // After >= 1 s of silence the burst starts small again.
  EXPECT_EQ(WrapSizes(sizer, 5000, 1999), (Sizes{1400, 2800, 800}));
  // Every record advances the schedule, short ones too (like Go's crypto/tls).
  EXPECT_EQ(WrapSizes(sizer, 50, 2100), (Sizes{50}));          // the 11200 step
  EXPECT_EQ(WrapSizes(sizer, 20000, 2200), (Sizes{16401, 3599}));
}

TEST(TlsRecordWriterTest, WrappedSizeBound) {
  for (TlsRecordSizing sizing : {TlsRecordSizing::kReference, TlsRecordSizing::kAdaptive}) {
    for (size_t n : {1u, 1399u, 1400u, 1401u, 4096u, 70000u}) {
      TlsRecordSizer sizer(sizing);
      std::vector<uint8_t> payload(n);
      std::vector<uint8_t> out(MaxWrappedSize(n));
      sizer.BeginFlush(0);
      const size_t written = WrapTlsRecords(sizer, payload, out);
      EXPECT_LE(written, MaxWrappedSize(n));
      EXPECT_EQ(written, n + 5 * RecordSizes(ByteSpan(out).first(written)).size());
    }
  }
}

TEST(TlsRecordWriterTest, EncryptWhileWrappingRoundTrips) {
  const uint8_t key[32] = {9, 8, 7};
  const uint8_t iv[16] = {1, 2, 3};
  AesCtr enc = AesCtr::Create(AesKey(key), AesIv(iv)).value();
  AesCtr dec = AesCtr::Create(AesKey(key), AesIv(iv)).value();
  std::vector<uint8_t> plain(40000);
  std::iota(plain.begin(), plain.end(), 0);

  TlsRecordSizer sizer(TlsRecordSizing::kAdaptive);
  TlsRecordReader reader(TlsRecordReader::Start::kRecords);
  std::vector<uint8_t> got;
  // Three flushes; the reader sees them as one byte stream.
  size_t done = 0;
  for (size_t part : {1000u, 30000u, 9000u}) {
    std::vector<uint8_t> out(MaxWrappedSize(part));
    sizer.BeginFlush(static_cast<int64_t>(done));
    const size_t written =
        WrapTlsRecords(sizer, ByteSpan(plain).subspan(done, part), out, &enc);
    out.resize(written);
    TlsReadError error;
    const size_t n = reader.UnwrapInPlace(MutableByteSpan(out), &error);
    ASSERT_EQ(error, TlsReadError::kNone);
    ASSERT_EQ(n, part);
    dec.Apply(MutableByteSpan(out).first(n));
    got.insert(got.end(), out.begin(), out.begin() + n);
    done += part;
  }
  EXPECT_EQ(got, plain);
}

TEST(TlsRecordWriterTest, HeaderEncoding) {
  uint8_t h[5];
  WriteTlsRecordHeader(h, 0x1234);
  EXPECT_EQ(HexEncode(h), "1703031234");
}

}  // namespace
}  // namespace mtp
