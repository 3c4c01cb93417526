// Token bucket and the shard budget splitter.
#include "dataplane/rate_limit.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace mtp {

TokenBucket::TokenBucket(double rate_per_s, double capacity, int64_t now_ns, bool start_full)
    : rate_per_s_(rate_per_s),
      capacity_(capacity),
      level_(start_full ? capacity : 0),
      last_ns_(now_ns) {}

void TokenBucket::Refill(int64_t now_ns) {
  if (now_ns <= last_ns_) return;  // time never runs backwards for the bucket
  level_ = std::min(capacity_, level_ + rate_per_s_ * static_cast<double>(now_ns - last_ns_) / 1e9);
  last_ns_ = now_ns;
}

bool TokenBucket::TryTake(int64_t now_ns, double tokens) {
  Refill(now_ns);
  if (level_ < tokens) return false;
  level_ -= tokens;
  return true;
}

double TokenBucket::Available(int64_t now_ns) {
  Refill(now_ns);
  return level_;
}

void TokenBucket::Reconfigure(double rate_per_s, double capacity, int64_t now_ns) {
  Refill(now_ns);
  rate_per_s_ = rate_per_s;
  capacity_ = capacity;
  level_ = std::min(level_, capacity_);
}

bool ShardRateBudget::TakeOne(std::atomic<int64_t>& tokens) {
  int64_t t = tokens.load(std::memory_order_relaxed);
  while (t > 0) {
    if (tokens.compare_exchange_weak(t, t - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

bool ShardRateBudget::TryConsume() {
  if (unlimited_.load(std::memory_order_relaxed)) {
    spent_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  bool taken = TakeOne(tokens_);
  if (!taken) {
    // The slow path (this shard's share is spent): the spare, then the other shards' shares.
    std::atomic<int64_t>* spare = spare_.load(std::memory_order_relaxed);
    taken = spare != nullptr && TakeOne(*spare);
    ShardRateBudget* peers = peers_.load(std::memory_order_relaxed);
    const uint32_t count = peer_count_.load(std::memory_order_relaxed);
    for (uint32_t i = 0; !taken && peers != nullptr && i < count; ++i) {
      if (&peers[i] != this) taken = TakeOne(peers[i].tokens_);
    }
  }
  if (taken) {
    spent_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

RateBudgetSplitter::RateBudgetSplitter(double rate_per_s, double capacity, int64_t now_ns)
    : rate_per_s_(rate_per_s), capacity_(capacity), pool_(capacity), last_ns_(now_ns) {}

void RateBudgetSplitter::Reconfigure(double rate_per_s, double capacity) {
  rate_per_s_ = rate_per_s;
  capacity_ = capacity;
  // Holdings above the new capacity are taken back on the next tick (targets shrink).
}

uint64_t TotalRefused(std::span<const ShardRateBudget> budgets) {
  uint64_t refused = 0;
  for (const ShardRateBudget& b : budgets) refused += b.refused();
  return refused;
}

void RateBudgetSplitter::Tick(int64_t now_ns, std::span<ShardRateBudget> shards) {
  assert(shards.size() <= kMaxBudgetShards);
  const size_t n = std::min(shards.size(), kMaxBudgetShards);
  const bool unlimited = rate_per_s_ <= 0;
  for (size_t i = 0; i < n; ++i) {
    shards[i].unlimited_.store(unlimited, std::memory_order_relaxed);
    shards[i].spare_.store(&spare_, std::memory_order_relaxed);
    shards[i].peers_.store(shards.data(), std::memory_order_relaxed);
    shards[i].peer_count_.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
  }
  // The spare comes back to the pool for the redistribution below.
  pool_ += static_cast<double>(spare_.exchange(0, std::memory_order_relaxed));
  if (now_ns > last_ns_) {
    pool_ += rate_per_s_ * static_cast<double>(now_ns - last_ns_) / 1e9;
    last_ns_ = now_ns;
  }
  if (unlimited || n == 0) {
    pool_ = std::min(pool_, std::max(capacity_, 0.0));
    return;
  }

  int64_t held[kMaxBudgetShards];
  uint64_t demand[kMaxBudgetShards];
  int64_t total_held = 0;
  uint64_t total_demand = 0;
  for (size_t i = 0; i < n; ++i) {
    held[i] = std::max<int64_t>(0, shards[i].tokens_.load(std::memory_order_relaxed));
    total_held += held[i];
    const uint64_t spent = shards[i].spent();
    const uint64_t refused = shards[i].refused();
    demand[i] = 1 + (spent - last_spent_[i]) + (refused - last_refused_[i]);
    last_spent_[i] = spent;
    last_refused_[i] = refused;
    total_demand += demand[i];
  }
  // The bucket never holds more than its capacity, wherever the tokens sit.
  pool_ = std::min(pool_, capacity_ - static_cast<double>(total_held));
  const double whole_pool = std::floor(std::max(pool_, 0.0));
  const double total = whole_pool + static_cast<double>(total_held);

  int64_t target[kMaxBudgetShards];
  for (size_t i = 0; i < n; ++i) {
    target[i] = static_cast<int64_t>(
        std::floor(total * static_cast<double>(demand[i]) / static_cast<double>(total_demand)));
  }
  // Take back excess first, so the pool can fund the others.
  for (size_t i = 0; i < n; ++i) {
    int64_t current = shards[i].tokens_.load(std::memory_order_relaxed);
    while (current > target[i]) {
      if (shards[i].tokens_.compare_exchange_weak(current, target[i], std::memory_order_relaxed)) {
        pool_ += static_cast<double>(current - target[i]);
        current = target[i];
        break;
      }
    }
    held[i] = current;
  }
  for (size_t i = 0; i < n; ++i) {
    if (held[i] >= target[i]) continue;
    const int64_t grant =
        std::min<int64_t>(target[i] - held[i], static_cast<int64_t>(std::floor(pool_)));
    if (grant <= 0) continue;
    shards[i].tokens_.fetch_add(grant, std::memory_order_relaxed);
    pool_ -= static_cast<double>(grant);
  }
  // Whole tokens left by the rounding: any shard may take them before the next tick.
  const double spare = std::floor(std::max(pool_, 0.0));
  spare_.store(static_cast<int64_t>(spare), std::memory_order_relaxed);
  pool_ -= spare;
}

}  // namespace mtp
