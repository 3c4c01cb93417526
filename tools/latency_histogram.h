// Log-linear latency histogram (HDR-style, 64 sub-buckets per power of two, <= 1.6% error)
// for RTT percentiles. Fixed size, no allocation after construction; owned by one thread,
// merged into a total at the end of a run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mtp::tools {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void Record(uint64_t value_ns);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  // Value at quantile q in [0, 1] (bucket midpoint clamped to [min, max]); 0 if empty.
  uint64_t Percentile(double q) const;

  // Exposed for tests.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);  // inclusive

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace mtp::tools
