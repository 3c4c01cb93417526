// Fixed-size I/O buffers carved from one arena per shard, addressed by a small integer id.
// Receive buffers are lent to the kernel (io_uring provided-buffer ring) or handed out by the
// epoll backend on readiness; send-side buffers are taken with Acquire(). Every buffer returns
// with Release(), which refills the receive ring first.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cstdint>

namespace mtp {

class BufferPool {
 public:
  virtual ~BufferPool() = default;

  virtual uint32_t buffer_size() const = 0;
  virtual uint32_t buffer_count() const = 0;
  virtual uint8_t* Data(int32_t id) = 0;

  // Takes a free buffer for the caller's own use (e.g. an output queue); -1 if none is free.
  virtual int32_t Acquire() = 0;
  // Returns a buffer (received or acquired) to the pool.
  virtual void Release(int32_t id) = 0;

  // Buffers neither lent to the kernel nor free: held by sessions (for stats and tests).
  virtual uint32_t in_use() const = 0;

  // Buffers currently available to receives (lent to the kernel ring / the epoll receive
  // set). A Recv that ended with -ENOBUFS is worth re-arming once this is > 0.
  // (Added after the first contract; the default keeps existing fakes compiling.)
  virtual uint32_t recv_available() const { return buffer_count() - in_use(); }

  // The receive set is refilled from the free list whenever buffers leave it, keeping at
  // least `buffers` free for Acquire() (output queues). Default: no refill (test fakes).
  virtual void SetFreeReserve(uint32_t /*buffers*/) {}
  // Refills the receive set from the free list now (a receive set emptied while the free list
  // was at its reserve is otherwise refilled only by the next release).
  virtual void Restock() {}
};

}  // namespace mtp
