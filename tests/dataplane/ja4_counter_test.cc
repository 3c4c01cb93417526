// The bounded JA4 counter: per-fingerprint counts up to its capacity, the rest as "other", the
// top N by count (ties by name), and concurrent adders.
#include "dataplane/ja4_counter.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace mtp {
namespace {

TEST(Ja4CounterTest, CountsUpToCapacityThenOther) {
  Ja4Counter c(3);
  for (int i = 0; i < 5; ++i) c.Add("a");
  for (int i = 0; i < 2; ++i) c.Add("b");
  c.Add("c");
  c.Add("d");  // the table is full: "other"
  c.Add("e");
  c.Add("b");  // already tracked: still counted on its own
  EXPECT_EQ(c.total(), 11u);
  using Row = std::pair<std::string, uint64_t>;
  EXPECT_EQ(c.Top(10), (std::vector<Row>{{"a", 5}, {"b", 3}, {"c", 1}, {"other", 2}}));
  EXPECT_EQ(c.Top(1), (std::vector<Row>{{"a", 5}, {"other", 2}}));
}

TEST(Ja4CounterTest, TiesAreOrderedByName) {
  Ja4Counter c;
  c.Add("z");
  c.Add("m");
  c.Add("a");
  using Row = std::pair<std::string, uint64_t>;
  EXPECT_EQ(c.Top(2), (std::vector<Row>{{"a", 1}, {"m", 1}}));  // no "other": all tracked
}

TEST(Ja4CounterTest, ConcurrentAddersLoseNothing) {
  Ja4Counter c(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 10000; ++i) c.Add(std::to_string((t + i) % 10));
    });
  }
  for (auto& th : threads) th.join();
  uint64_t sum = 0;
  for (const auto& [name, n] : c.Top(100)) sum += n;
  EXPECT_EQ(sum, 40000u);
  EXPECT_EQ(c.total(), 40000u);
}

}  // namespace
}  // namespace mtp
