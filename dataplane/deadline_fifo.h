// DeadlineFifo: the expiry queue of a timeout that has one fixed length for every session (the
// fake-TLS handshake timer), so deadlines are pushed in time order and a ring buffer is enough:
// O(1) push and pop, no per-entry allocation, no cancel (stale entries are recognised by the
// session generation when they expire).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

namespace mtp {

class DeadlineFifo {
 public:
  struct Entry {
    uint32_t slot = 0;
    uint32_t generation = 0;
    int64_t deadline_ms = 0;
  };

  // `capacity` entries at most (> 0). Size it to the sessions that can be waiting at once
  // (live sessions plus those closed within one timeout).
  explicit DeadlineFifo(uint32_t capacity) : ring_(capacity) { assert(capacity > 0); }

  // Appends `entry` (deadlines must not decrease). When full, the oldest entry is handed to
  // `on_early(entry)` first: its session is treated as expired now rather than forgotten.
  template <typename F>
  void Push(const Entry& entry, F&& on_early) {
    if (size_ == ring_.size()) {
      Entry oldest = ring_[head_];
      head_ = (head_ + 1) % ring_.size();
      --size_;
      on_early(oldest);
    }
    assert(size_ == 0 || entry.deadline_ms >= Back().deadline_ms);
    ring_[(head_ + size_) % ring_.size()] = entry;
    ++size_;
  }

  // Pops every entry with deadline_ms <= now_ms (at most `max_pops`), calling on_expired(entry).
  template <typename F>
  uint32_t PopExpired(int64_t now_ms, uint32_t max_pops, F&& on_expired) {
    uint32_t popped = 0;
    while (size_ > 0 && popped < max_pops && ring_[head_].deadline_ms <= now_ms) {
      Entry e = ring_[head_];
      head_ = (head_ + 1) % ring_.size();
      --size_;
      ++popped;
      on_expired(e);
    }
    return popped;
  }

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }
  bool empty() const { return size_ == 0; }

 private:
  const Entry& Back() const { return ring_[(head_ + size_ - 1) % ring_.size()]; }

  std::vector<Entry> ring_;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
};

}  // namespace mtp
