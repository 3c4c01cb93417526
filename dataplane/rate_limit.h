// Rate limiting: a token bucket with injected time (the reference's --max-accept-rate bucket)
// and a budget scheme that splits one process-wide rate among shards.
//
// Threading: TokenBucket belongs to one thread. RateBudgetSplitter runs on the control thread;
// each ShardRateBudget is spent by its shard thread (lock-free) and refilled by the splitter.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace mtp {

// Refills `rate_per_s` tokens per second up to `capacity`. The reference's accept bucket is
// TokenBucket(n, n) starting full: an accept with less than one token is refused.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double capacity, int64_t now_ns, bool start_full = true);

  // Refills for the time since the last call, then takes `tokens` if that many are available.
  bool TryTake(int64_t now_ns, double tokens = 1);
  // Refills, then reports the level.
  double Available(int64_t now_ns);
  // Changes the rate and capacity (the level is clamped to the new capacity).
  void Reconfigure(double rate_per_s, double capacity, int64_t now_ns);

  double rate_per_s() const { return rate_per_s_; }
  double capacity() const { return capacity_; }

 private:
  void Refill(int64_t now_ns);

  double rate_per_s_;
  double capacity_;
  double level_;
  int64_t last_ns_;
};

// One shard's share of a process-wide rate. The shard spends it with TryConsume (lock-free,
// never blocks); the splitter tops it up or takes back unspent tokens on its tick.
class alignas(64) ShardRateBudget {
 public:
  // Shard thread: takes one token: its own, else one of the splitter's spare tokens, else one
  // held by another shard (a burst on one shard may use the whole bucket, as with a single
  // bucket). False = refused: no token anywhere (over the rate); refusals are counted and make
  // the splitter give this shard a larger share next tick.
  bool TryConsume();

  int64_t tokens() const { return tokens_.load(std::memory_order_relaxed); }
  uint64_t spent() const { return spent_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  friend class RateBudgetSplitter;
  static bool TakeOne(std::atomic<int64_t>& tokens);
  std::atomic<int64_t> tokens_{0};
  // Set by the splitter's ticks (the same values every time): where to borrow from when empty.
  std::atomic<std::atomic<int64_t>*> spare_{nullptr};
  std::atomic<ShardRateBudget*> peers_{nullptr};
  std::atomic<uint32_t> peer_count_{0};
  std::atomic<uint64_t> spent_{0};    // written by the shard only
  std::atomic<uint64_t> refused_{0};  // written by the shard only
  std::atomic<bool> unlimited_{false};
};

// Refusals summed over one rate's shard budgets (any thread: the counters are atomics).
uint64_t TotalRefused(std::span<const ShardRateBudget> budgets);

// The process-wide bucket (rate_per_s, capacity), held partly in a control-side pool and
// partly by the shards. Every Tick refills the pool for the elapsed time and redistributes:
// each shard's target holding is the tokens in the system (pool + all holdings) times its
// share, where share ~ 1 + (spent + refused since the last tick). Shards above target give the
// excess back (compare-and-swap, so a concurrent spend is never lost), shards below get tokens
// from the pool; the whole tokens left (rounding) are published as a spare any shard may take,
// and an empty shard may also take one from another shard's holding, so a burst on one shard
// is refused only when the whole bucket is empty. Tokens only move, never multiply. Invariant
// after every tick: pool + spare + sum(holdings) <= capacity, so over any interval the shards
// together spend at most capacity + rate x elapsed, as one bucket would.
// rate_per_s <= 0 disables the limit (every TryConsume succeeds).
class RateBudgetSplitter {
 public:
  RateBudgetSplitter(double rate_per_s, double capacity, int64_t now_ns);

  // Control thread. `shards` must be the same objects (in the same order) on every call.
  void Tick(int64_t now_ns, std::span<ShardRateBudget> shards);
  void Reconfigure(double rate_per_s, double capacity);

  // Tokens not held by any shard (the control-side pool and the spare).
  double pool() const { return pool_ + static_cast<double>(spare_.load(std::memory_order_relaxed)); }
  bool unlimited() const { return rate_per_s_ <= 0; }

 private:
  static constexpr size_t kMaxBudgetShards = 1024;

  double rate_per_s_;
  double capacity_;
  double pool_;
  std::atomic<int64_t> spare_{0};  // whole tokens any shard may take between ticks
  int64_t last_ns_;
  // Per-shard counters seen at the previous tick (demand = growth since then).
  uint64_t last_spent_[kMaxBudgetShards] = {};
  uint64_t last_refused_[kMaxBudgetShards] = {};
};

}  // namespace mtp
