#include "core/hex.h"

#include <gtest/gtest.h>

namespace mtp {
namespace {

TEST(HexTest, RoundTrip) {
  std::vector<uint8_t> data = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(data), "0001abff");
  auto back = HexDecode("0001ABff");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, data);
}

TEST(HexTest, SkipsWhitespaceRejectsGarbage) {
  auto v = HexDecode("00 01\n02");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->size(), 3u);
  EXPECT_FALSE(HexDecode("0g").has_value());
  EXPECT_FALSE(HexDecode("abc").has_value());
}

}  // namespace
}  // namespace mtp
