#include "dataplane/rate_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mtp {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;

TEST(TokenBucketTest, StartsFullAndRefusesWhenEmpty) {
  TokenBucket bucket(10, 10, 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(bucket.TryTake(0)) << i;
  EXPECT_FALSE(bucket.TryTake(0));
  EXPECT_EQ(bucket.Available(0), 0);
}

TEST(TokenBucketTest, RefillsAtRateUpToCapacity) {
  TokenBucket bucket(10, 10, 0, /*start_full=*/false);
  EXPECT_FALSE(bucket.TryTake(0));
  EXPECT_DOUBLE_EQ(bucket.Available(500 * kMs), 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.TryTake(500 * kMs));
  EXPECT_FALSE(bucket.TryTake(500 * kMs));
  // A long idle period refills to the capacity, not beyond.
  EXPECT_DOUBLE_EQ(bucket.Available(100 * kSecond), 10);
}

TEST(TokenBucketTest, FractionalRefillAccumulates) {
  TokenBucket bucket(1, 1, 0, false);
  EXPECT_FALSE(bucket.TryTake(400 * kMs));
  EXPECT_FALSE(bucket.TryTake(800 * kMs));
  EXPECT_TRUE(bucket.TryTake(1200 * kMs));
  EXPECT_FALSE(bucket.TryTake(1300 * kMs));
}

TEST(TokenBucketTest, TimeGoingBackwardsDoesNotRefill) {
  TokenBucket bucket(100, 100, 10 * kSecond);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(bucket.TryTake(10 * kSecond));
  EXPECT_FALSE(bucket.TryTake(5 * kSecond));
  EXPECT_FALSE(bucket.TryTake(10 * kSecond));
  EXPECT_TRUE(bucket.TryTake(10 * kSecond + 10 * kMs));
}

TEST(TokenBucketTest, MultiTokenTakeAndReconfigure) {
  TokenBucket bucket(10, 10, 0);
  EXPECT_TRUE(bucket.TryTake(0, 7));
  EXPECT_FALSE(bucket.TryTake(0, 4));
  EXPECT_TRUE(bucket.TryTake(0, 3));
  bucket.Reconfigure(100, 5, 0);
  EXPECT_DOUBLE_EQ(bucket.Available(kSecond), 5);
  EXPECT_EQ(bucket.rate_per_s(), 100);
  EXPECT_EQ(bucket.capacity(), 5);
}

// The reference's --max-accept-rate 2: bucket (2/s, capacity 2), starting full.
TEST(TokenBucketTest, ReferenceAcceptRateSequence) {
  struct Step {
    int64_t at_ms;
    bool accepted;
  };
  const Step steps[] = {{0, true},    {0, true},    {0, false},   {100, false},
                        {499, false}, {500, true},  {600, false}, {1000, true},
                        {5000, true}, {5000, true}, {5000, false}};
  TokenBucket bucket(2, 2, 0);
  for (const Step& s : steps) {
    EXPECT_EQ(bucket.TryTake(s.at_ms * kMs), s.accepted) << s.at_ms;
  }
}

// --- splitter -----------------------------------------------------------------------------------

double SystemTokens(const RateBudgetSplitter& splitter, std::span<ShardRateBudget> shards) {
  double total = splitter.pool();
  for (const ShardRateBudget& s : shards) total += static_cast<double>(s.tokens());
  return total;
}

uint64_t TotalSpent(std::span<ShardRateBudget> shards) {
  uint64_t total = 0;
  for (const ShardRateBudget& s : shards) total += s.spent();
  return total;
}

TEST(RateBudgetTest, NothingBeforeTheFirstTickThenTheFullBucket) {
  std::vector<ShardRateBudget> shards(2);
  RateBudgetSplitter splitter(100, 100, 0);
  EXPECT_FALSE(shards[0].TryConsume());
  splitter.Tick(0, shards);
  EXPECT_LE(SystemTokens(splitter, shards), 100);
  // Shard 0 asked once (demand 2 vs 1): it gets the larger share.
  EXPECT_EQ(shards[0].tokens(), 66);
  EXPECT_EQ(shards[1].tokens(), 33);
  EXPECT_DOUBLE_EQ(splitter.pool(), 1);
}

TEST(RateBudgetTest, ABurstOnOneShardMayUseTheWholeBucket) {
  // Capacity 5 over 3 shards: 1 + 1 + 1 held, 2 spare. Without a tick in between, one shard
  // still gets all 5 (its own, the spare, the others'), exactly as one bucket; then refusals.
  for (size_t busy = 0; busy < 3; ++busy) {
    std::vector<ShardRateBudget> shards(3);
    RateBudgetSplitter splitter(5, 5, 0);
    splitter.Tick(0, shards);
    EXPECT_DOUBLE_EQ(SystemTokens(splitter, shards), 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(shards[busy].TryConsume()) << busy << " " << i;
    EXPECT_FALSE(shards[busy].TryConsume());
    EXPECT_FALSE(shards[(busy + 1) % 3].TryConsume());
    EXPECT_EQ(TotalSpent(shards), 5u);
    EXPECT_DOUBLE_EQ(SystemTokens(splitter, shards), 0);
    EXPECT_EQ(shards[busy].refused(), 1u);
    // The next tick (0.2 s later) refills one token for the process, not per shard.
    splitter.Tick(200 * kMs, shards);
    EXPECT_TRUE(shards[(busy + 2) % 3].TryConsume());
    EXPECT_FALSE(shards[busy].TryConsume());
  }
}

TEST(RateBudgetTest, SingleShardMatchesOneBucket) {
  std::vector<ShardRateBudget> shards(1);
  RateBudgetSplitter splitter(100, 50, 0);
  // Demand far above the rate for 10 s, ticking every 10 ms.
  for (int64_t t = 0; t <= 10 * kSecond; t += 10 * kMs) {
    splitter.Tick(t, shards);
    while (shards[0].TryConsume()) {
    }
    ASSERT_LE(SystemTokens(splitter, shards), 50 + 1e-9);
  }
  // At most the burst plus rate x time; tick rounding can only cost a token per tick.
  EXPECT_LE(shards[0].spent(), 50u + 1000u);
  EXPECT_GE(shards[0].spent(), 1000u - 10u);
  EXPECT_GT(shards[0].refused(), 0u);
}

TEST(RateBudgetTest, BusyShardGetsTheIdleShardsShare) {
  std::vector<ShardRateBudget> shards(4);
  RateBudgetSplitter splitter(1000, 1000, 0);
  for (int64_t t = 0; t <= kSecond; t += 10 * kMs) {
    splitter.Tick(t, shards);
    while (shards[2].TryConsume()) {
    }
    ASSERT_LE(SystemTokens(splitter, shards), 1000 + 1e-9);
  }
  // Only shard 2 spends; it gets nearly the whole rate, not a quarter of it.
  EXPECT_GE(shards[2].spent(), 1500u);
  EXPECT_LE(TotalSpent(shards), 2000u);
  EXPECT_EQ(shards[0].spent() + shards[1].spent() + shards[3].spent(), 0u);
  // The idle shards keep only a small reserve.
  EXPECT_LT(shards[0].tokens(), 10);
}

TEST(RateBudgetTest, HoardIsReclaimedWhenDemandMoves) {
  std::vector<ShardRateBudget> shards(2);
  RateBudgetSplitter splitter(100, 100, 0);
  // Shard 0 is busy first and ends up holding most of the bucket.
  for (int i = 0; i < 50; ++i) shards[0].TryConsume();
  splitter.Tick(0, shards);
  EXPECT_GT(shards[0].tokens(), 90);
  // Then only shard 1 asks; after a few ticks the tokens have moved to it.
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 100; ++i) shards[1].TryConsume();
    splitter.Tick(0, shards);
    ASSERT_LE(SystemTokens(splitter, shards), 100 + 1e-9);
  }
  // Shard 1 could spend (nearly) the whole bucket that shard 0 was holding.
  EXPECT_GE(shards[1].spent(), 95u);
  EXPECT_LE(shards[0].tokens(), 1);
  EXPECT_LE(TotalSpent(shards), 100u);  // no time passed: never more than the burst
}

