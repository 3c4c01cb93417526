// Paired accounting of a connection's in-flight operations: each kind of op (an armed receive,
// a send, a connect) has a flag, and every op counts once in the connection's `inflight` until
// its final completion. A slot is freed only at zero, so an unbalanced count would either leak
// the slot and its fd forever or free it under a live op: both sides are checked (MTP_VERIFY:
// counted and logged in release builds, abort in debug builds).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cstdint>
#include <limits>

#include "core/check.h"

namespace mtp {

// An op of kind `armed` was submitted.
inline void BeginOp(uint16_t& inflight, bool& armed) {
  MTP_VERIFY(!armed, "op submitted while one of its kind is in flight");
  armed = true;
  if (MTP_VERIFY(inflight < std::numeric_limits<uint16_t>::max(), "in-flight count overflow")) {
    ++inflight;
  }
}

// The final completion of an op of kind `armed` arrived.
inline void EndOp(uint16_t& inflight, bool& armed) {
  MTP_VERIFY(armed, "final completion for an op that was not in flight");
  armed = false;
  if (MTP_VERIFY(inflight > 0, "in-flight count underflow")) --inflight;
}

}  // namespace mtp
