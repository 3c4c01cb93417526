// CRC-32C over long inputs (the three-stream path and the VPCLMULQDQ folding path), and CRC-32
// (tables and folding), against a bit-at-a-time reference, at lengths and split points around the stream and fold block
// boundaries, at every alignment.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "crypto/crc32.h"

namespace mtp {
namespace {

uint32_t Bitwise(uint32_t reflected_poly, const std::vector<uint8_t>& data, size_t begin,
                 size_t end) {
  uint32_t c = 0xffffffffu;
  for (size_t i = begin; i < end; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ reflected_poly : c >> 1;
  }
  return ~c;
}

uint32_t BitwiseCrc32c(const std::vector<uint8_t>& data, size_t begin, size_t end) {
  return Bitwise(0x82F63B78u, data, begin, end);
}

uint32_t BitwiseCrc32(const std::vector<uint8_t>& data, size_t begin, size_t end) {
  return Bitwise(0xEDB88320u, data, begin, end);
}

TEST(Crc32cStreamsTest, LongInputsMatchBitwiseReference) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> data(20000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t n : {3071, 3072, 3073, 3080, 6143, 6144, 6151, 9216, 12345, 20000}) {
    const uint32_t want = BitwiseCrc32c(data, 0, n);
    EXPECT_EQ(Crc32c(ByteSpan(data.data(), n)), want) << n;
    // Incremental with an odd split: both halves may take the stream path.
    for (size_t split : {size_t{1}, size_t{5}, n / 2, n - 3}) {
      uint32_t first = Crc32c(ByteSpan(data.data(), split));
      EXPECT_EQ(Crc32c(ByteSpan(data.data() + split, n - split), first), want) << n << "/" << split;
    }
  }
}

// Both paths: folding (when the CPU has it), and the crc32 instruction (CRC-32C) or the tables.
class CrcPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    SetCrcFoldDisabledForTesting(!GetParam());
    if (GetParam() && !CrcUsesFold()) GTEST_SKIP() << "no VPCLMULQDQ/AVX-512 on this CPU";
  }
  void TearDown() override { SetCrcFoldDisabledForTesting(false); }
};

TEST_P(CrcPathTest, EveryLengthAndAlignmentMatchesBitwiseReference) {
  EXPECT_EQ(CrcUsesFold(), GetParam());
  std::mt19937_64 rng(8);
  std::vector<uint8_t> data(4096 + 64);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  // Every length through five 256-byte folding rounds and the tails, at a rotating offset.
  for (size_t n = 0; n <= 1300; ++n) {
    const size_t offset = n % 64;
    ASSERT_EQ(Crc32c(ByteSpan(data.data() + offset, n)), BitwiseCrc32c(data, offset, offset + n))
        << n;
    ASSERT_EQ(Crc32(ByteSpan(data.data() + offset, n)), BitwiseCrc32(data, offset, offset + n))
        << n;
  }
  // Random long lengths, offsets and a running CRC carried in from a first piece.
  for (int iter = 0; iter < 300; ++iter) {
    const size_t offset = rng() % 64;
    const size_t n = rng() % 4096;
    const size_t split = n == 0 ? 0 : rng() % n;
    const uint32_t first = Crc32c(ByteSpan(data.data() + offset, split));
    ASSERT_EQ(first, BitwiseCrc32c(data, offset, offset + split));
    ASSERT_EQ(Crc32c(ByteSpan(data.data() + offset + split, n - split), first),
              BitwiseCrc32c(data, offset, offset + n))
        << n << "/" << split << "@" << offset;
    const uint32_t first_ieee = Crc32(ByteSpan(data.data() + offset, split));
    ASSERT_EQ(Crc32(ByteSpan(data.data() + offset + split, n - split), first_ieee),
              BitwiseCrc32(data, offset, offset + n))
        << n << "/" << split << "@" << offset;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, CrcPathTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Fold" : "Crc32Insn"; });

}  // namespace
}  // namespace mtp
