// Fixed-bucket latency histograms for /metrics: handshake latency, connection lifetime and the
// middle-end round trip. Each shard owns one of each inside its ShardCounters and is their only
// writer (relaxed load + store, no locked instruction on the hot path); the control thread reads
// them at any time and sums the shards.
//
// The bucket counts are not cumulative and there is no separate count: a reader computes the
// count as the sum of the buckets it read, so `_count` always equals the `+Inf` bucket even when
// a shard writes during the read. The sum is kept in whole microseconds.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mtp {

// Upper bounds in seconds (Prometheus `le`), ascending; an implicit +Inf bucket follows.
// Accept to handshake outcome: a loopback handshake takes well under a millisecond, a
// far-away client over a lossy link seconds; the handshake timeout is 10 s by default.
inline constexpr std::array<double, 12> kHandshakeBucketsS = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
// Accept to close: from a rejected probe to an app that stays connected for a day.
inline constexpr std::array<double, 12> kLifetimeBucketsS = {0.1, 1,    5,    15,   60,    300,
                                                             900, 1800, 3600, 7200, 21600, 86400};
// First RPC_PROXY_REQ of a client to the first answer for it from the middle-end.
inline constexpr std::array<double, 12> kMeRoundTripBucketsS = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

// Plain copy of one histogram (or a sum over shards).
template <size_t N>
struct HistogramValues {
  std::array<uint64_t, N + 1> buckets{};  // per bucket (not cumulative); [N] is +Inf
  uint64_t sum_us = 0;

  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t b : buckets) n += b;
    return n;
  }
  void Add(const HistogramValues& other) {
    for (size_t i = 0; i <= N; ++i) buckets[i] += other.buckets[i];
    sum_us += other.sum_us;
  }
};

template <const auto& kBounds>
class LatencyHistogram {
 public:
  static constexpr size_t kBucketCount = kBounds.size();
  using Values = HistogramValues<kBucketCount>;

  static constexpr const auto& bounds() { return kBounds; }

  // Owning shard only. Negative durations (a clock step) count as 0.
  void Observe(double seconds) {
    if (!(seconds > 0)) seconds = 0;  // also catches NaN
    size_t i = 0;
    while (i < kBucketCount && seconds > kBounds[i]) ++i;
    Bump(buckets_[i], 1);
    Bump(sum_us_, static_cast<uint64_t>(seconds * 1e6 + 0.5));
  }

  // Any thread.
  Values Get() const {
    Values v;
    for (size_t i = 0; i <= kBucketCount; ++i) {
      v.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    v.sum_us = sum_us_.load(std::memory_order_relaxed);
    return v;
  }

 private:
  static void Bump(std::atomic<uint64_t>& a, uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::array<std::atomic<uint64_t>, kBucketCount + 1> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
};

using HandshakeHistogram = LatencyHistogram<kHandshakeBucketsS>;
using LifetimeHistogram = LatencyHistogram<kLifetimeBucketsS>;
using MeRoundTripHistogram = LatencyHistogram<kMeRoundTripBucketsS>;

}  // namespace mtp
