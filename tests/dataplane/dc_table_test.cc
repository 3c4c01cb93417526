#include "dataplane/dc_table.h"

#include <gtest/gtest.h>

namespace mtp {
namespace {

TEST(DcTableTest, ProductionTableHasEveryDcInBothFamilies) {
  DcTable t = DcTable::Production();
  for (int dc : {1, 2, 3, 4, 5, 203}) {
    auto v4 = t.Lookup(dc, false);
    auto v6 = t.Lookup(dc, true);
    ASSERT_TRUE(v4.has_value()) << dc;
    ASSERT_TRUE(v6.has_value()) << dc;
    EXPECT_TRUE(v4->is_v4());
    EXPECT_TRUE(v6->is_v6());
    EXPECT_EQ(v4->port(), 443);
  }
  EXPECT_EQ(t.Lookup(1, false)->ToString(), "149.154.175.50:443");
  EXPECT_EQ(t.Lookup(-2, false)->ToString(), "149.154.167.151:443");  // media
  EXPECT_EQ(t.Lookup(-3, false)->ToString(), "149.154.175.100:443");  // no media entry: DC 3
  EXPECT_EQ(t.Lookup(10002, false)->ToString(), "149.154.167.51:443");  // unknown: DC 2
}

TEST(DcTableTest, OverridesRedirectTheDcItsMediaIdsAndTheFallback) {
  DcTable t = DcTable::Production();
  ASSERT_TRUE(t.AddOverride("2:127.0.0.1:5000").ok());
  ASSERT_TRUE(t.AddOverride("4:[::1]:5001").ok());
  EXPECT_EQ(t.Lookup(2, false)->ToString(), "127.0.0.1:5000");
  EXPECT_EQ(t.Lookup(2, true)->ToString(), "127.0.0.1:5000");  // replaces both families
  EXPECT_EQ(t.Lookup(-2, false)->ToString(), "127.0.0.1:5000");  // beats the built-in media
  EXPECT_EQ(t.Lookup(0, false)->ToString(), "127.0.0.1:5000");
  EXPECT_EQ(t.Lookup(-4, false)->ToString(), "[::1]:5001");
  ASSERT_TRUE(t.AddOverride("-4:127.0.0.1:6000").ok());
  EXPECT_EQ(t.Lookup(-4, false)->ToString(), "127.0.0.1:6000");
  EXPECT_EQ(t.Lookup(4, false)->ToString(), "[::1]:5001");
  ASSERT_TRUE(t.AddOverride("2:127.0.0.2:5002").ok());  // a second address for DC 2
  EXPECT_EQ(t.Lookup(2, false)->ToString(), "127.0.0.1:5000");
}

TEST(DcTableTest, RejectsMalformedOverrides) {
  DcTable t;
  EXPECT_FALSE(t.AddOverride("").ok());
  EXPECT_FALSE(t.AddOverride("x:1.2.3.4:443").ok());
  EXPECT_FALSE(t.AddOverride("2:1.2.3.4").ok());
  EXPECT_FALSE(t.AddOverride("2:::1:443").ok());  // IPv6 needs brackets
  EXPECT_FALSE(t.AddOverride("40000:1.2.3.4:443").ok());
  EXPECT_FALSE(t.Lookup(2, false).has_value());  // empty table
}

}  // namespace
}  // namespace mtp
