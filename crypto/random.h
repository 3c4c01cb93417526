// Randomness: SecureRandom for keys, nonces and anything a peer must not predict;
// FastRandom (per-thread xoshiro seeded from SecureRandom) for padding lengths and choices
// where the reference used lrand48.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace mtp {

// Fills `out` from the OpenSSL CSPRNG. Aborts the process if the CSPRNG fails: there is no
// safe way to continue without randomness.
void SecureRandom(MutableByteSpan out);

// Per-thread, non-cryptographic.
uint64_t FastRandom64();
// Uniform in [0, bound); bound > 0.
uint32_t FastRandomBelow(uint32_t bound);

// Re-seeds the calling thread's FastRandom from `seed` (splitmix64), so a simulator or test
// replays the same padding lengths and choices. Never called in production.
void SeedFastRandomForTesting(uint64_t seed);

}  // namespace mtp
