// Byte queues made of linked pool buffers: the per-leg input (received, already decrypted
// bytes awaiting a complete frame) and output (bytes awaiting send) queues of the dataplane.
// A chain costs 12 bytes in its owner; the links live in shard-wide arrays indexed by buffer
// id, so an idle connection holds no buffer and no link storage.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <sys/uio.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer_pool.h"
#include "core/bytes.h"

namespace mtp {

// What a chain's buffers are charged to. Received bytes that wait before they are served (an
// unauthenticated header or hello, a partial frame) are charged to their own classes so the
// shard can bound each class's share of the budget and shed the oldest holders of a class
// first; everything else (send queues) is kQueue.
enum class Charge : uint8_t { kQueue = 0, kPreAuth = 1, kPartial = 2 };
inline constexpr int kChargeClasses = 3;

struct BufferChain {
  int32_t head = -1;
  int32_t tail = -1;
  uint32_t bytes = 0;    // bytes queued in [head.begin, tail.end)
  uint16_t buffers = 0;  // buffers linked (charged to `charge`)
  Charge charge = Charge::kQueue;

  bool empty() const { return head < 0; }
};

class BufferChains {
 public:
  // `budget_buffers`: how many buffers all chains of this shard may hold together (the
  // per-shard memory bound); CanTake() checks it before a caller commits to an append.
  BufferChains(BufferPool& pool, uint32_t budget_buffers);

  BufferPool& pool() { return pool_; }
  uint32_t buffer_size() const { return buffer_size_; }
  uint32_t held() const { return held_; }
  uint32_t budget() const { return budget_; }
  // Buffers held by chains charged to `c`.
  uint32_t held_by(Charge c) const { return class_held_[static_cast<int>(c)]; }
  // Buffers promised to appends that have been decided but not yet made (PromiseBytes).
  uint32_t promised() const { return promised_; }

  // True if `bytes` more bytes can be appended (in fresh buffers) without exceeding the
  // shard's budget: the caller checks this before an append that must not fail half-way.
  bool CanTake(size_t bytes) const {
    return held_ + promised_ + BuffersFor(bytes) <= budget_;
  }
  uint32_t BuffersFor(size_t bytes) const {
    return static_cast<uint32_t>((bytes + buffer_size_ - 1) / buffer_size_);
  }
  // Sets aside budget for an append decided now and made later in the same pass (an ME flush
  // seals several links first, then copies their ciphertext out): CanTake counts promises, so
  // two links sealed in one pass cannot both take the last buffers. Returns the promise.
  uint32_t PromiseBytes(size_t bytes) {
    uint32_t n = BuffersFor(bytes);
    promised_ += n;
    return n;
  }
  void KeepPromise(uint32_t buffers);
  // True if the pool's free list can back `bytes` more right now (over the budget or not).
  bool PoolCanSupply(size_t bytes) const {
    const uint32_t free = pool_.buffer_count() - pool_.in_use() - pool_.recv_available();
    return BuffersFor(bytes) <= free;
  }
  // Moves a chain's buffers to another charge class.
  void SetCharge(BufferChain& chain, Charge c);
  // Fraction of the budget in use, in 1/1024 units (for backpressure watermarks).
  uint32_t pressure_1024() const { return budget_ == 0 ? 1024 : (held_ * 1024) / budget_; }

  // Takes ownership of received buffer `id` holding `len` bytes at offset 0. When the bytes
  // fit in the tail's free space they are copied there and `id` is released at once, so a
  // trickle of small receives does not pin one 16 KiB buffer each.
  void AppendBuffer(BufferChain& chain, int32_t id, uint32_t len);
  // The same for the bytes [begin, begin + len) of buffer `id` (the front was consumed).
  void AppendBufferAt(BufferChain& chain, int32_t id, uint32_t begin, uint32_t len);

  // Contiguous writable space at the end of the chain (acquiring a buffer when the tail is
  // full); empty when the pool is dry. Commit() makes the first `n` bytes part of the chain.
  MutableByteSpan Reserve(BufferChain& chain);
  void Commit(BufferChain& chain, uint32_t n);
  // Reserve/copy/Commit loop. False if the pool ran dry (the chain then holds a prefix of
  // `data`: the caller must discard the chain's owner).
  bool AppendCopy(BufferChain& chain, ByteSpan data);
  // Appends a copy of everything in `from` to `to`, then clears `from` (cold paths: a prefix
  // put in front of a session's input). False if the pool ran dry, as for AppendCopy.
  bool AppendChainCopy(BufferChain& to, BufferChain& from);

  // The first contiguous segment.
  ByteSpan Front(const BufferChain& chain) const;
  // Describes the chain's first bytes as up to out.size() iovecs (one per non-empty buffer, the
  // last one cut at `max_bytes`): what the next gathered send submits. The iovecs stay valid
  // while those bytes are neither consumed nor cleared (appends never move them).
  struct Gathered {
    int count = 0;
    uint32_t bytes = 0;
  };
  Gathered GatherFront(const BufferChain& chain, std::span<iovec> out, uint32_t max_bytes) const;
  // Drops `n` bytes from the front, releasing emptied buffers.
  void Consume(BufferChain& chain, size_t n);
  // Copies up to out.size() bytes starting `offset` bytes into the chain; returns the count.
  size_t CopyOut(const BufferChain& chain, size_t offset, MutableByteSpan out) const;
  // Releases every buffer of the chain.
  void Clear(BufferChain& chain);

  // Calls f(MutableByteSpan) for each contiguous piece of [offset, offset + len).
  template <typename F>
  void ForEachSegment(const BufferChain& chain, size_t offset, size_t len, F&& f) {
    assert(offset + len <= chain.bytes);
    int32_t id = chain.head;
    while (len > 0) {
      assert(id >= 0);
      uint32_t seg = end_[id] - begin_[id];
      if (offset >= seg) {
        offset -= seg;
        id = next_[id];
        continue;
      }
      size_t take = seg - offset < len ? seg - offset : len;
      f(MutableByteSpan(pool_.Data(id) + begin_[id] + offset, take));
      len -= take;
      offset = 0;
      id = next_[id];
    }
  }

  // Number of buffers in a chain (tests, stats).
  uint32_t CountBuffers(const BufferChain& chain) const;

 private:
  void Link(BufferChain& chain, int32_t id, uint32_t begin, uint32_t end);
  void ReleaseOne(BufferChain& chain, int32_t id);

  BufferPool& pool_;
  uint32_t buffer_size_;
  uint32_t budget_;
  uint32_t held_ = 0;
  uint32_t promised_ = 0;
  uint32_t class_held_[kChargeClasses] = {};
  std::vector<int32_t> next_;
  std::vector<uint32_t> begin_;
  std::vector<uint32_t> end_;
};

}  // namespace mtp
