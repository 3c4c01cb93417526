// The three inner MTProto framings and their 32-bit tags carried in the obfuscated2 header.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mtp {

// Inner framing of a client connection, selected by the tag at header bytes 56..60.
enum class Transport : uint8_t {
  kAbridged,      // tag 0xefefefef: 1- or 4-byte length in words
  kIntermediate,  // tag 0xeeeeeeee: 4-byte LE length in bytes
  kPadded,        // tag 0xdddddddd: intermediate + 0..3 (client: 0..15) random pad bytes
};

inline constexpr uint32_t kAbridgedTag = 0xefefefefu;
inline constexpr uint32_t kIntermediateTag = 0xeeeeeeeeu;
inline constexpr uint32_t kPaddedTag = 0xddddddddu;

constexpr uint32_t TransportTag(Transport transport) {
  switch (transport) {
    case Transport::kAbridged:
      return kAbridgedTag;
    case Transport::kIntermediate:
      return kIntermediateTag;
    case Transport::kPadded:
      return kPaddedTag;
  }
  return 0;
}

// nullopt for any value that is not one of the three tags.
constexpr std::optional<Transport> TransportFromTag(uint32_t tag) {
  switch (tag) {
    case kAbridgedTag:
      return Transport::kAbridged;
    case kIntermediateTag:
      return Transport::kIntermediate;
    case kPaddedTag:
      return Transport::kPadded;
    default:
      return std::nullopt;
  }
}

// "abridged" / "intermediate" / "padded" (logs, stats, tool flags).
constexpr std::string_view TransportName(Transport transport) {
  switch (transport) {
    case Transport::kAbridged:
      return "abridged";
    case Transport::kIntermediate:
      return "intermediate";
    case Transport::kPadded:
      return "padded";
  }
  return "?";
}

}  // namespace mtp
