// The connection cap derived from memory when -c is not given, and the /proc and cgroup parsers.
#include "control/conn_limits.h"

#include <gtest/gtest.h>

namespace mtp {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(ConnLimitsTest, ParsesMemAvailableAndCgroupFiles) {
  EXPECT_EQ(ParseMemAvailable("MemTotal:  2048 kB\nMemFree: 10 kB\nMemAvailable:    1024 kB\n"),
            1024u * 1024);
  EXPECT_FALSE(ParseMemAvailable("MemTotal: 2048 kB\n").has_value());
  EXPECT_FALSE(ParseMemAvailable("MemAvailable: x kB\n").has_value());
  EXPECT_EQ(ParseCgroupBytes("536870912\n"), 536870912u);
  EXPECT_FALSE(ParseCgroupBytes("max\n").has_value());
}

TEST(ConnLimitsTest, PerConnectionCostIsStated) {
  EXPECT_EQ(kKernelBytesPerConnection, 72u * 1024);
  EXPECT_EQ(kBytesPerConnection, 120u * 1024);
}

TEST(ConnLimitsTest, CapFromMemAvailable) {
  MemoryFacts f;
  f.mem_available = 2048 * kMiB;
  // (2048 - 256) MiB, half of it, / 120 KiB.
  ConnectionCap cap = DeriveConnectionCap(f, 256 * kMiB, 65536);
  EXPECT_EQ(cap.budget_bytes, (1792 * kMiB) / 100 * 50);
  EXPECT_EQ(cap.max_connections, static_cast<int>(((1792 * kMiB) / 100 * 50) / (120 * 1024)));
  EXPECT_EQ(cap.max_connections, 7645);
  EXPECT_NE(cap.explanation.find("connection cap 7645"), std::string::npos) << cap.explanation;
  EXPECT_NE(cap.explanation.find("MemAvailable 2048 MiB"), std::string::npos);
  EXPECT_NE(cap.explanation.find("120 KiB per connection"), std::string::npos);
}

TEST(ConnLimitsTest, CgroupRoomWinsWhenSmaller) {
  MemoryFacts f;
  f.mem_available = 64 * 1024 * kMiB;
  f.cgroup_limit = 1024 * kMiB;
  f.cgroup_usage = 128 * kMiB;
  ConnectionCap cap = DeriveConnectionCap(f, 256 * kMiB, 65536);
  EXPECT_EQ(cap.max_connections, static_cast<int>(((640 * kMiB) / 100 * 50) / (120 * 1024)));
  EXPECT_NE(cap.explanation.find("cgroup memory.max 1024 MiB (128 MiB used)"), std::string::npos)
      << cap.explanation;
}

TEST(ConnLimitsTest, BoundsAndMissingFigures) {
  MemoryFacts big;
  big.mem_available = uint64_t{1} << 40;  // 1 TiB: the default ceiling still applies
  EXPECT_EQ(DeriveConnectionCap(big, 256 * kMiB, 65536).max_connections, 65536);
  MemoryFacts tiny;
  tiny.mem_available = 100 * kMiB;  // less than the buffer pool: the floor
  EXPECT_EQ(DeriveConnectionCap(tiny, 256 * kMiB, 65536).max_connections,
            kMinDerivedConnections);
  EXPECT_EQ(DeriveConnectionCap(tiny, 256 * kMiB, 100).max_connections, 100);
  MemoryFacts none;
  ConnectionCap cap = DeriveConnectionCap(none, 256 * kMiB, 65536);
  EXPECT_EQ(cap.max_connections, 65536);
  EXPECT_NE(cap.explanation.find("unreadable"), std::string::npos);
}

TEST(ConnLimitsTest, ReadsThisMachine) {
  MemoryFacts f = ReadMemoryFacts();
  ASSERT_TRUE(f.mem_available.has_value());  // Linux >= 3.14
  EXPECT_GT(*f.mem_available, 0u);
}

}  // namespace
}  // namespace mtp
