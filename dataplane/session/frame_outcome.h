// FrameOutcome: what became of one complete client frame handed on by the client leg.
// Shared by ClientSessions (which consumes the frame or keeps it) and MePool (which forwards it).
//
// Thread ownership: a value type; used on the shard thread.
#pragma once

#include <cstdint>

namespace mtp {

enum class FrameOutcome : uint8_t {
  kDone,    // served: forwarded, answered, filtered, or dropped for want of an ME (§8.3)
  kHeld,    // not taken: the ME link's output is full; the frame stays first in the input
  kClosed,  // the session was closed
};

}  // namespace mtp
