// AES-256 block kernels on the AES-NI instructions: key expansion, CTR keystream (8 blocks in
// flight) and CBC encryption of several independent chains interleaved. Pure functions over
// caller-owned state; callers check AesNiAvailable() first (the kernels fault without AES-NI).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtp {

inline constexpr size_t kAesBlockBytes = 16;
inline constexpr size_t kAes256RoundKeyBytes = 240;  // 15 round keys
inline constexpr size_t kAesNiMaxCbcLanes = 4;

// True when this CPU has AES-NI and SSE4.1 (checked once).
bool AesNiAvailable();

// Tests only: CTR keeps to the 128-bit AES-NI loop even when the CPU has VAES.
void SetVaesDisabledForTesting(bool disabled);

// Expands a 32-byte key into the 15 encryption round keys.
void AesNiExpandKey256(const uint8_t key[32], uint8_t round_keys[kAes256RoundKeyBytes]);

// CTR with a 128-bit big-endian counter (OpenSSL's AES-CTR; 256-bit VAES when the CPU has it
// and AVX2): encrypts `blocks` counter blocks
// starting at {counter_hi, counter_lo}, XORs them into in -> out (in == out allowed) and
// advances the counter. `in`/`out` need no alignment.
void AesNiCtrBlocks(const uint8_t* round_keys, uint64_t* counter_hi, uint64_t* counter_lo,
                    const uint8_t* in, uint8_t* out, size_t blocks);

// One CBC encryption chain: `iv` is the previous ciphertext block (updated), `blocks` blocks
// from in to out (in == out allowed).
struct AesNiCbcLane {
  const uint8_t* round_keys;
  uint8_t* iv;
  const uint8_t* in;
  uint8_t* out;
  size_t blocks;
};

// Encrypts every lane (any count); up to kAesNiMaxCbcLanes chains advance together, which hides
// the serial latency of one CBC chain. Lanes must not overlap each other.
void AesNiCbcEncrypt(AesNiCbcLane* lanes, size_t count);

}  // namespace mtp
