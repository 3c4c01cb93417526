// SipHash-2-4 against the reference vectors of the SipHash authors (key 00..0f, message
// 00..len-1).
#include "crypto/siphash.h"

#include <gtest/gtest.h>

#include <vector>

namespace mtp {
namespace {

SipHashKey ReferenceKey() {
  SipHashKey key;
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  return key;
}

uint64_t HashOfLength(size_t len) {
  std::vector<uint8_t> msg(len);
  for (size_t i = 0; i < len; ++i) msg[i] = static_cast<uint8_t>(i);
  return SipHash24(ReferenceKey(), ByteSpan(msg));
}

TEST(SipHash24, ReferenceVectors) {
  EXPECT_EQ(HashOfLength(0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(HashOfLength(1), 0x74f839c593dc67fdull);
  EXPECT_EQ(HashOfLength(2), 0x0d6c8009d9a94f5aull);
  EXPECT_EQ(HashOfLength(7), 0xab0200f58b01d137ull);
  EXPECT_EQ(HashOfLength(8), 0x93f5f5799a932462ull);
  EXPECT_EQ(HashOfLength(15), 0xa129ca6149be45e5ull);  // the paper's worked example
}

TEST(SipHash24, KeyMatters) {
  SipHashKey other = ReferenceKey();
  other[15] ^= 1;
  const uint8_t msg[16] = {};
  EXPECT_NE(SipHash24(ReferenceKey(), ByteSpan(msg)), SipHash24(other, ByteSpan(msg)));
}

}  // namespace
}  // namespace mtp
