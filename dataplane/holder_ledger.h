// Sessions holding received bytes that are not served yet -- an unauthenticated header or
// ClientHello (Charge::kPreAuth) or a partial frame (Charge::kPartial) -- in one FIFO per class,
// oldest holder first. The shard sheds from the front when a class goes over its share of the
// buffer budget: a peer that holds bytes longest is the one that stops holding them.
// O(1) per update, no allocation after construction (links indexed by session slot).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "core/check.h"
#include "dataplane/buffer_chain.h"

namespace mtp {

class HolderLedger {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  explicit HolderLedger(uint32_t slots)
      : prev_(slots, kNone), next_(slots, kNone), class_(slots, Charge::kQueue) {}

  // Files `slot` under `c` (kQueue = holds nothing worth shedding: removed). A slot keeps its
  // place while its class stays the same, so "oldest" means "holding the longest".
  void Set(uint32_t slot, Charge c) {
    if (class_[slot] == c) return;
    Unlink(slot);
    class_[slot] = c;
    if (c == Charge::kQueue) return;
    const int k = static_cast<int>(c);
    prev_[slot] = tail_[k];
    next_[slot] = kNone;
    if (tail_[k] != kNone) {
      next_[tail_[k]] = slot;
    } else {
      head_[k] = slot;
    }
    tail_[k] = slot;
    ++count_[k];
  }

  Charge ClassOf(uint32_t slot) const { return class_[slot]; }
  uint32_t Oldest(Charge c) const { return head_[static_cast<int>(c)]; }
  uint32_t count(Charge c) const { return count_[static_cast<int>(c)]; }

 private:
  void Unlink(uint32_t slot) {
    if (class_[slot] == Charge::kQueue) return;
    const int k = static_cast<int>(class_[slot]);
    if (prev_[slot] != kNone) {
      next_[prev_[slot]] = next_[slot];
    } else {
      head_[k] = next_[slot];
    }
    if (next_[slot] != kNone) {
      prev_[next_[slot]] = prev_[slot];
    } else {
      tail_[k] = prev_[slot];
    }
    prev_[slot] = next_[slot] = kNone;
    if (MTP_VERIFY(count_[k] > 0, "holder ledger count underflow")) --count_[k];
  }

  std::vector<uint32_t> prev_;
  std::vector<uint32_t> next_;
  std::vector<Charge> class_;
  uint32_t head_[kChargeClasses] = {kNone, kNone, kNone};
  uint32_t tail_[kChargeClasses] = {kNone, kNone, kNone};
  uint32_t count_[kChargeClasses] = {};
};

}  // namespace mtp
