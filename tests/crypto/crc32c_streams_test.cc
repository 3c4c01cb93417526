// CRC-32C over long inputs (the three-stream path and the VPCLMULQDQ folding path) against a
// bit-at-a-time reference, at lengths and split points around the stream and fold block
// boundaries, at every alignment.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "crypto/crc32.h"

namespace mtp {
namespace {

uint32_t BitwiseCrc32c(const std::vector<uint8_t>& data, size_t begin, size_t end) {
  uint32_t c = 0xffffffffu;
  for (size_t i = begin; i < end; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
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

// Both x86 paths: folding (when the CPU has it) and the crc32 instruction alone.
class Crc32cPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    SetCrc32cFoldDisabledForTesting(!GetParam());
    if (GetParam() && !Crc32cUsesFold()) GTEST_SKIP() << "no VPCLMULQDQ/AVX-512 on this CPU";
  }
  void TearDown() override { SetCrc32cFoldDisabledForTesting(false); }
};

TEST_P(Crc32cPathTest, EveryLengthAndAlignmentMatchesBitwiseReference) {
  EXPECT_EQ(Crc32cUsesFold(), GetParam());
  std::mt19937_64 rng(8);
  std::vector<uint8_t> data(4096 + 64);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  // Every length through five 256-byte folding rounds and the tails, at a rotating offset.
  for (size_t n = 0; n <= 1300; ++n) {
    const size_t offset = n % 64;
    ASSERT_EQ(Crc32c(ByteSpan(data.data() + offset, n)), BitwiseCrc32c(data, offset, offset + n))
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
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, Crc32cPathTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Fold" : "Crc32Insn"; });

}  // namespace
}  // namespace mtp
