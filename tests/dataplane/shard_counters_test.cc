#include "dataplane/shard_counters.h"

#include <gtest/gtest.h>

#include <thread>

#include "dataplane/me/reconnect_backoff.h"

namespace mtp {
namespace {

TEST(ShardCountersTest, BlocksAreCacheLineAlignedAndSum) {
  static_assert(alignof(ShardCounters) == 64);
  ShardCounters a, b;
  a.forwarded_queries.Add(3);
  b.forwarded_queries.Add(4);
  a.client_active.Add(2);
  a.client_active.Sub(1);
  b.me_links_ready.Set(5);
  const ShardCounters* shards[] = {&a, &b};
  CounterSnapshot sum = SumCounters(shards);
  EXPECT_EQ(sum.forwarded_queries, 7u);
  EXPECT_EQ(sum.client_active, 1u);
  EXPECT_EQ(sum.me_links_ready, 5u);
  EXPECT_EQ(sum.dropped_queries, 0u);
}

TEST(ShardCountersTest, ReaderThreadSeesWriterProgress) {
  ShardCounters c;
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i) c.client_bytes_in.Add(2);
  });
  writer.join();
  EXPECT_EQ(c.client_bytes_in.Get(), 200000u);
}

TEST(ReconnectBackoffTest, GrowsWhileDownAndResetsWhenUp) {
  ReconnectBackoff b(0.5);  // base 1.05 s
  EXPECT_TRUE(b.MayConnect(0.0, false));
  b.OnAttempt(0.0, 0.0);
  EXPECT_DOUBLE_EQ(b.next_attempt_s(), 1.05);
  EXPECT_FALSE(b.MayConnect(1.0, false));
  EXPECT_TRUE(b.MayConnect(1.0, true));  // a connected link never waits
  EXPECT_TRUE(b.MayConnect(1.05, false));
  EXPECT_DOUBLE_EQ(b.interval_s(), 1.575);
  double now = 1.05;
  for (int i = 0; i < 20; ++i) {
    b.OnAttempt(now, 1.0);
    now = b.next_attempt_s();
  }
  // Growth stops once the interval reaches 20 s (the last step may overshoot slightly).
  EXPECT_GE(b.interval_s(), ReconnectBackoff::kMaxIntervalS);
  EXPECT_LT(b.interval_s(), 1.5 * ReconnectBackoff::kMaxIntervalS + 0.2);
  double before = b.interval_s();
  b.OnAttempt(now, 1.0);
  EXPECT_EQ(b.interval_s(), before);
  double next = b.next_attempt_s();
  b.OnConnected();
  EXPECT_DOUBLE_EQ(b.interval_s(), 1.05);
  EXPECT_EQ(b.next_attempt_s(), next);  // a failed handshake does not make retries immediate
  EXPECT_FALSE(b.MayConnect(next - 0.01, false));
  b.OnAttempt(next, 0.0);
  EXPECT_DOUBLE_EQ(b.next_attempt_s(), next + 1.05);
}

}  // namespace
}  // namespace mtp
