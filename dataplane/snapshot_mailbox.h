// SnapshotMailbox<T>: hands immutable snapshots (shared_ptr<const T>) from the control thread
// to every shard, and collects each shard's acknowledgement of the generation it adopted.
//
// Threading: Publish/published_generation/AdoptedGeneration on the control thread; Poll/Ack on
// shard thread `i` for its own index only. A shard's per-iteration check is one relaxed atomic
// load; the mutex is taken only when a new generation is there to copy (once per reload), so
// the data path never contends on it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace mtp {

template <typename T>
class SnapshotMailbox {
 public:
  explicit SnapshotMailbox(size_t shards) : acks_(shards) {}
  SnapshotMailbox(const SnapshotMailbox&) = delete;
  SnapshotMailbox& operator=(const SnapshotMailbox&) = delete;

  // Control thread: makes `snapshot` the current one under the next generation (returned).
  uint64_t Publish(std::shared_ptr<const T> snapshot) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(snapshot);
    uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
    generation_.store(g, std::memory_order_release);
    return g;
  }
  uint64_t published_generation() const { return generation_.load(std::memory_order_acquire); }

  // Lowest generation acknowledged over all shards: every shard runs with a snapshot at least
  // this new, so anything older can be forgotten.
  uint64_t AdoptedGeneration() const {
    uint64_t low = UINT64_MAX;
    for (const AckSlot& a : acks_) low = std::min(low, a.generation.load(std::memory_order_acquire));
    return acks_.empty() ? published_generation() : low;
  }
  uint64_t AdoptedGeneration(size_t shard) const {
    return acks_[shard].generation.load(std::memory_order_acquire);
  }
  size_t shard_count() const { return acks_.size(); }

  // Shard thread, at a quiet point of its loop: the snapshot published after `*seen` (and
  // `*seen` advanced to its generation), or null when there is nothing new.
  std::shared_ptr<const T> Poll(uint64_t* seen) const {
    if (generation_.load(std::memory_order_acquire) == *seen) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    *seen = generation_.load(std::memory_order_relaxed);
    return current_;
  }
  // Shard thread: the snapshot of `generation` is now the one this shard runs with.
  void Ack(size_t shard, uint64_t generation) {
    acks_[shard].generation.store(generation, std::memory_order_release);
  }

 private:
  struct alignas(64) AckSlot {
    std::atomic<uint64_t> generation{0};
  };

  mutable std::mutex mu_;
  std::shared_ptr<const T> current_;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};
  std::vector<AckSlot> acks_;
};

}  // namespace mtp
