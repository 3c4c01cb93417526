// ClientHello reassembly across TLS records and TCP segments: the classic 517-byte hello and a
// ~1.8 KiB post-quantum hello cut at every record boundary and every segment boundary must
// re-frame to exactly the signed record (ValidateClientHello accepts it); oversize, non-
// handshake records, bad versions, trailing bytes, too many records and garbage are refused.
#include "proto/fake_tls_hello_reassembly.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/hex.h"
#include "proto/fake_tls.h"

namespace mtp {
namespace {

const ClientSecret kSecret = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
constexpr int64_t kNow = 1700000000;

std::vector<uint8_t> Classic() {
  return BuildClientHello(kSecret, "example.com", kNow, ClientHelloLayout::kLegacy517).value();
}
std::vector<uint8_t> Modern() {
  return BuildClientHello(kSecret, "example.com", kNow, ClientHelloLayout::kModern).value();
}

// Cuts the payload of the single record `hello` into records of the given sizes (the last one
// takes the rest). Later records carry version `03 <minor>`.
std::vector<uint8_t> Split(const std::vector<uint8_t>& hello, const std::vector<size_t>& sizes,
                           uint8_t minor = 0x01) {
  std::vector<uint8_t> raw;
  size_t at = kTlsRecordHeaderSize;
  size_t i = 0;
  while (at < hello.size()) {
    const size_t left = hello.size() - at;
    const size_t n = i < sizes.size() ? std::min(sizes[i], left) : left;
    const uint8_t header[5] = {kTlsHandshake, 0x03, i == 0 ? uint8_t{0x01} : minor,
                               static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    raw.insert(raw.end(), header, header + 5);
    raw.insert(raw.end(), hello.begin() + at, hello.begin() + at + n);
    at += n;
    ++i;
  }
  return raw;
}

struct Result {
  HelloReassembly r;
  std::vector<uint8_t> hello;
};

Result Reassemble(ByteSpan raw) {
  std::vector<uint8_t> out(kMaxClientHelloBytes, 0xee);
  Result res{ReassembleClientHello(raw, MutableByteSpan(out)), {}};
  if (res.r.complete()) {
    out.resize(res.r.hello_size);
    res.hello = out;
  }
  return res;
}

// The re-framed hello passes the unchanged acceptance algorithm (HMAC over the header too).
void ExpectAccepted(const std::vector<uint8_t>& hello) {
  const std::vector<ClientSecret> secrets = {kSecret};
  const std::vector<std::string> domains = {"example.com"};
  SimpleReplayCache cache;
  const ClientHelloResult v =
      ValidateClientHello(hello, ClientHelloConfig{secrets, domains}, 443, kNow, cache);
  EXPECT_EQ(v.status, ClientHelloStatus::kAccept) << ClientHelloStatusName(v.status);
}

void ExpectReassembles(const std::vector<uint8_t>& hello, const std::vector<uint8_t>& raw,
                       size_t records) {
  const Result res = Reassemble(raw);
  ASSERT_TRUE(res.r.complete()) << HelloReassemblyErrorName(res.r.error);
  EXPECT_EQ(res.r.consumed, raw.size());
  EXPECT_EQ(res.r.records, records);
  EXPECT_EQ(res.hello, hello);
}

void ExpectRejected(ByteSpan raw, HelloReassemblyError error) {
  const Result res = Reassemble(raw);
  ASSERT_TRUE(res.r.rejected()) << static_cast<int>(res.r.status);
  EXPECT_EQ(res.r.error, error) << HelloReassemblyErrorName(res.r.error);
}

TEST(HelloReassemblyTest, BuildersMakeTheExpectedSizes) {
  EXPECT_EQ(Classic().size(), 517u);
  const size_t modern = Modern().size();
  EXPECT_GE(modern, 1500u);
  EXPECT_LE(modern, 2000u);
}

TEST(HelloReassemblyTest, SingleRecordIsReturnedByteForByte) {
  for (const auto& hello : {Classic(), Modern()}) {
    ExpectReassembles(hello, hello, 1);
    EXPECT_FALSE(IsFragmentedClientHello(hello));
  }
}

TEST(HelloReassemblyTest, EveryTwoRecordSplitOfBothHellos) {
  for (const auto& hello : {Classic(), Modern()}) {
    const size_t payload = hello.size() - kTlsRecordHeaderSize;
    for (size_t k = 1; k < payload; ++k) {
      const std::vector<uint8_t> raw = Split(hello, {k});
      ASSERT_TRUE(IsFragmentedClientHello(raw)) << k;
      ExpectReassembles(hello, raw, 2);
      if (HasFatalFailure()) return;
    }
    ExpectAccepted(Reassemble(Split(hello, {payload / 2})).hello);
  }
}

TEST(HelloReassemblyTest, EqualRecordSizesFromOneByteUp) {
  for (const auto& hello : {Classic(), Modern()}) {
    const size_t payload = hello.size() - kTlsRecordHeaderSize;
    for (size_t size = 1; size < payload; size = size < 16 ? size + 1 : size * 2 + 1) {
      const std::vector<uint8_t> raw = Split(hello, std::vector<size_t>(payload, size));
      ExpectReassembles(hello, raw, (payload + size - 1) / size);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(HelloReassemblyTest, FirstSixtyFourBytesAsOneByteRecordsThenTheRest) {
  for (const auto& hello : {Classic(), Modern()}) {
    const std::vector<uint8_t> raw = Split(hello, std::vector<size_t>(64, 1));
    ExpectReassembles(hello, raw, 65);
    ExpectAccepted(Reassemble(raw).hello);
  }
}

TEST(HelloReassemblyTest, LaterRecordsMayCarryAnotherMinorVersion) {
  const std::vector<uint8_t> hello = Modern();
  ExpectReassembles(hello, Split(hello, {100, 100}, 0x03), 3);
}

TEST(HelloReassemblyTest, EveryTcpSegmentBoundaryWaitsThenCompletes) {
  const std::vector<uint8_t> classic = Classic();
  const std::vector<uint8_t> modern = Modern();
  const std::vector<std::vector<uint8_t>> cases = {
      Split(classic, std::vector<size_t>(64, 1)), Split(classic, {3, 200}),
      Split(modern, {1, 2, 3, 700}), Split(modern, std::vector<size_t>(64, 1))};
  for (const auto& raw : cases) {
    for (size_t i = 0; i < raw.size(); ++i) {
      const Result res = Reassemble(ByteSpan(raw).first(i));
      ASSERT_TRUE(res.r.need_more())
          << "prefix " << i << ": " << HelloReassemblyErrorName(res.r.error);
      EXPECT_GT(res.r.bytes_needed, i);
      EXPECT_LE(res.r.bytes_needed, raw.size());
    }
    EXPECT_TRUE(Reassemble(raw).r.complete());
  }
}

TEST(HelloReassemblyTest, RandomSplitsOfBothHellos) {
  std::mt19937 rng(12345);
  for (const auto& hello : {Classic(), Modern()}) {
    for (int round = 0; round < 300; ++round) {
      std::vector<size_t> sizes;
      const size_t max = 1 + rng() % 300;
      for (size_t left = hello.size() - 5; left > 0;) {
        const size_t n = std::min<size_t>(left, 1 + rng() % max);
        sizes.push_back(n);
        left -= n;
      }
      ExpectReassembles(hello, Split(hello, sizes), sizes.size());
      if (HasFatalFailure()) return;
    }
  }
}

TEST(HelloReassemblyTest, BytesAfterTheLastRecordAreNotConsumed) {
  const std::vector<uint8_t> hello = Classic();
  std::vector<uint8_t> raw = Split(hello, {10});
  const size_t records_size = raw.size();
  raw.insert(raw.end(), {0x14, 0x03, 0x03, 0x00, 0x01, 0x01});
  const Result res = Reassemble(raw);
  ASSERT_TRUE(res.r.complete());
  EXPECT_EQ(res.r.consumed, records_size);
  EXPECT_EQ(res.hello, hello);
}

TEST(HelloReassemblyTest, AllOneByteRecordsUpToTheRecordLimit) {
  const std::vector<uint8_t> classic = Classic();
  ExpectReassembles(classic, Split(classic, std::vector<size_t>(600, 1)), 512);
  const std::vector<uint8_t> modern = Modern();
  const size_t payload = modern.size() - 5;
  ASSERT_LE(payload, kMaxHelloRecords);
  ExpectReassembles(modern, Split(modern, std::vector<size_t>(payload, 1)), payload);
}

// A hand-made hello record: ClientHello header with the given message length, then zeros.
std::vector<uint8_t> FakeHello(size_t message_length) {
  std::vector<uint8_t> hello(5 + 4 + message_length, 0);
  hello[0] = kTlsHandshake;
  hello[1] = 0x03;
  hello[2] = 0x01;
  StoreBe16(hello.data() + 3, static_cast<uint16_t>(4 + message_length));
  hello[5] = 0x01;
  hello[6] = static_cast<uint8_t>(message_length >> 16);
  StoreBe16(hello.data() + 7, static_cast<uint16_t>(message_length));
  return hello;
}

TEST(HelloReassemblyTest, SizeBoundsAreTheSingleRecordBounds) {
  // 5 + 4 + 4087 = 4096 is the largest accepted; one more byte is refused as soon as the
  // handshake header is in, long before the hello could complete.
  const std::vector<uint8_t> largest = FakeHello(4087);
  ExpectReassembles(largest, Split(largest, {1, 1, 1, 1}), 5);
  const std::vector<uint8_t> too_big = FakeHello(4088);
  ExpectRejected(ByteSpan(Split(too_big, {1, 1, 1, 1})).first(5 * 4 + 4),
                 HelloReassemblyError::kTooBig);
  std::vector<uint8_t> huge_header = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff};
  ExpectRejected(huge_header, HelloReassemblyError::kTooBig);
  // Under 512 bytes of record (the single-record minimum) is refused too.
  const std::vector<uint8_t> smallest = FakeHello(508);
  ExpectReassembles(smallest, Split(smallest, {2}), 2);
  ExpectRejected(Split(FakeHello(507), {2}), HelloReassemblyError::kTooSmall);
}

TEST(HelloReassemblyTest, NonHandshakeRecordsAreRefused) {
  const std::vector<uint8_t> hello = Classic();
  for (uint8_t type : {uint8_t{0x14}, uint8_t{0x15}, uint8_t{0x17}, uint8_t{0x00}}) {
    std::vector<uint8_t> raw = Split(hello, {1, 1, 100});
    raw[6 * 2] = type;  // the third record's content type
    ExpectRejected(raw, HelloReassemblyError::kNotHandshake);
    ExpectRejected(ByteSpan(raw).first(6 * 2 + 1), HelloReassemblyError::kNotHandshake);
    raw[0] = type;
    ExpectRejected(ByteSpan(raw).first(1), HelloReassemblyError::kNotHandshake);
  }
}

TEST(HelloReassemblyTest, VersionRules) {
  const std::vector<uint8_t> hello = Classic();
  std::vector<uint8_t> raw = Split(hello, {2});
  raw[2] = 0x03;  // the signed record is always 03 01
  ExpectRejected(raw, HelloReassemblyError::kBadVersion);
  raw = Split(hello, {2});
  raw[7 + 1] = 0x02;  // second record 02 xx
  ExpectRejected(raw, HelloReassemblyError::kBadVersion);
  raw = Split(hello, {2}, 0x05);
  ExpectRejected(raw, HelloReassemblyError::kBadVersion);
}

TEST(HelloReassemblyTest, EmptyRecordsAndOtherMessagesAreRefused) {
  const std::vector<uint8_t> hello = Classic();
  const std::vector<uint8_t> empty = {0x16, 0x03, 0x01, 0x00, 0x00};
  ExpectRejected(empty, HelloReassemblyError::kEmptyRecord);
  std::vector<uint8_t> raw = Split(hello, {1, 1});
  raw[5] = 0x02;  // ServerHello
  ExpectRejected(ByteSpan(raw).first(6), HelloReassemblyError::kNotClientHello);
}

TEST(HelloReassemblyTest, BytesPastTheHelloInsideARecordAreRefused) {
  std::vector<uint8_t> hello = Classic();
  // The last record claims one byte more than the hello has left.
  std::vector<uint8_t> raw = Split(hello, {100});
  const size_t last = 5 + 100;
  StoreBe16(raw.data() + last + 3, static_cast<uint16_t>(LoadBe16(raw.data() + last + 3) + 1));
  raw.push_back(0);
  ExpectRejected(raw, HelloReassemblyError::kTrailingBytes);
  // The record that completes the handshake header is already too long: refused at once.
  raw = Split(hello, {2});
  StoreBe16(raw.data() + 7 + 3, 511);  // 510 hello bytes are left
  ExpectRejected(ByteSpan(raw).first(5 + 2 + 5 + 2), HelloReassemblyError::kTrailingBytes);
}

TEST(HelloReassemblyTest, TooManyRecordsAreRefused) {
  const std::vector<uint8_t> big = FakeHello(kMaxHelloRecords + 100);
  const std::vector<uint8_t> raw = Split(big, std::vector<size_t>(kMaxHelloRecords + 1, 1));
  ExpectRejected(raw, HelloReassemblyError::kTooManyRecords);
  ExpectReassembles(big, Split(big, std::vector<size_t>(kMaxHelloRecords - 1, 1)),
                    kMaxHelloRecords);
}

TEST(HelloReassemblyTest, FragmentationIsDecidedOnTheFirstNineBytes) {
  const std::vector<uint8_t> hello = Classic();
  EXPECT_FALSE(IsFragmentedClientHello(ByteSpan(hello).first(9)));
  EXPECT_TRUE(IsFragmentedClientHello(ByteSpan(Split(hello, {300})).first(9)));
  EXPECT_TRUE(IsFragmentedClientHello(ByteSpan(Split(hello, {1, 1, 1})).first(9)));
  EXPECT_FALSE(IsFragmentedClientHello(ByteSpan(Split(hello, {1, 1, 1})).first(8)));
  std::vector<uint8_t> not_tls = Split(hello, {1});
  not_tls[2] = 0x03;
  EXPECT_FALSE(IsFragmentedClientHello(not_tls));
  std::vector<uint8_t> other_message = Split(hello, {300});
  other_message[5] = 0x02;
  EXPECT_FALSE(IsFragmentedClientHello(other_message));
}

TEST(HelloReassemblyTest, GarbageNeverOverrunsAndIsMostlyRefused) {
  std::mt19937 rng(777);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> raw(rng() % 64);
    for (auto& b : raw) b = static_cast<uint8_t>(rng());
    if (!raw.empty() && (i & 1)) raw[0] = 0x16;
    const Result res = Reassemble(raw);
    EXPECT_FALSE(res.r.complete());
    refused += res.r.rejected();
  }
  EXPECT_GT(refused, 19000);
}

TEST(HelloReassemblyTest, FragmentClientHelloRoundTrips) {
  const std::vector<uint8_t> modern = Modern();
  const size_t payload = modern.size() - 5;
  struct Case {
    size_t byte_records, records, expected_records;
  };
  for (const Case c : {Case{0, 1, 1}, Case{0, 2, 2}, Case{0, 7, 7}, Case{64, 1, 65},
                       Case{64, 3, 67}, Case{0, payload, payload}, Case{0, payload + 9, payload},
                       Case{payload, 1, payload}, Case{3, 0, 4}}) {
    const std::vector<uint8_t> raw = FragmentClientHello(modern, c.byte_records, c.records);
    EXPECT_EQ(raw.size(), payload + 5 * c.expected_records);
    ExpectReassembles(modern, raw, c.expected_records);
  }
}

}  // namespace
}  // namespace mtp
