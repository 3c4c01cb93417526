// AES-256 block kernels on the AES-NI instructions: key expansion, CTR keystream and CBC
// decryption (16 blocks in flight on VAES-512, 8 on VAES-256 or 128-bit AES-NI), and CBC
// encryption of several independent chains interleaved (one chain is serial by definition).
// Pure functions over caller-owned state, callable from any thread; callers check
// AesNiAvailable() first (the kernels fault without AES-NI). The vector width is picked at run
// time from CPUID and XGETBV (AesNiBestWidth), so the binary runs on any x86-64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtp {

inline constexpr size_t kAesBlockBytes = 16;
inline constexpr size_t kAes256RoundKeyBytes = 240;  // 15 round keys
// CBC chains advancing together. With 128-bit AES-NI, 8 keep the two AES units of current
// cores busy through the latency of one round (more measured no faster); VAES carries 2
// (256-bit) or 4 (512-bit) chains per instruction, 16 in all.
inline constexpr size_t kAesNiMaxCbcLanes128 = 8;
inline constexpr size_t kAesNiMaxCbcLanes = 16;

// True when this CPU has AES-NI and SSE4.1 (checked once).
bool AesNiAvailable();

// The widest registers the kernels use. k256 needs VAES + AVX2 and the OS saving YMM state;
// k512 needs VAES + AVX-512 F/BW and the OS saving ZMM state.
enum class AesNiWidth : uint8_t { k128 = 0, k256 = 1, k512 = 2 };
// What this CPU allows, lowered by SetAesNiWidthCapForTesting.
AesNiWidth AesNiBestWidth();
// Tests and benchmarks only: the kernels use no register wider than `cap` (k512 = no cap).
void SetAesNiWidthCapForTesting(AesNiWidth cap);
// Tests only (older name): true caps the width at k128, false lifts the cap.
void SetVaesDisabledForTesting(bool disabled);

// Expands a 32-byte key into the 15 encryption round keys.
void AesNiExpandKey256(const uint8_t key[32], uint8_t round_keys[kAes256RoundKeyBytes]);
// The 15 decryption round keys (equivalent inverse cipher) from the encryption ones.
void AesNiDecryptKeys256(const uint8_t enc_round_keys[kAes256RoundKeyBytes],
                         uint8_t dec_round_keys[kAes256RoundKeyBytes]);

// CTR with a 128-bit big-endian counter (OpenSSL's AES-CTR): encrypts `blocks` counter blocks
// starting at {counter_hi, counter_lo}, XORs them into in -> out (in == out allowed) and
// advances the counter. `in`/`out` need no alignment.
void AesNiCtrBlocks(const uint8_t* round_keys, uint64_t* counter_hi, uint64_t* counter_lo,
                    const uint8_t* in, uint8_t* out, size_t blocks);

// A CTR stream over bytes: first the unused tail of `keystream` (its `*used` bytes are spent),
// then whole counter blocks, then a fresh keystream block for the last partial one. Shared by
// AesCtr (round keys inline) and LeanAesCtr (round keys from a CtrKeyCache).
void AesNiCtrApply(const uint8_t* round_keys, uint64_t* counter_hi, uint64_t* counter_lo,
                   uint8_t keystream[16], uint8_t* used, const uint8_t* in, uint8_t* out,
                   size_t n);

// CBC decryption of one chain (parallel: every block needs only ciphertext): `iv` is the
// previous ciphertext block (updated), `blocks` blocks from in to out. in == out is allowed;
// otherwise the buffers must not overlap. No alignment needed.
void AesNiCbcDecrypt(const uint8_t* dec_round_keys, uint8_t* iv, const uint8_t* in,
                     uint8_t* out, size_t blocks);

// One CBC encryption chain: `iv` is the previous ciphertext block (updated), `blocks` blocks
// from in to out (in == out allowed).
struct AesNiCbcLane {
  const uint8_t* round_keys;
  uint8_t* iv;
  const uint8_t* in;
  uint8_t* out;
  size_t blocks;
};

// Encrypts every lane (any count). Up to kAesNiMaxCbcLanes chains advance together, which hides
// the serial latency of one chain; lanes are taken longest first and a lane that ends is
// refilled at once, so the group stays full for as long as there is work. Lanes must not
// overlap each other. Reorders `lanes`.
void AesNiCbcEncrypt(AesNiCbcLane* lanes, size_t count);

}  // namespace mtp
