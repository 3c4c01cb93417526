// ArenaBufferPool: the BufferPool of one shard: one mmap'ed arena cut into fixed-size buffers,
// a free list for Acquire(), and a receive set that is either an io_uring provided-buffer ring
// (kernel picks a buffer when data arrives) or, for epoll, a stack the engine takes from.
//
// Thread ownership: the owning shard thread only (the kernel reads the ring, nobody else).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/buffer_pool.h"

namespace mtp {

struct ArenaBufferPoolOptions {
  uint32_t buffer_count = 4096;     // power of two, <= 65536 (io_uring buffer ids are 16-bit)
  uint32_t buffer_size = 16384;     // bytes, multiple of 64
  uint32_t recv_target = 2048;      // buffers kept in the receive set; power of two <= 32768
  bool populate = false;            // MAP_POPULATE the arena
};

class ArenaBufferPool final : public BufferPool {
 public:
  static absl::StatusOr<std::unique_ptr<ArenaBufferPool>> Create(
      const ArenaBufferPoolOptions& options);
  ~ArenaBufferPool() override;

  ArenaBufferPool(const ArenaBufferPool&) = delete;
  ArenaBufferPool& operator=(const ArenaBufferPool&) = delete;

  // BufferPool.
  uint32_t buffer_size() const override { return buffer_size_; }
  uint32_t buffer_count() const override { return buffer_count_; }
  uint8_t* Data(int32_t id) override {
    return arena_ + static_cast<size_t>(static_cast<uint32_t>(id)) * buffer_size_;
  }
  int32_t Acquire() override;
  void Release(int32_t id) override;
  uint32_t in_use() const override { return buffer_count_ - free_count_ - recv_count_; }
  uint32_t recv_available() const override { return recv_count_; }

  uint32_t free_count() const { return free_count_; }
  void SetFreeReserve(uint32_t buffers) override { free_reserve_ = buffers; }
  void Restock() override { TopUpRecvSet(); }
  uint32_t recv_target() const { return recv_target_; }

  // io_uring mode: registers the receive set as provided-buffer ring `group_id` on `ring` and
  // lends it recv_target buffers. Must be called before any buffer is handed out.
  absl::Status AttachRing(io_uring* ring, uint16_t group_id);
  // Unregisters the ring (engine teardown); buffers lent to it return to the free list.
  void DetachRing();
  bool ring_attached() const { return ring_ != nullptr; }

  // io_uring mode: the kernel filled buffer `id` from the ring; the caller now owns it.
  // Returns false (and changes nothing) if `id` was not lent to the ring.
  bool OnRingConsumed(int32_t id);

  // epoll mode: takes a buffer from the receive set for one recv(2); -1 if the set is empty
  // (the engine reports -ENOBUFS). Give it back with Release() if the recv found no data.
  int32_t TakeRecv();

  // Counts Release() calls with an id that was not in use (caller bugs; logged once each).
  uint64_t bad_releases() const { return bad_releases_; }

 private:
  enum class State : uint8_t { kFree, kRecv, kInUse };

  ArenaBufferPool() = default;
  void AddToRecvSet(int32_t id);
  // Refills the receive set from the free list (above the reserve) after buffers left it, so
  // buffers parked in sessions never starve the kernel of receive buffers while any is free.
  void TopUpRecvSet();

  uint8_t* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t buffer_count_ = 0;
  uint32_t recv_target_ = 0;

  std::vector<State> state_;        // per buffer, for loud detection of double releases
  std::vector<int32_t> free_;       // stack of free ids; free_count_ valid entries
  uint32_t free_count_ = 0;
  uint32_t free_reserve_ = 0;       // free buffers TopUpRecvSet leaves for Acquire()
  std::vector<int32_t> recv_stack_; // epoll mode receive set (LIFO keeps buffers cache-hot)
  uint32_t recv_count_ = 0;         // buffers in the receive set (ring or stack)

  io_uring* ring_ = nullptr;        // io_uring mode when non-null
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  uint16_t group_id_ = 0;
  uint64_t bad_releases_ = 0;
};

}  // namespace mtp
