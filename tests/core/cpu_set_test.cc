#include "core/cpu_set.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace mtp {
namespace {

TEST(CpuListTest, ParsesNumbersAndRanges) {
  auto cpus = ParseCpuList("0-3,6");
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  EXPECT_EQ(*cpus, (std::vector<int>{0, 1, 2, 3, 6}));
  EXPECT_EQ(*ParseCpuList("5"), (std::vector<int>{5}));
  EXPECT_EQ(*ParseCpuList(" 7 , 2-3 ,2"), (std::vector<int>{2, 3, 7}));  // sorted, deduped
  EXPECT_EQ(*ParseCpuList("4-4"), (std::vector<int>{4}));
  EXPECT_EQ(*ParseCpuList("1023"), (std::vector<int>{1023}));
}

TEST(CpuListTest, RejectsMalformed) {
  for (const char* bad : {"", " ", ",", "1,", ",1", "a", "1-", "-1", "3-1", "1-2-3", "1024",
                          "0-1024", "1 2", "0x1", "+1", "99999"}) {
    EXPECT_FALSE(ParseCpuList(bad).ok()) << "'" << bad << "'";
  }
}

TEST(CpuListTest, FormatsCompactly) {
  EXPECT_EQ(FormatCpuList({0, 1, 2, 3, 6}), "0-3,6");
  EXPECT_EQ(FormatCpuList({1, 3, 5}), "1,3,5");
  EXPECT_EQ(FormatCpuList({}), "");
  EXPECT_EQ(FormatCpuList(*ParseCpuList("8-11,0,2-3")), "0,2-3,8-11");
}

TEST(CpuListTest, PicksOneCpuPerShard) {
  std::vector<int> allowed = {0, 1, 2, 3};
  EXPECT_EQ(*PickShardCpus(2, allowed), (std::vector<int>{0, 1}));
  EXPECT_EQ(*PickShardCpus(6, allowed), (std::vector<int>{0, 1, 2, 3, 0, 1}));  // round-robin
  EXPECT_EQ(*PickShardCpus(3, allowed, {1, 3}), (std::vector<int>{1, 3, 1}));
  EXPECT_FALSE(PickShardCpus(1, allowed, {5}).ok());  // outside the affinity mask
  EXPECT_FALSE(PickShardCpus(0, allowed).ok());
  EXPECT_FALSE(PickShardCpus(1, {}).ok());
}

TEST(CpuListTest, AffinityAndPinning) {
  auto cpus = ProcessAffinityCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_FALSE(cpus->empty());
  int target = cpus->back();
  std::thread t([&] {
    ASSERT_TRUE(PinCurrentThread(target).ok());
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    EXPECT_EQ(CPU_COUNT(&set), 1);
    EXPECT_TRUE(CPU_ISSET(target, &set));
  });
  t.join();
  EXPECT_FALSE(PinCurrentThread(-1).ok());
}

}  // namespace
}  // namespace mtp
