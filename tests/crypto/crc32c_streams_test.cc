// CRC-32C over long inputs (the three-stream path) against a bit-at-a-time reference, at
// lengths and split points around the stream block boundaries.
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

}  // namespace
}  // namespace mtp
