// Bounded lock-free single-producer/single-consumer queue (SpscQueue), the Waker interface
// that lets a producer rouse a sleeping consumer, and Mailbox = queue + waker: the control
// <-> shard message channels.
//
// Thread ownership: exactly one producer thread and one consumer thread per queue; the
// *Approx() observers may be called from either.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mtp {

inline constexpr size_t kCacheLineBytes = 64;

template <typename T>
class SpscQueue {
 public:
  // Capacity is rounded up to a power of two (>= 2).
  explicit SpscQueue(uint32_t capacity) {
    uint32_t cap = 2;
    while (cap < capacity) cap <<= 1;
    slots_.resize(cap);
    mask_ = cap - 1;
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer. False (and `value` untouched) when full.
  bool TryPush(T&& value) { return Emplace(std::move(value)); }
  bool TryPush(const T& value) { return Emplace(value); }

  // Consumer. False when empty. The slot is reset to T{} so payloads (e.g. shared_ptr)
  // are released promptly on the consumer thread.
  bool TryPop(T& out) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == cached_tail_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head == cached_tail_) return false;
    }
    T& slot = slots_[head & mask_];
    out = std::move(slot);
    slot = T{};
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  uint32_t capacity() const { return mask_ + 1; }
  size_t SizeApprox() const {
    uint64_t tail = tail_.load(std::memory_order_acquire);
    uint64_t head = head_.load(std::memory_order_acquire);
    return tail >= head ? static_cast<size_t>(tail - head) : 0;
  }
  bool EmptyApprox() const { return SizeApprox() == 0; }

 private:
  template <typename U>
  bool Emplace(U&& value) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - cached_head_ > mask_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - cached_head_ > mask_) return false;
    }
    slots_[tail & mask_] = std::forward<U>(value);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer-owned line, producer-owned line: the indices never share a cache line.
  alignas(kCacheLineBytes) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;  // consumer's last view of tail_
  alignas(kCacheLineBytes) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;  // producer's last view of head_
  alignas(kCacheLineBytes) std::vector<T> slots_;
  uint32_t mask_ = 0;
};

// Something a producer pokes after pushing so the consumer stops sleeping. Wake() is
// thread-safe and cheap when called repeatedly (implementations coalesce).
class Waker {
 public:
  virtual ~Waker() = default;
  virtual void Wake() = 0;
};

// A Waker for threads that are not shards (the control thread): an eventfd it can poll,
// e.g. in its own epoll/poll loop, then Consume() before draining its mailboxes.
class EventFdWaker final : public Waker {
 public:
  EventFdWaker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~EventFdWaker() override {
    if (fd_ >= 0) close(fd_);
  }
  EventFdWaker(const EventFdWaker&) = delete;
  EventFdWaker& operator=(const EventFdWaker&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Wake() override {
    uint64_t one = 1;
    while (write(fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
  // Resets the counter; true if there was a wake-up pending.
  bool Consume() {
    uint64_t value = 0;
    return read(fd_, &value, sizeof(value)) == sizeof(value);
  }

 private:
  int fd_;
};

// SPSC queue + the consumer's Waker: Send() pushes then wakes the consumer.
template <typename T>
class Mailbox {
 public:
  explicit Mailbox(uint32_t capacity, Waker* waker = nullptr) : queue_(capacity), waker_(waker) {}

  // The consumer's waker may be attached after construction (e.g. once its engine exists);
  // messages sent before that are found by the consumer's first drain.
  void set_waker(Waker* waker) { waker_.store(waker, std::memory_order_release); }

  // Producer. False if the mailbox is full (the caller decides: retry later, drop, count).
  bool Send(T&& message) {
    if (!queue_.TryPush(std::move(message))) return false;
    if (Waker* w = waker_.load(std::memory_order_acquire)) w->Wake();
    return true;
  }
  // Consumer.
  bool Receive(T& out) { return queue_.TryPop(out); }

  size_t SizeApprox() const { return queue_.SizeApprox(); }
  uint32_t capacity() const { return queue_.capacity(); }

 private:
  SpscQueue<T> queue_;
  std::atomic<Waker*> waker_;
};

}  // namespace mtp
