// Bounded, generation-checked slab of per-shard objects (client sessions, ME links). Slots are
// constructed lazily up to a high-water mark and recycled LIFO, so untouched capacity costs
// address space but no resident memory, and a hot working set stays small.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "dataplane/op_tag.h"

namespace mtp {

template <typename T>
class SessionSlab {
 public:
  static constexpr uint32_t kInvalidSlot = UINT32_MAX;

  explicit SessionSlab(uint32_t capacity)
      : capacity_(capacity),
        // Raw storage: pages are only touched when a slot is first constructed.
        entries_(static_cast<Entry*>(::operator new(sizeof(Entry) * size_t{capacity},
                                                    std::align_val_t{alignof(Entry)}))) {
    free_.reserve(capacity);
  }
  ~SessionSlab() {
    for (uint32_t i = 0; i < constructed_; ++i) entries_[i].~Entry();
    ::operator delete(entries_, std::align_val_t{alignof(Entry)});
  }
  SessionSlab(const SessionSlab&) = delete;
  SessionSlab& operator=(const SessionSlab&) = delete;

  uint32_t capacity() const { return capacity_; }
  uint32_t live() const { return live_; }
  uint32_t constructed() const { return constructed_; }

  // Returns a free slot (its object default-constructed or as the last Free() left it), or
  // kInvalidSlot when the slab is full.
  uint32_t Allocate() {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else if (constructed_ < capacity_) {
      slot = constructed_++;
      new (&entries_[slot]) Entry();
    } else {
      return kInvalidSlot;
    }
    Entry& e = entries_[slot];
    assert(!e.live);
    e.live = true;
    ++live_;
    return slot;
  }

  // Releases a live slot: bumps its generation so completions still tagged with the old one
  // are recognised as stale. The caller has already reset the object's resources.
  void Free(uint32_t slot) {
    assert(slot < constructed_);
    Entry& e = entries_[slot];
    assert(e.live);
    e.live = false;
    e.generation = (e.generation + 1) & kGenerationMask;
    --live_;
    free_.push_back(slot);
  }

  T& at(uint32_t slot) {
    assert(slot < constructed_);
    return entries_[slot].value;
  }
  const T& at(uint32_t slot) const {
    assert(slot < constructed_);
    return entries_[slot].value;
  }
  uint32_t generation(uint32_t slot) const { return entries_[slot].generation; }
  bool is_live(uint32_t slot) const { return slot < constructed_ && entries_[slot].live; }

  // The live object for (slot, generation) or nullptr if the slot was recycled since.
  T* Lookup(uint32_t slot, uint32_t generation) {
    if (slot >= constructed_) return nullptr;
    Entry& e = entries_[slot];
    if (!e.live || e.generation != (generation & kGenerationMask)) return nullptr;
    return &e.value;
  }

  // Calls f(slot, T&) for every live object (cold path: shutdown, periodic scans).
  template <typename F>
  void ForEachLive(F&& f) {
    for (uint32_t i = 0; i < constructed_; ++i) {
      if (entries_[i].live) f(i, entries_[i].value);
    }
  }

 private:
  struct Entry {
    uint32_t generation = 0;
    bool live = false;
    T value{};
  };

  uint32_t capacity_;
  uint32_t constructed_ = 0;
  uint32_t live_ = 0;
  Entry* entries_;
  std::vector<uint32_t> free_;  // reserved to capacity: never reallocates
};

}  // namespace mtp
