// TimerWheel: slot placement, cascading and next-work search (see timer_wheel.h).
#include "core/timer_wheel.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace mtp {

TimerWheel::TimerWheel(uint32_t capacity, uint64_t now_ms)
    : nodes_(capacity), current_ms_(now_ms), now_ms_(now_ms) {
  heads_.fill(kNil);
  for (uint32_t i = capacity; i-- > 0;) {
    nodes_[i].next = free_head_;
    free_head_ = i;
  }
}

TimerHandle TimerWheel::ScheduleAt(uint64_t deadline_ms, uint64_t payload) {
  if (free_head_ == kNil) return kInvalidTimer;
  uint32_t index = free_head_;
  Node& node = nodes_[index];
  free_head_ = node.next;
  if (deadline_ms > current_ms_ + kMaxDelayMs) deadline_ms = current_ms_ + kMaxDelayMs;
  node.deadline_ms = deadline_ms;
  node.payload = payload;
  Link(index);
  ++size_;
  return MakeHandle(index);
}

uint32_t TimerWheel::Lookup(TimerHandle handle) const {
  uint64_t low = handle & 0xffffffffu;
  if (low == 0 || low > nodes_.size()) return kNil;
  uint32_t index = static_cast<uint32_t>(low - 1);
  const Node& node = nodes_[index];
  if (node.generation != static_cast<uint32_t>(handle >> 32) || node.slot == kUnlinked) {
    return kNil;
  }
  return index;
}

bool TimerWheel::IsPending(TimerHandle handle) const { return Lookup(handle) != kNil; }

bool TimerWheel::Cancel(TimerHandle handle) {
  uint32_t index = Lookup(handle);
  if (index == kNil) return false;
  Unlink(index);
  Node& node = nodes_[index];
  ++node.generation;
  node.next = free_head_;
  free_head_ = index;
  --size_;
  return true;
}

void TimerWheel::Link(uint32_t index) {
  Node& node = nodes_[index];
  // A deadline already passed is placed at the current tick: it fires on the next Advance.
  uint64_t when = std::max(node.deadline_ms, current_ms_);
  uint64_t delta = when - current_ms_;
  int level = delta == 0 ? 0 : (63 - std::countl_zero(delta)) / kSlotBits;
  assert(level < kLevels);
  uint16_t slot = static_cast<uint16_t>(level * kSlots +
                                        ((when >> (level * kSlotBits)) & (kSlots - 1)));
  node.slot = slot;
  node.prev = kNil;
  node.next = heads_[slot];
  if (node.next != kNil) nodes_[node.next].prev = index;
  heads_[slot] = index;
  occupied_[level] |= uint64_t{1} << (slot & (kSlots - 1));
}

void TimerWheel::Unlink(uint32_t index) {
  Node& node = nodes_[index];
  assert(node.slot != kUnlinked);
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    heads_[node.slot] = node.next;
  }
  if (node.next != kNil) nodes_[node.next].prev = node.prev;
  if (heads_[node.slot] == kNil) {
    occupied_[node.slot / kSlots] &= ~(uint64_t{1} << (node.slot & (kSlots - 1)));
  }
  node.slot = kUnlinked;
  node.prev = node.next = kNil;
}

uint32_t TimerWheel::PopFront(uint16_t slot) {
  uint32_t index = heads_[slot];
  Unlink(index);
  return index;
}

void TimerWheel::MoveTo(uint64_t t) {
  assert(t > current_ms_);
  current_ms_ = t;
  // Highest level first: its timers may land in a lower slot that cascades at this same tick.
  for (int level = kLevels - 1; level >= 1; --level) {
    const int shift = level * kSlotBits;
    if ((t & ((uint64_t{1} << shift) - 1)) != 0) continue;
    uint16_t slot = static_cast<uint16_t>(level * kSlots + ((t >> shift) & (kSlots - 1)));
    while (heads_[slot] != kNil) Link(PopFront(slot));
  }
}

uint64_t TimerWheel::NextWorkFrom(uint64_t t) const {
  uint64_t best = kNoWork;
  if (occupied_[0] != 0) {
    int offset = std::countr_zero(std::rotr(occupied_[0], static_cast<int>(t & (kSlots - 1))));
    best = t + static_cast<uint64_t>(offset);
  }
  for (int level = 1; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const int shift = level * kSlotBits;
    // The block containing t was cascaded already; its slot now holds block + 64.
    uint64_t start = (t >> shift) + 1;
    int offset =
        std::countr_zero(std::rotr(occupied_[level], static_cast<int>(start & (kSlots - 1))));
    uint64_t tick = (start + static_cast<uint64_t>(offset)) << shift;
    best = std::min(best, tick);
  }
  return best;
}

uint64_t TimerWheel::NextWorkMs() const { return NextWorkFrom(current_ms_); }

int64_t TimerWheel::TimeoutMs(uint64_t now_ms) const {
  uint64_t next = NextWorkMs();
  if (next == kNoWork) return -1;
  return next <= now_ms ? 0 : static_cast<int64_t>(next - now_ms);
}

}  // namespace mtp
