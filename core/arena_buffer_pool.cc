// ArenaBufferPool: arena mapping, free list, receive set (provided-buffer ring or stack).
#include "core/arena_buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/log.h"

namespace mtp {
namespace {

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

size_t PageRound(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArenaBufferPool>> ArenaBufferPool::Create(
    const ArenaBufferPoolOptions& options) {
  if (!IsPowerOfTwo(options.buffer_count) || options.buffer_count > 65536) {
    return absl::InvalidArgumentError(
        absl::StrFormat("buffer_count %u: must be a power of two <= 65536", options.buffer_count));
  }
  if (options.buffer_size == 0 || options.buffer_size % 64 != 0 ||
      options.buffer_size > (1u << 24)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "buffer_size %u: must be a non-zero multiple of 64, <= 16 MiB", options.buffer_size));
  }
  if (!IsPowerOfTwo(options.recv_target) || options.recv_target > 32768 ||
      options.recv_target > options.buffer_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "recv_ring_count %u: must be a power of two <= min(32768, buffer_count)",
        options.recv_target));
  }
  std::unique_ptr<ArenaBufferPool> pool(new ArenaBufferPool());
  pool->buffer_size_ = options.buffer_size;
  pool->buffer_count_ = options.buffer_count;
  pool->recv_target_ = options.recv_target;
  pool->arena_bytes_ = PageRound(size_t{options.buffer_count} * options.buffer_size);
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (options.populate ? MAP_POPULATE : 0);
  void* mem = mmap(nullptr, pool->arena_bytes_, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (mem == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "mmap of %zu-byte buffer arena: %s", pool->arena_bytes_, strerror(errno)));
  }
  pool->arena_ = static_cast<uint8_t*>(mem);

  pool->state_.assign(options.buffer_count, State::kFree);
  pool->free_.resize(options.buffer_count);
  pool->recv_stack_.resize(options.recv_target);
  // Lowest ids end on top of both stacks so the first buffers used are the first pages.
  uint32_t n = options.buffer_count;
  for (uint32_t i = 0; i < n - options.recv_target; ++i) {
    pool->free_[pool->free_count_++] = static_cast<int32_t>(n - 1 - i);
  }
  for (uint32_t i = 0; i < options.recv_target; ++i) {
    int32_t id = static_cast<int32_t>(options.recv_target - 1 - i);
    pool->recv_stack_[pool->recv_count_++] = id;
    pool->state_[id] = State::kRecv;
  }
  return pool;
}

ArenaBufferPool::~ArenaBufferPool() {
  DetachRing();
  if (arena_ != nullptr) munmap(arena_, arena_bytes_);
}

absl::Status ArenaBufferPool::AttachRing(io_uring* ring, uint16_t group_id) {
  if (ring_ != nullptr) return absl::FailedPreconditionError("buffer ring already attached");
  buf_ring_bytes_ = PageRound(size_t{recv_target_} * sizeof(io_uring_buf));
  void* mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("mmap of provided-buffer ring: %s", strerror(errno)));
  }
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = recv_target_;
  reg.bgid = group_id;
  int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    munmap(mem, buf_ring_bytes_);
    return absl::UnavailableError(
        absl::StrFormat("io_uring_register_buf_ring: %s", strerror(-ret)));
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  ring_ = ring;
  group_id_ = group_id;
  // Move the receive set from the stack into the ring.
  const int mask = io_uring_buf_ring_mask(recv_target_);
  for (uint32_t i = 0; i < recv_count_; ++i) {
    int32_t id = recv_stack_[i];
    io_uring_buf_ring_add(buf_ring_, Data(id), buffer_size_, static_cast<uint16_t>(id), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(recv_count_));
  return absl::OkStatus();
}

void ArenaBufferPool::DetachRing() {
  if (ring_ == nullptr) return;
  io_uring_unregister_buf_ring(ring_, group_id_);
  munmap(buf_ring_, buf_ring_bytes_);
  ring_ = nullptr;
  buf_ring_ = nullptr;
  // Buffers the ring still held come back as the stack receive set.
  recv_count_ = 0;
  for (uint32_t id = 0; id < buffer_count_; ++id) {
    if (state_[id] != State::kRecv) continue;
    if (recv_count_ < recv_target_) {
      recv_stack_[recv_count_++] = static_cast<int32_t>(id);
    } else {
      state_[id] = State::kFree;
      free_[free_count_++] = static_cast<int32_t>(id);
    }
  }
}

int32_t ArenaBufferPool::Acquire() {
  if (free_count_ == 0) return -1;
  int32_t id = free_[--free_count_];
  state_[id] = State::kInUse;
  return id;
}

void ArenaBufferPool::Release(int32_t id) {
  if (id < 0 || static_cast<uint32_t>(id) >= buffer_count_ || state_[id] != State::kInUse) {
    // A caller bug (double release or foreign id). Count and log; never corrupt the lists.
    ++bad_releases_;
    MTP_ERROR("BufferPool::Release(%d): buffer is not in use (bug)", id);
    assert(false && "BufferPool::Release of a buffer that is not in use");
    return;
  }
  if (recv_count_ < recv_target_) {
    AddToRecvSet(id);
  } else {
    state_[id] = State::kFree;
    free_[free_count_++] = id;
  }
}

void ArenaBufferPool::AddToRecvSet(int32_t id) {
  state_[id] = State::kRecv;
  if (ring_ != nullptr) {
    // Published immediately: one release-store, and the kernel may need it right now to
    // satisfy a receive that would otherwise end with -ENOBUFS.
    io_uring_buf_ring_add(buf_ring_, Data(id), buffer_size_, static_cast<uint16_t>(id),
                          io_uring_buf_ring_mask(recv_target_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  } else {
    recv_stack_[recv_count_] = id;
  }
  ++recv_count_;
}

bool ArenaBufferPool::OnRingConsumed(int32_t id) {
  if (id < 0 || static_cast<uint32_t>(id) >= buffer_count_ || state_[id] != State::kRecv ||
      ring_ == nullptr) {
    MTP_ERROR("BufferPool: kernel returned buffer %d that was not lent to it", id);
    return false;
  }
  state_[id] = State::kInUse;
  --recv_count_;
  TopUpRecvSet();
  return true;
}

void ArenaBufferPool::TopUpRecvSet() {
  if (ring_ == nullptr) {
    while (recv_count_ < recv_target_ && free_count_ > free_reserve_) {
      int32_t id = free_[--free_count_];
      state_[id] = State::kRecv;
      recv_stack_[recv_count_++] = id;
    }
    return;
  }
  const int mask = io_uring_buf_ring_mask(recv_target_);
  int added = 0;
  while (recv_count_ < recv_target_ && free_count_ > free_reserve_) {
    int32_t id = free_[--free_count_];
    state_[id] = State::kRecv;
    io_uring_buf_ring_add(buf_ring_, Data(id), buffer_size_, static_cast<uint16_t>(id), mask,
                          added++);
    ++recv_count_;
  }
  if (added > 0) io_uring_buf_ring_advance(buf_ring_, added);
}

int32_t ArenaBufferPool::TakeRecv() {
  assert(ring_ == nullptr);
  if (recv_count_ == 0) TopUpRecvSet();
  if (recv_count_ == 0) return -1;
  int32_t id = recv_stack_[--recv_count_];
  state_[id] = State::kInUse;
  TopUpRecvSet();
  return id;
}

}  // namespace mtp
