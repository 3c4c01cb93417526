// TimerWheel: hierarchical hashed timer wheel with 1 ms ticks, O(1) schedule/cancel by handle,
// a fixed-capacity slab of intrusive nodes (no allocation per timer) and a "next work" time
// for Poll timeouts.
//
// Layout: 6 levels x 64 slots; level L slots span 64^L ms, so timers up to 2^36 ms (~2 years)
// ahead are held exactly. A timer in level L > 0 cascades one level down when the wheel
// reaches its block; occupancy bitmaps let Advance() and NextWorkMs() skip empty slots, so an
// idle wheel costs nothing however long the shard slept.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

namespace mtp {

// 0 is never a valid handle. Stale handles (fired or cancelled) are detected by generation.
using TimerHandle = uint64_t;
inline constexpr TimerHandle kInvalidTimer = 0;

class TimerWheel {
 public:
  static constexpr int kLevels = 6;
  static constexpr int kSlotBits = 6;
  static constexpr int kSlots = 1 << kSlotBits;
  static constexpr uint64_t kMaxDelayMs = (uint64_t{1} << (kLevels * kSlotBits)) - 1;
  static constexpr uint64_t kNoWork = std::numeric_limits<uint64_t>::max();

  // `capacity` timers at most (bounded); `now_ms` is the current time on the caller's clock.
  TimerWheel(uint32_t capacity, uint64_t now_ms);

  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Fires `payload` at `deadline_ms` (a past deadline fires on the next Advance). Delays
  // beyond kMaxDelayMs are clamped. Returns kInvalidTimer if the wheel is full.
  TimerHandle ScheduleAt(uint64_t deadline_ms, uint64_t payload);
  // Relative to the latest now_ms given to the constructor or Advance().
  TimerHandle ScheduleAfter(uint64_t delay_ms, uint64_t payload) {
    return ScheduleAt(now_ms_ + delay_ms, payload);
  }
  // True if the timer was pending and is now cancelled; false for stale/invalid handles.
  bool Cancel(TimerHandle handle);
  bool IsPending(TimerHandle handle) const;

  // Fires every timer with deadline <= now_ms, at most `max_fired` of them (the rest fire on
  // the next call), calling on_fire(payload). Callbacks may schedule and cancel timers.
  // Returns the number fired.
  template <typename F>
  uint32_t Advance(uint64_t now_ms, uint32_t max_fired, F&& on_fire);

  // Earliest time at which Advance() has work (a deadline or a cascade), kNoWork if empty.
  // A cascade point may come before the next deadline: waking for it is harmless.
  uint64_t NextWorkMs() const;
  // Milliseconds from now_ms until NextWorkMs() (0 if due), -1 if the wheel is empty.
  int64_t TimeoutMs(uint64_t now_ms) const;

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return static_cast<uint32_t>(nodes_.size()); }
  uint64_t now_ms() const { return now_ms_; }

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  static constexpr uint16_t kUnlinked = 0xffff;

  struct Node {
    uint64_t deadline_ms = 0;
    uint64_t payload = 0;
    uint32_t prev = kNil;
    uint32_t next = kNil;      // also the free-list link
    uint32_t generation = 1;
    uint16_t slot = kUnlinked;  // level * kSlots + index while linked
  };

  void Link(uint32_t index);  // into the slot matching its deadline relative to current_ms_
  void Unlink(uint32_t index);
  // Moves current_ms_ to `t` (nothing between is due) and cascades levels aligned at t.
  void MoveTo(uint64_t t);
  uint64_t NextWorkFrom(uint64_t t) const;
  TimerHandle MakeHandle(uint32_t index) const {
    return (uint64_t{nodes_[index].generation} << 32) | (index + 1);
  }
  // Node index for a live handle, kNil otherwise.
  uint32_t Lookup(TimerHandle handle) const;
  uint32_t PopFront(uint16_t slot);

  std::vector<Node> nodes_;
  uint32_t free_head_ = kNil;
  uint32_t size_ = 0;
  uint64_t current_ms_;  // ticks before this are done; its cascades done; its slot may refill
  uint64_t now_ms_;      // latest time seen (base of ScheduleAfter)
  std::array<uint32_t, kLevels * kSlots> heads_;
  std::array<uint64_t, kLevels> occupied_{};  // bit i: slot i of the level is non-empty
};

template <typename F>
uint32_t TimerWheel::Advance(uint64_t now_ms, uint32_t max_fired, F&& on_fire) {
  uint32_t fired = 0;
  if (now_ms > now_ms_) now_ms_ = now_ms;
  while (fired < max_fired) {
    const uint16_t slot = static_cast<uint16_t>(current_ms_ & (kSlots - 1));
    if (heads_[slot] != kNil && current_ms_ <= now_ms) {
      uint32_t index = PopFront(slot);
      Node& node = nodes_[index];
      uint64_t payload = node.payload;
      ++node.generation;  // the handle is stale before the callback runs
      node.next = free_head_;
      free_head_ = index;
      --size_;
      ++fired;
      on_fire(payload);
      continue;
    }
    uint64_t next = NextWorkFrom(current_ms_);
    if (next == kNoWork || next > now_ms) {
      // Stop at now_ms, not past it: a timer scheduled later for now_ms (or earlier) lands
      // in the current slot and must still fire on the next Advance.
      if (now_ms > current_ms_) MoveTo(now_ms);
      break;
    }
    MoveTo(next);
  }
  return fired;
}

}  // namespace mtp
