// LatencyHistogram implementation.
#include "tools/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace mtp::tools {
namespace {

constexpr int kSubBits = 6;
constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 64
// Values below 2*kSub are exact; above, each power of two is split into kSub buckets.
constexpr size_t kLinear = 2 * kSub;
constexpr size_t kBuckets = kLinear + (64 - kSubBits - 1) * kSub;

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kLinear) return static_cast<size_t>(value);
  int msb = 63 - __builtin_clzll(value);  // >= kSubBits + 1
  int shift = msb - kSubBits;             // >= 1
  uint64_t top = value >> shift;          // in [kSub, 2*kSub)
  return kLinear + static_cast<size_t>(shift - 1) * kSub + static_cast<size_t>(top - kSub);
}

uint64_t LatencyHistogram::BucketLow(size_t bucket) {
  if (bucket < kLinear) return bucket;
  size_t rel = bucket - kLinear;
  int shift = static_cast<int>(rel / kSub) + 1;
  uint64_t top = kSub + rel % kSub;
  return top << shift;
}

uint64_t LatencyHistogram::BucketHigh(size_t bucket) {
  if (bucket < kLinear) return bucket;
  size_t rel = bucket - kLinear;
  int shift = static_cast<int>(rel / kSub) + 1;
  return BucketLow(bucket) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t value_ns) {
  ++buckets_[BucketOf(value_ns)];
  ++count_;
  sum_ += value_ns;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the wanted sample, 1-based (nearest-rank definition).
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      uint64_t mid = BucketLow(i) + (BucketHigh(i) - BucketLow(i)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace mtp::tools
