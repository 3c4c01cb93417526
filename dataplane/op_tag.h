// Packing of io_uring/epoll `user_data`: {op kind, generation, slot} so a completion finds its
// session (or ME link) in O(1) and a completion for a recycled slot is recognised as stale.
#pragma once

#include <cstdint>

namespace mtp {

// What an operation was for. Value 0 is never used so a user_data of 0 (engine-internal
// wake-ups) cannot be mistaken for one of ours.
enum class OpKind : uint8_t {
  kNone = 0,
  kAccept = 1,       // multishot accept on listener `slot`
  kClientRecv = 2,   // client leg of session `slot`
  kClientSend = 3,
  kUpstreamConnect = 4,  // direct-mode DC leg of session `slot`
  kUpstreamRecv = 5,
  kUpstreamSend = 6,
  kMeConnect = 7,    // ME link `slot`
  kMeRecv = 8,
  kMeSend = 9,
};
inline constexpr uint8_t kOpKindCount = 10;

inline constexpr uint32_t kGenerationBits = 24;
inline constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;

struct OpTag {
  OpKind op = OpKind::kNone;
  uint32_t generation = 0;  // low kGenerationBits of the slot's generation
  uint32_t slot = 0;
};

constexpr uint64_t PackOpTag(OpKind op, uint32_t generation, uint32_t slot) {
  return (uint64_t{static_cast<uint8_t>(op)} << 56) |
         (uint64_t{generation & kGenerationMask} << 32) | slot;
}

constexpr OpTag UnpackOpTag(uint64_t user_data) {
  return OpTag{static_cast<OpKind>(user_data >> 56),
               static_cast<uint32_t>(user_data >> 32) & kGenerationMask,
               static_cast<uint32_t>(user_data)};
}

}  // namespace mtp
