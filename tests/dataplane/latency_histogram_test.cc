// LatencyHistogram: bucket edges (le is inclusive), the microsecond sum, odd inputs, shard sums,
// and a reader racing the single writer always seeing count == the +Inf bucket.
#include "dataplane/latency_histogram.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "dataplane/shard_counters.h"

namespace mtp {
namespace {

TEST(LatencyHistogramTest, BoundsAreInclusiveUpperEdges) {
  HandshakeHistogram h;
  h.Observe(0.001);   // exactly the first bound: first bucket
  h.Observe(0.0011);  // just above: second
  h.Observe(0.0);
  h.Observe(10.0);  // the last bound
  h.Observe(10.5);  // +Inf
  h.Observe(1e9);   // +Inf
  HandshakeHistogram::Values v = h.Get();
  EXPECT_EQ(v.buckets[0], 2u);
  EXPECT_EQ(v.buckets[1], 1u);
  EXPECT_EQ(v.buckets[kHandshakeBucketsS.size() - 1], 1u);
  EXPECT_EQ(v.buckets[kHandshakeBucketsS.size()], 2u);
  EXPECT_EQ(v.count(), 6u);
  EXPECT_EQ(v.sum_us, 1000u + 1100u + 0u + 10000000u + 10500000u + 1000000000000000u);
}

TEST(LatencyHistogramTest, NegativeAndNanCountAsZero) {
  LifetimeHistogram h;
  h.Observe(-3.0);  // a clock step must not corrupt the sum
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  LifetimeHistogram::Values v = h.Get();
  EXPECT_EQ(v.buckets[0], 2u);
  EXPECT_EQ(v.sum_us, 0u);
}

TEST(LatencyHistogramTest, ShardSumsAddEveryBucket) {
  ShardCounters a;
  ShardCounters b;
  a.handshake_seconds.Observe(0.002);
  b.handshake_seconds.Observe(0.002);
  b.handshake_seconds.Observe(3);
  a.connection_seconds.Observe(42);
  b.me_round_trip_seconds.Observe(0.03);
  const ShardCounters* shards[] = {&a, &b};
  CounterSnapshot sum = SumCounters(shards);
  EXPECT_EQ(sum.handshake_seconds.buckets[1], 2u);  // (0.001, 0.0025]
  EXPECT_EQ(sum.handshake_seconds.buckets[2], 0u);
  EXPECT_EQ(sum.handshake_seconds.buckets[11], 1u);  // (2.5, 10]
  EXPECT_EQ(sum.handshake_seconds.count(), 3u);
  EXPECT_EQ(sum.handshake_seconds.sum_us, 3004000u);
  EXPECT_EQ(sum.connection_seconds.buckets[4], 1u);     // (15, 60]
  EXPECT_EQ(sum.me_round_trip_seconds.buckets[5], 1u);  // (0.025, 0.05]
  EXPECT_EQ(sum.me_round_trip_seconds.count(), 1u);
}

TEST(LatencyHistogramTest, ReaderRacingTheWriterSeesConsistentMonotonicCounts) {
  MeRoundTripHistogram h;
  constexpr uint64_t kObservations = 200000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint64_t i = 0; i < kObservations; ++i) h.Observe(static_cast<double>(i % 7000) / 1000);
    done.store(true);
  });
  uint64_t last = 0;
  MeRoundTripHistogram::Values previous;
  while (!done.load()) {
    MeRoundTripHistogram::Values v = h.Get();
    ASSERT_GE(v.count(), last);
    for (size_t i = 0; i < v.buckets.size(); ++i) ASSERT_GE(v.buckets[i], previous.buckets[i]);
    last = v.count();
    previous = v;
  }
  writer.join();
  EXPECT_EQ(h.Get().count(), kObservations);
}

}  // namespace
}  // namespace mtp