TEST(RateBudgetTest, ZeroRateMeansUnlimited) {
  std::vector<ShardRateBudget> shards(2);
  RateBudgetSplitter splitter(0, 0, 0);
  EXPECT_TRUE(splitter.unlimited());
  splitter.Tick(0, shards);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(shards[1].TryConsume());
  EXPECT_EQ(shards[1].spent(), 1000u);
  // Turning a limit on takes effect at the next tick.
  splitter.Reconfigure(10, 10);
  splitter.Tick(0, shards);
  int granted = 0;
  for (int i = 0; i < 100; ++i) granted += shards[1].TryConsume() ? 1 : 0;
  EXPECT_LE(granted, 10);
}

TEST(RateBudgetTest, ConcurrentShardsNeverExceedTheBucket) {
  std::vector<ShardRateBudget> shards(2);
  RateBudgetSplitter splitter(1000, 100, 0);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; ++k) {
    threads.emplace_back([&, k] {
      // Bounded: stops when told or after a fixed number of attempts.
      for (int i = 0; i < 5'000'000 && !stop.load(std::memory_order_relaxed); ++i) {
        shards[k].TryConsume();
      }
    });
  }
  // Virtual time: 200 ticks of 1 ms -> at most 100 + 1000 x 0.2 = 300 tokens can be spent.
  int64_t now = 0;
  for (int tick = 0; tick < 200; ++tick) {
    now += kMs;
    splitter.Tick(now, shards);
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_LE(TotalSpent(shards), 300u);
  EXPECT_LE(SystemTokens(splitter, shards), 100 + 1e-9);
}

}  // namespace
}  // namespace mtp
