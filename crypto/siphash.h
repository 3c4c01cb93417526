// SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit PRF for hash tables whose keys an attacker
// chooses (the replay filter). Pure function; any thread.
#pragma once

#include <array>
#include <cstdint>

#include "core/bytes.h"

namespace mtp {

using SipHashKey = std::array<uint8_t, 16>;

// SipHash-2-4 of `data` under `key` (the paper's k0 = LE64(key[0..8)), k1 = LE64(key[8..16))).
uint64_t SipHash24(const SipHashKey& key, ByteSpan data);

}  // namespace mtp
