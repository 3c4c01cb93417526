// Linked pool-buffer byte queues.
#include "dataplane/buffer_chain.h"

#include "core/check.h"

#include <algorithm>
#include <cstring>

namespace mtp {

BufferChains::BufferChains(BufferPool& pool, uint32_t budget_buffers)
    : pool_(pool),
      buffer_size_(pool.buffer_size()),
      budget_(std::min(budget_buffers, pool.buffer_count())),
      next_(pool.buffer_count(), -1),
      begin_(pool.buffer_count(), 0),
      end_(pool.buffer_count(), 0) {}

void BufferChains::Link(BufferChain& chain, int32_t id, uint32_t begin, uint32_t end) {
  next_[id] = -1;
  begin_[id] = begin;
  end_[id] = end;
  if (chain.tail >= 0) {
    next_[chain.tail] = id;
  } else {
    chain.head = id;
  }
  chain.tail = id;
  chain.bytes += end - begin;
  ++chain.buffers;
  ++held_;
  ++class_held_[static_cast<int>(chain.charge)];
}

void BufferChains::ReleaseOne(BufferChain& chain, int32_t id) {
  // Paired with Link: a chain, its class and the shard never go below zero. A violation means
  // the accounting is broken; keep the pool whole and count it rather than wrap around.
  if (MTP_VERIFY(held_ > 0 && chain.buffers > 0 &&
                     class_held_[static_cast<int>(chain.charge)] > 0,
                 "buffer chain accounting underflow")) {
    --held_;
    --chain.buffers;
    --class_held_[static_cast<int>(chain.charge)];
  }
  pool_.Release(id);
}

void BufferChains::KeepPromise(uint32_t buffers) {
  if (!MTP_VERIFY(promised_ >= buffers, "buffer promise underflow")) buffers = promised_;
  promised_ -= buffers;
}

void BufferChains::SetCharge(BufferChain& chain, Charge c) {
  if (chain.charge == c) return;
  uint32_t& from = class_held_[static_cast<int>(chain.charge)];
  if (MTP_VERIFY(from >= chain.buffers, "charge class underflow")) from -= chain.buffers;
  class_held_[static_cast<int>(c)] += chain.buffers;
  chain.charge = c;
}

void BufferChains::AppendBuffer(BufferChain& chain, int32_t id, uint32_t len) {
  AppendBufferAt(chain, id, 0, len);
}

void BufferChains::AppendBufferAt(BufferChain& chain, int32_t id, uint32_t begin, uint32_t len) {
  assert(begin + len <= buffer_size_);
  if (chain.tail >= 0 && len <= buffer_size_ - end_[chain.tail]) {
    std::memcpy(pool_.Data(chain.tail) + end_[chain.tail], pool_.Data(id) + begin, len);
    end_[chain.tail] += len;
    chain.bytes += len;
    pool_.Release(id);
    return;
  }
  Link(chain, id, begin, begin + len);
}

MutableByteSpan BufferChains::Reserve(BufferChain& chain) {
  if (chain.tail < 0 || end_[chain.tail] == buffer_size_) {
    int32_t id = pool_.Acquire();
    if (id < 0) return {};
    Link(chain, id, 0, 0);
  }
  uint32_t end = end_[chain.tail];
  return MutableByteSpan(pool_.Data(chain.tail) + end, buffer_size_ - end);
}

void BufferChains::Commit(BufferChain& chain, uint32_t n) {
  assert(chain.tail >= 0 && end_[chain.tail] + n <= buffer_size_);
  end_[chain.tail] += n;
  chain.bytes += n;
}

bool BufferChains::AppendCopy(BufferChain& chain, ByteSpan data) {
  while (!data.empty()) {
    MutableByteSpan space = Reserve(chain);
    if (space.empty()) return false;
    size_t n = std::min(space.size(), data.size());
    std::memcpy(space.data(), data.data(), n);
    Commit(chain, static_cast<uint32_t>(n));
    data = data.subspan(n);
  }
  return true;
}

bool BufferChains::AppendChainCopy(BufferChain& to, BufferChain& from) {
  bool ok = true;
  ForEachSegment(from, 0, from.bytes, [&](MutableByteSpan seg) { ok = ok && AppendCopy(to, seg); });
  Clear(from);
  return ok;
}

ByteSpan BufferChains::Front(const BufferChain& chain) const {
  if (chain.head < 0) return {};
  int32_t id = chain.head;
  return ByteSpan(pool_.Data(id) + begin_[id], end_[id] - begin_[id]);
}

BufferChains::Gathered BufferChains::GatherFront(const BufferChain& chain, std::span<iovec> out,
                                                 uint32_t max_bytes) const {
  Gathered g;
  for (int32_t id = chain.head; id >= 0 && g.bytes < max_bytes &&
                                static_cast<size_t>(g.count) < out.size();
       id = next_[id]) {
    const uint32_t seg = std::min(end_[id] - begin_[id], max_bytes - g.bytes);
    if (seg == 0) continue;  // a reserved buffer nothing was committed to yet
    out[static_cast<size_t>(g.count++)] = iovec{pool_.Data(id) + begin_[id], seg};
    g.bytes += seg;
  }
  return g;
}

void BufferChains::Consume(BufferChain& chain, size_t n) {
  assert(n <= chain.bytes);
  chain.bytes -= static_cast<uint32_t>(n);
  while (chain.head >= 0) {
    int32_t id = chain.head;
    uint32_t seg = end_[id] - begin_[id];
    if (n < seg) {
      begin_[id] += static_cast<uint32_t>(n);
      return;
    }
    n -= seg;
    // A drained tail that still has room could be kept for the next append, but releasing
    // it is what lets an idle connection hold no buffer.
    chain.head = next_[id];
    if (chain.head < 0) chain.tail = -1;
    ReleaseOne(chain, id);
    if (n == 0) return;
  }
}

size_t BufferChains::CopyOut(const BufferChain& chain, size_t offset, MutableByteSpan out) const {
  size_t copied = 0;
  int32_t id = chain.head;
  while (id >= 0 && copied < out.size()) {
    uint32_t seg = end_[id] - begin_[id];
    if (offset >= seg) {
      offset -= seg;
    } else {
      size_t take = std::min<size_t>(seg - offset, out.size() - copied);
      std::memcpy(out.data() + copied, pool_.Data(id) + begin_[id] + offset, take);
      copied += take;
      offset = 0;
    }
    id = next_[id];
  }
  return copied;
}

void BufferChains::Clear(BufferChain& chain) {
  int32_t id = chain.head;
  while (id >= 0) {
    int32_t next = next_[id];
    ReleaseOne(chain, id);
    id = next;
  }
  const Charge charge = chain.charge;
  MTP_VERIFY(chain.buffers == 0, "buffer chain count mismatch at clear");
  chain = BufferChain{};
  chain.charge = charge;
}

uint32_t BufferChains::CountBuffers(const BufferChain& chain) const {
  uint32_t n = 0;
  for (int32_t id = chain.head; id >= 0; id = next_[id]) ++n;
  return n;
}

}  // namespace mtp
