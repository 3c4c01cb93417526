// AES-NI kernels: AES-256 key expansion, CTR and CBC decryption 16 blocks wide on VAES-512
// (8 on VAES-256 or 128-bit AES-NI), and interleaved multi-chain CBC encryption.
// Every function carrying intrinsics is compiled for its own target attribute, so the rest of
// the build needs no -maes/-mavx512f and the dispatch stays a run-time decision (AesNiBestWidth).
#include "crypto/aes_ni.h"

#include <cpuid.h>
// GCC 12's AVX-512 headers fill "don't care" operands with a self-initialised variable
// (_mm512_undefined_epi32), which -Wuninitialized reports inside the header at each use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <atomic>
#include <cstring>

namespace mtp {
namespace {

#define MTP_AESNI __attribute__((target("aes,sse4.1")))
#define MTP_VAES __attribute__((target("aes,sse4.1,avx2,vaes")))
#define MTP_VAES512 __attribute__((target("aes,sse4.1,avx2,vaes,avx512f,avx512bw")))

// ---- CPU features ----------------------------------------------------------------------------

std::atomic<uint8_t> width_cap{static_cast<uint8_t>(AesNiWidth::k512)};

// Read from CPUID with the OS state checked through XGETBV, rather than through
// __builtin_cpu_supports: clang 14 (Debian 12) does not know the "vaes" feature string, and
// the builtin does not say whether the kernel saves the wide registers.
AesNiWidth DetectWidth() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return AesNiWidth::k128;
  constexpr unsigned kOsxsave = 1u << 27;  // CPUID.1:ECX: XGETBV usable
  constexpr unsigned kAvx = 1u << 28;      // CPUID.1:ECX
  if ((ecx & kOsxsave) == 0 || (ecx & kAvx) == 0) return AesNiWidth::k128;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  constexpr unsigned kXmmYmmState = 0x6;     // XCR0 bits 1 (SSE) and 2 (AVX)
  constexpr unsigned kZmmState = 0x6 | 0xe0;  // and bits 5-7 (opmask, ZMM0-15 high, ZMM16-31)
  if ((xcr0_lo & kXmmYmmState) != kXmmYmmState) return AesNiWidth::k128;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return AesNiWidth::k128;
  constexpr unsigned kAvx2 = 1u << 5;       // CPUID.(7,0):EBX
  constexpr unsigned kAvx512f = 1u << 16;   // CPUID.(7,0):EBX
  constexpr unsigned kAvx512bw = 1u << 30;  // CPUID.(7,0):EBX
  constexpr unsigned kVaes = 1u << 9;       // CPUID.(7,0):ECX
  if ((ebx & kAvx2) == 0 || (ecx & kVaes) == 0) return AesNiWidth::k128;
  if ((ebx & kAvx512f) != 0 && (ebx & kAvx512bw) != 0 && (xcr0_lo & kZmmState) == kZmmState) {
    return AesNiWidth::k512;
  }
  return AesNiWidth::k256;
}

AesNiWidth Width() {
  static const AesNiWidth detected = AesNiAvailable() ? DetectWidth() : AesNiWidth::k128;
  return std::min(detected, static_cast<AesNiWidth>(width_cap.load(std::memory_order_relaxed)));
}

// ---- key schedule --------------------------------------------------------------------------

// The "previous round key shifted and folded" step shared by both halves of the schedule.
MTP_AESNI inline __m128i FoldWords(__m128i k) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, _mm_slli_si128(k, 4));
}

template <int kRcon>
MTP_AESNI inline __m128i NextEvenKey(__m128i even, __m128i odd) {
  __m128i assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(odd, kRcon), 0xff);
  return _mm_xor_si128(FoldWords(even), assist);
}

MTP_AESNI inline __m128i NextOddKey(__m128i odd, __m128i even) {
  __m128i assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0), 0xaa);
  return _mm_xor_si128(FoldWords(odd), assist);
}

MTP_AESNI inline __m128i Load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
MTP_AESNI inline void Store(uint8_t* p, __m128i v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

// ---- CTR -------------------------------------------------------------------------------------
// Counter blocks are built in vector registers as little-endian 128-bit numbers {lo, hi} and
// byte-reversed into big-endian blocks. A wide pass adds to the low word only, so the callers
// hand it a span in which the low word does not wrap; the rare carry is done one block at a
// time.

MTP_AESNI inline __m128i ByteReverse128() {
  return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// N < 8 blocks, no low-word wrap inside: independent blocks the core overlaps (N is a
// template argument so the blocks stay in registers).
template <size_t N>
MTP_AESNI void CtrTail(const uint8_t* round_keys, uint64_t hi, uint64_t lo, const uint8_t* in,
                       uint8_t* out) {
  __m128i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = Load(round_keys + 16 * r);
  const __m128i reverse = ByteReverse128();
  const __m128i one = _mm_set_epi64x(0, 1);
  __m128i counter = _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
  __m128i x[N];
  for (size_t j = 0; j < N; ++j) {
    x[j] = _mm_xor_si128(_mm_shuffle_epi8(counter, reverse), rk[0]);
    counter = _mm_add_epi64(counter, one);
  }
  for (int r = 1; r < 14; ++r) {
    for (size_t j = 0; j < N; ++j) x[j] = _mm_aesenc_si128(x[j], rk[r]);
  }
  for (size_t j = 0; j < N; ++j) {
    x[j] = _mm_aesenclast_si128(x[j], rk[14]);
    Store(out + 16 * j, _mm_xor_si128(x[j], Load(in + 16 * j)));
  }
}

// Any n < 8, with the blocks of each count unrolled.
MTP_AESNI inline void CtrTailAny(const uint8_t* rk, uint64_t hi, uint64_t lo, const uint8_t* in,
                                 uint8_t* out, size_t n) {
  switch (n) {
    case 1:
      return CtrTail<1>(rk, hi, lo, in, out);
    case 2:
      return CtrTail<2>(rk, hi, lo, in, out);
    case 3:
      return CtrTail<3>(rk, hi, lo, in, out);
    case 4:
      return CtrTail<4>(rk, hi, lo, in, out);
    case 5:
      return CtrTail<5>(rk, hi, lo, in, out);
    case 6:
      return CtrTail<6>(rk, hi, lo, in, out);
    default:
      return CtrTail<7>(rk, hi, lo, in, out);
  }
}

// 8 blocks per iteration while `blocks` >= 8; returns the blocks done. No low-word wrap inside.
MTP_AESNI size_t Ctr128(const uint8_t* round_keys, uint64_t hi, uint64_t lo, const uint8_t* in,
                        uint8_t* out, size_t blocks) {
  __m128i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = Load(round_keys + 16 * r);
  const __m128i reverse = ByteReverse128();
  const __m128i one = _mm_set_epi64x(0, 1);
  __m128i counter = _mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo));
  size_t done = 0;
  for (; blocks - done >= 8; done += 8) {
    __m128i x[8];
    for (int j = 0; j < 8; ++j) {
      x[j] = _mm_xor_si128(_mm_shuffle_epi8(counter, reverse), rk[0]);
      counter = _mm_add_epi64(counter, one);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 8; ++j) x[j] = _mm_aesenc_si128(x[j], rk[r]);
    }
    for (int j = 0; j < 8; ++j) {
      x[j] = _mm_aesenclast_si128(x[j], rk[14]);
      Store(out + 16 * (done + j), _mm_xor_si128(x[j], Load(in + 16 * (done + j))));
    }
  }
  return done;
}

MTP_VAES size_t Ctr256(const uint8_t* round_keys, uint64_t hi, uint64_t lo, const uint8_t* in,
                       uint8_t* out, size_t blocks) {
  __m256i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = _mm256_broadcastsi128_si256(Load(round_keys + 16 * r));
  const __m256i reverse = _mm256_broadcastsi128_si256(ByteReverse128());
  const __m256i two = _mm256_set_epi64x(0, 2, 0, 2);
  __m256i counter = _mm256_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo + 1),
                                      static_cast<long long>(hi), static_cast<long long>(lo));
  size_t done = 0;
  for (; blocks - done >= 8; done += 8) {
    __m256i x[4];
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_xor_si256(_mm256_shuffle_epi8(counter, reverse), rk[0]);
      counter = _mm256_add_epi64(counter, two);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 4; ++j) x[j] = _mm256_aesenc_epi128(x[j], rk[r]);
    }
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_aesenclast_epi128(x[j], rk[14]);
      const size_t at = 16 * done + 32 * j;
      __m256i data = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + at));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + at), _mm256_xor_si256(x[j], data));
    }
  }
  _mm256_zeroupper();
  return done;
}

// 16 blocks per iteration (4 zmm), then one 8-block step on 2 zmm.
MTP_VAES512 size_t Ctr512(const uint8_t* round_keys, uint64_t hi, uint64_t lo,
                          const uint8_t* in, uint8_t* out, size_t blocks) {
  __m512i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = _mm512_broadcast_i32x4(Load(round_keys + 16 * r));
  const __m512i reverse = _mm512_broadcast_i32x4(ByteReverse128());
  const __m512i four = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
  const auto h = static_cast<long long>(hi);
  __m512i counter = _mm512_set_epi64(h, static_cast<long long>(lo + 3), h,
                                     static_cast<long long>(lo + 2), h,
                                     static_cast<long long>(lo + 1), h,
                                     static_cast<long long>(lo));
  size_t done = 0;
  for (; blocks - done >= 16; done += 16) {
    __m512i x[4];
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm512_xor_si512(_mm512_shuffle_epi8(counter, reverse), rk[0]);
      counter = _mm512_add_epi64(counter, four);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 4; ++j) x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
    }
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm512_aesenclast_epi128(x[j], rk[14]);
      const size_t at = 16 * done + 64 * j;
      __m512i data = _mm512_loadu_si512(in + at);
      _mm512_storeu_si512(out + at, _mm512_xor_si512(x[j], data));
    }
  }
  if (blocks - done >= 8) {
    __m512i x[2];
    for (int j = 0; j < 2; ++j) {
      x[j] = _mm512_xor_si512(_mm512_shuffle_epi8(counter, reverse), rk[0]);
      counter = _mm512_add_epi64(counter, four);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 2; ++j) x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
    }
    for (int j = 0; j < 2; ++j) {
      x[j] = _mm512_aesenclast_epi128(x[j], rk[14]);
      const size_t at = 16 * done + 64 * j;
      _mm512_storeu_si512(out + at, _mm512_xor_si512(x[j], _mm512_loadu_si512(in + at)));
    }
    done += 8;
  }
  _mm256_zeroupper();
  return done;
}

// ---- CBC decryption --------------------------------------------------------------------------
// P[i] = D(C[i]) ^ C[i-1]: all blocks independent. Each pass loads its ciphertext into
// registers before storing, and the previous-block vectors are built from those registers
// (never reloaded from memory), so in == out works.

MTP_AESNI size_t CbcDecrypt128(const __m128i* dk, __m128i* iv, const uint8_t* in, uint8_t* out,
                               size_t blocks) {
  __m128i prev = *iv;
  size_t done = 0;
  for (; blocks - done >= 8; done += 8) {
    __m128i c[8], x[8];
    for (int j = 0; j < 8; ++j) {
      c[j] = Load(in + 16 * (done + j));
      x[j] = _mm_xor_si128(c[j], dk[0]);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 8; ++j) x[j] = _mm_aesdec_si128(x[j], dk[r]);
    }
    for (int j = 0; j < 8; ++j) {
      x[j] = _mm_aesdeclast_si128(x[j], dk[14]);
      Store(out + 16 * (done + j), _mm_xor_si128(x[j], j == 0 ? prev : c[j - 1]));
    }
    prev = c[7];
  }
  for (; done < blocks; ++done) {
    __m128i c = Load(in + 16 * done);
    __m128i x = _mm_xor_si128(c, dk[0]);
    for (int r = 1; r < 14; ++r) x = _mm_aesdec_si128(x, dk[r]);
    x = _mm_aesdeclast_si128(x, dk[14]);
    Store(out + 16 * done, _mm_xor_si128(x, prev));
    prev = c;
  }
  *iv = prev;
  return done;
}

// 8 blocks per iteration as 4 ymm; returns the blocks done (a multiple of 8).
MTP_VAES size_t CbcDecrypt256(const uint8_t* dec_round_keys, __m128i* iv, const uint8_t* in,
                              uint8_t* out, size_t blocks) {
  __m256i dk[15];
  for (int r = 0; r < 15; ++r) {
    dk[r] = _mm256_broadcastsi128_si256(Load(dec_round_keys + 16 * r));
  }
  // `last` holds the previous ciphertext block in its upper half.
  __m256i last = _mm256_broadcastsi128_si256(*iv);
  size_t done = 0;
  for (; blocks - done >= 8; done += 8) {
    __m256i c[4], x[4];
    for (int j = 0; j < 4; ++j) {
      c[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 16 * done + 32 * j));
      x[j] = _mm256_xor_si256(c[j], dk[0]);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 4; ++j) x[j] = _mm256_aesdec_epi128(x[j], dk[r]);
    }
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_aesdeclast_epi128(x[j], dk[14]);
      // {previous vector's high block, this vector's low block}
      __m256i prev = _mm256_permute2x128_si256(j == 0 ? last : c[j - 1], c[j], 0x21);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * done + 32 * j),
                          _mm256_xor_si256(x[j], prev));
    }
    last = c[3];
  }
  *iv = _mm256_extracti128_si256(last, 1);
  _mm256_zeroupper();
  return done;
}

// 16 blocks per iteration as 4 zmm, then one 8-block step on 2 zmm.
MTP_VAES512 size_t CbcDecrypt512(const uint8_t* dec_round_keys, __m128i* iv, const uint8_t* in,
                                 uint8_t* out, size_t blocks) {
  __m512i dk[15];
  for (int r = 0; r < 15; ++r) dk[r] = _mm512_broadcast_i32x4(Load(dec_round_keys + 16 * r));
  // `last` holds the previous ciphertext block in its top 128 bits.
  __m512i last = _mm512_broadcast_i32x4(*iv);
  size_t done = 0;
  for (; blocks - done >= 16; done += 16) {
    __m512i c[4], x[4];
    for (int j = 0; j < 4; ++j) {
      c[j] = _mm512_loadu_si512(in + 16 * done + 64 * j);
      x[j] = _mm512_xor_si512(c[j], dk[0]);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 4; ++j) x[j] = _mm512_aesdec_epi128(x[j], dk[r]);
    }
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm512_aesdeclast_epi128(x[j], dk[14]);
      // {previous vector's top block, this vector's blocks 0-2}
      __m512i prev = _mm512_alignr_epi64(c[j], j == 0 ? last : c[j - 1], 6);
      _mm512_storeu_si512(out + 16 * done + 64 * j, _mm512_xor_si512(x[j], prev));
    }
    last = c[3];
  }
  if (blocks - done >= 8) {
    __m512i c[2], x[2];
    for (int j = 0; j < 2; ++j) {
      c[j] = _mm512_loadu_si512(in + 16 * done + 64 * j);
      x[j] = _mm512_xor_si512(c[j], dk[0]);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 2; ++j) x[j] = _mm512_aesdec_epi128(x[j], dk[r]);
    }
    for (int j = 0; j < 2; ++j) {
      x[j] = _mm512_aesdeclast_epi128(x[j], dk[14]);
      __m512i prev = _mm512_alignr_epi64(c[j], j == 0 ? last : c[j - 1], 6);
      _mm512_storeu_si512(out + 16 * done + 64 * j, _mm512_xor_si512(x[j], prev));
    }
    last = c[1];
    done += 8;
  }
  *iv = _mm512_extracti32x4_epi32(last, 3);
  _mm256_zeroupper();
  return done;
}

// ---- CBC encryption, interleaved chains ------------------------------------------------------

// Encrypts `steps` blocks of each of K independent chains. The plaintext XOR with round key 0
// is folded into the previous round's last key (AESENCLAST ends with an XOR), so the chain's
// critical path is the 14 AES rounds alone: x' = aesenclast(x, rk14 ^ rk0 ^ p) and the
// ciphertext c = x' ^ rk0 ^ p comes off the path.
template <size_t K>
MTP_AESNI void CbcSteps(AesNiCbcLane* const* lanes, size_t steps) {
  __m128i state[K];  // the next block's state after round 0
  __m128i whiten[K];  // rk0 ^ plaintext of the block being encrypted
  const uint8_t* in[K];
  uint8_t* out[K];
  const __m128i* rk[K];
  for (size_t j = 0; j < K; ++j) {
    in[j] = lanes[j]->in;
    out[j] = lanes[j]->out;
    rk[j] = reinterpret_cast<const __m128i*>(lanes[j]->round_keys);
    whiten[j] = _mm_xor_si128(_mm_loadu_si128(rk[j]), Load(in[j]));
    state[j] = _mm_xor_si128(Load(lanes[j]->iv), whiten[j]);
  }
  for (size_t b = 0; b < steps; ++b) {
    for (int r = 1; r < 14; ++r) {
      for (size_t j = 0; j < K; ++j) {
        state[j] = _mm_aesenc_si128(state[j], _mm_loadu_si128(rk[j] + r));
      }
    }
    for (size_t j = 0; j < K; ++j) {
      const __m128i last = _mm_loadu_si128(rk[j] + 14);
      // The next plaintext block is read before this one's ciphertext is stored (in == out).
      const __m128i next_whiten =
          b + 1 < steps ? _mm_xor_si128(_mm_loadu_si128(rk[j]), Load(in[j] + 16 * (b + 1)))
                        : _mm_loadu_si128(rk[j]);
      const __m128i cipher_to_next = _mm_aesenclast_si128(state[j], _mm_xor_si128(last, next_whiten));
      Store(out[j] + 16 * b, _mm_xor_si128(cipher_to_next, next_whiten));
      state[j] = cipher_to_next;
    }
  }
  for (size_t j = 0; j < K; ++j) {
    // After the last step state = c ^ rk0 (next_whiten was rk0 alone).
    Store(lanes[j]->iv, _mm_xor_si128(state[j], _mm_loadu_si128(rk[j])));
    lanes[j]->in += 16 * steps;
    lanes[j]->out += 16 * steps;
    lanes[j]->blocks -= steps;
  }
}

// The same on VAES-512: lane j lives in 128-bit slot j % 4 of vector j / 4, with its own round
// keys gathered into the same slots, so 16 chains take 4 instructions per round instead of 16.
// Slots past K compute garbage that is never stored.
MTP_VAES512 inline __m512i InsertSlot(__m512i v, __m128i x, size_t slot) {
  switch (slot) {
    case 1:
      return _mm512_inserti32x4(v, x, 1);
    case 2:
      return _mm512_inserti32x4(v, x, 2);
    case 3:
      return _mm512_inserti32x4(v, x, 3);
    default:
      return _mm512_mask_broadcast_i32x4(v, 0x000f, x);  // slot 0, upper slots kept
  }
}

MTP_VAES512 inline __m128i ExtractSlot(__m512i v, size_t slot) {
  switch (slot) {
    case 1:
      return _mm512_extracti32x4_epi32(v, 1);
    case 2:
      return _mm512_extracti32x4_epi32(v, 2);
    case 3:
      return _mm512_extracti32x4_epi32(v, 3);
    default:
      return _mm512_castsi512_si128(v);
  }
}

// Block b of every lane's input, XORed with round key 0.
template <size_t K>
MTP_VAES512 inline void Whitened512(const uint8_t* const* in, size_t b, const __m512i* rk0,
                                    __m512i* w) {
  for (size_t z = 0; z < (K + 3) / 4; ++z) {
    __m512i v = _mm512_broadcast_i32x4(Load(in[4 * z] + 16 * b));
    for (size_t slot = 1; slot < 4 && 4 * z + slot < K; ++slot) {
      v = InsertSlot(v, Load(in[4 * z + slot] + 16 * b), slot);
    }
    w[z] = _mm512_xor_si512(v, rk0[z]);
  }
}

template <size_t K>
MTP_VAES512 void CbcSteps512(AesNiCbcLane* const* lanes, size_t steps) {
  constexpr size_t kVectors = (K + 3) / 4;
  __m512i rk[15][kVectors];
  const uint8_t* in[K];
  uint8_t* out[K];
  for (size_t j = 0; j < K; ++j) {
    in[j] = lanes[j]->in;
    out[j] = lanes[j]->out;
  }
  for (int r = 0; r < 15; ++r) {
    for (size_t z = 0; z < kVectors; ++z) {
      __m512i v = _mm512_broadcast_i32x4(Load(lanes[4 * z]->round_keys + 16 * r));
      for (size_t slot = 1; slot < 4 && 4 * z + slot < K; ++slot) {
        v = InsertSlot(v, Load(lanes[4 * z + slot]->round_keys + 16 * r), slot);
      }
      rk[r][z] = v;
    }
  }
  __m512i state[kVectors];
  __m512i whiten[kVectors];
  Whitened512<K>(in, 0, rk[0], whiten);
  for (size_t z = 0; z < kVectors; ++z) {
    __m512i iv = _mm512_broadcast_i32x4(Load(lanes[4 * z]->iv));
    for (size_t slot = 1; slot < 4 && 4 * z + slot < K; ++slot) {
      iv = InsertSlot(iv, Load(lanes[4 * z + slot]->iv), slot);
    }
    state[z] = _mm512_xor_si512(iv, whiten[z]);
  }
  for (size_t b = 0; b < steps; ++b) {
    for (int r = 1; r < 14; ++r) {
      for (size_t z = 0; z < kVectors; ++z) state[z] = _mm512_aesenc_epi128(state[z], rk[r][z]);
    }
    __m512i next[kVectors];
    if (b + 1 < steps) {
      Whitened512<K>(in, b + 1, rk[0], next);  // read before this block's ciphertext is stored (in == out)
    } else {
      for (size_t z = 0; z < kVectors; ++z) next[z] = rk[0][z];
    }
    for (size_t z = 0; z < kVectors; ++z) {
      state[z] = _mm512_aesenclast_epi128(state[z], _mm512_xor_si512(rk[14][z], next[z]));
      const __m512i cipher = _mm512_xor_si512(state[z], next[z]);
      for (size_t slot = 0; slot < 4 && 4 * z + slot < K; ++slot) {
        Store(out[4 * z + slot] + 16 * b, ExtractSlot(cipher, slot));
      }
    }
  }
  for (size_t z = 0; z < kVectors; ++z) {
    const __m512i last = _mm512_xor_si512(state[z], rk[0][z]);
    for (size_t slot = 0; slot < 4 && 4 * z + slot < K; ++slot) {
      Store(lanes[4 * z + slot]->iv, ExtractSlot(last, slot));
    }
  }
  for (size_t j = 0; j < K; ++j) {
    lanes[j]->in += 16 * steps;
    lanes[j]->out += 16 * steps;
    lanes[j]->blocks -= steps;
  }
  _mm256_zeroupper();
}

// The same on VAES-256 (CPUs without AVX-512, e.g. Zen 3): 2 chains per ymm, 16 in 8 vectors.
MTP_VAES inline __m256i Gather256(const uint8_t* first, const uint8_t* second) {
  __m256i v = _mm256_broadcastsi128_si256(Load(first));
  return second == nullptr ? v : _mm256_inserti128_si256(v, Load(second), 1);
}

template <size_t K>
MTP_VAES void CbcSteps256(AesNiCbcLane* const* lanes, size_t steps) {
  constexpr size_t kVectors = (K + 1) / 2;
  auto second = [lanes](size_t z) { return 2 * z + 1 < K ? lanes[2 * z + 1] : nullptr; };
  __m256i rk[15][kVectors];
  const uint8_t* in[2 * kVectors];
  uint8_t* out[K];
  for (size_t j = 0; j < K; ++j) {
    in[j] = lanes[j]->in;
    out[j] = lanes[j]->out;
  }
  if constexpr (K % 2 != 0) in[K] = nullptr;
  for (int r = 0; r < 15; ++r) {
    for (size_t z = 0; z < kVectors; ++z) {
      const AesNiCbcLane* b = second(z);
      rk[r][z] = Gather256(lanes[2 * z]->round_keys + 16 * r,
                           b == nullptr ? nullptr : b->round_keys + 16 * r);
    }
  }
  __m256i state[kVectors];
  for (size_t z = 0; z < kVectors; ++z) {
    const AesNiCbcLane* b = second(z);
    const __m256i whiten = _mm256_xor_si256(
        Gather256(in[2 * z], in[2 * z + 1]), rk[0][z]);
    state[z] = _mm256_xor_si256(Gather256(lanes[2 * z]->iv, b == nullptr ? nullptr : b->iv),
                                whiten);
  }
  for (size_t b = 0; b < steps; ++b) {
    for (int r = 1; r < 14; ++r) {
      for (size_t z = 0; z < kVectors; ++z) state[z] = _mm256_aesenc_epi128(state[z], rk[r][z]);
    }
    __m256i next[kVectors];
    for (size_t z = 0; z < kVectors; ++z) {
      // Read before this block's ciphertext is stored (in == out).
      next[z] = b + 1 < steps
                    ? _mm256_xor_si256(
                          Gather256(in[2 * z] + 16 * (b + 1),
                                    in[2 * z + 1] == nullptr ? nullptr : in[2 * z + 1] + 16 * (b + 1)),
                          rk[0][z])
                    : rk[0][z];
    }
    for (size_t z = 0; z < kVectors; ++z) {
      state[z] = _mm256_aesenclast_epi128(state[z], _mm256_xor_si256(rk[14][z], next[z]));
      const __m256i cipher = _mm256_xor_si256(state[z], next[z]);
      Store(out[2 * z] + 16 * b, _mm256_castsi256_si128(cipher));
      if (2 * z + 1 < K) Store(out[2 * z + 1] + 16 * b, _mm256_extracti128_si256(cipher, 1));
    }
  }
  for (size_t z = 0; z < kVectors; ++z) {
    const __m256i last = _mm256_xor_si256(state[z], rk[0][z]);
    Store(lanes[2 * z]->iv, _mm256_castsi256_si128(last));
    if (2 * z + 1 < K) Store(lanes[2 * z + 1]->iv, _mm256_extracti128_si256(last, 1));
  }
  for (size_t j = 0; j < K; ++j) {
    lanes[j]->in += 16 * steps;
    lanes[j]->out += 16 * steps;
    lanes[j]->blocks -= steps;
  }
  _mm256_zeroupper();
}

using StepFn = void (*)(AesNiCbcLane* const*, size_t);
constexpr StepFn kSteps512[kAesNiMaxCbcLanes + 1] = {
    nullptr,          CbcSteps512<1>,  CbcSteps512<2>,  CbcSteps512<3>,  CbcSteps512<4>,
    CbcSteps512<5>,   CbcSteps512<6>,  CbcSteps512<7>,  CbcSteps512<8>,  CbcSteps512<9>,
    CbcSteps512<10>,  CbcSteps512<11>, CbcSteps512<12>, CbcSteps512<13>, CbcSteps512<14>,
    CbcSteps512<15>,  CbcSteps512<16>,
};
constexpr StepFn kSteps256[kAesNiMaxCbcLanes + 1] = {
    nullptr,          CbcSteps256<1>,  CbcSteps256<2>,  CbcSteps256<3>,  CbcSteps256<4>,
    CbcSteps256<5>,   CbcSteps256<6>,  CbcSteps256<7>,  CbcSteps256<8>,  CbcSteps256<9>,
    CbcSteps256<10>,  CbcSteps256<11>, CbcSteps256<12>, CbcSteps256<13>, CbcSteps256<14>,
    CbcSteps256<15>,  CbcSteps256<16>,
};
constexpr StepFn kSteps128[kAesNiMaxCbcLanes128 + 1] = {
    nullptr,     CbcSteps<1>, CbcSteps<2>, CbcSteps<3>, CbcSteps<4>,
    CbcSteps<5>, CbcSteps<6>, CbcSteps<7>, CbcSteps<8>,
};

}  // namespace

void SetAesNiWidthCapForTesting(AesNiWidth cap) {
  width_cap.store(static_cast<uint8_t>(cap), std::memory_order_relaxed);
}

void SetVaesDisabledForTesting(bool disabled) {
  SetAesNiWidthCapForTesting(disabled ? AesNiWidth::k128 : AesNiWidth::k512);
}

AesNiWidth AesNiBestWidth() { return Width(); }

bool AesNiAvailable() {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
  }();
  return available;
}

MTP_AESNI void AesNiExpandKey256(const uint8_t key[32], uint8_t round_keys[kAes256RoundKeyBytes]) {
  __m128i even = Load(key);
  __m128i odd = Load(key + 16);
  Store(round_keys, even);
  Store(round_keys + 16, odd);
  even = NextEvenKey<0x01>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 32, even);
  Store(round_keys + 48, odd);
  even = NextEvenKey<0x02>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 64, even);
  Store(round_keys + 80, odd);
  even = NextEvenKey<0x04>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 96, even);
  Store(round_keys + 112, odd);
  even = NextEvenKey<0x08>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 128, even);
  Store(round_keys + 144, odd);
  even = NextEvenKey<0x10>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 160, even);
  Store(round_keys + 176, odd);
  even = NextEvenKey<0x20>(even, odd);
  odd = NextOddKey(odd, even);
  Store(round_keys + 192, even);
  Store(round_keys + 208, odd);
  even = NextEvenKey<0x40>(even, odd);
  Store(round_keys + 224, even);
}

MTP_AESNI void AesNiDecryptKeys256(const uint8_t enc_round_keys[kAes256RoundKeyBytes],
                                   uint8_t dec_round_keys[kAes256RoundKeyBytes]) {
  Store(dec_round_keys, Load(enc_round_keys + 16 * 14));
  for (int r = 1; r < 14; ++r) {
    Store(dec_round_keys + 16 * r, _mm_aesimc_si128(Load(enc_round_keys + 16 * (14 - r))));
  }
  Store(dec_round_keys + 16 * 14, Load(enc_round_keys));
}

MTP_AESNI void AesNiCtrBlocks(const uint8_t* round_keys, uint64_t* counter_hi,
                              uint64_t* counter_lo, const uint8_t* in, uint8_t* out,
                              size_t blocks) {
  uint64_t hi = *counter_hi;
  uint64_t lo = *counter_lo;
  while (blocks > 0) {
    // The passes add to the low word only: give them the span before it wraps (at least 1).
    const uint64_t until_wrap = uint64_t{0} - lo;  // 0 means 2^64
    const size_t span = until_wrap != 0 && until_wrap < blocks ? until_wrap : blocks;
    size_t done = span;
    if (span < 8) {
      CtrTailAny(round_keys, hi, lo, in, out, span);
    } else {
      const AesNiWidth width = Width();
      if (width == AesNiWidth::k512) {
        done = Ctr512(round_keys, hi, lo, in, out, span);
      } else if (width == AesNiWidth::k256) {
        done = Ctr256(round_keys, hi, lo, in, out, span);
      } else {
        done = Ctr128(round_keys, hi, lo, in, out, span);
      }
    }
    lo += done;
    if (lo == 0) ++hi;  // the span ended exactly at the wrap
    in += 16 * done;
    out += 16 * done;
    blocks -= done;
  }
  *counter_hi = hi;
  *counter_lo = lo;
}

MTP_AESNI void AesNiCbcDecrypt(const uint8_t* dec_round_keys, uint8_t* iv, const uint8_t* in,
                               uint8_t* out, size_t blocks) {
  __m128i chain = Load(iv);
  const AesNiWidth width = Width();
  size_t done = 0;
  if (blocks >= 8 && width == AesNiWidth::k512) {
    done = CbcDecrypt512(dec_round_keys, &chain, in, out, blocks);
  } else if (blocks >= 8 && width == AesNiWidth::k256) {
    done = CbcDecrypt256(dec_round_keys, &chain, in, out, blocks);
  }
  if (done < blocks) {
    __m128i dk[15];
    for (int r = 0; r < 15; ++r) dk[r] = Load(dec_round_keys + 16 * r);
    CbcDecrypt128(dk, &chain, in + 16 * done, out + 16 * done, blocks - done);
  }
  Store(iv, chain);
}

void AesNiCbcEncrypt(AesNiCbcLane* lanes, size_t count) {
  // Longest first: the long chains start at once and the short ones fill the lanes that free
  // up, so the pass ends with as few lanes idle as the job sizes allow.
  std::sort(lanes, lanes + count,
            [](const AesNiCbcLane& a, const AesNiCbcLane& b) { return a.blocks > b.blocks; });
  const AesNiWidth width = Width();
  const size_t max_lanes = width == AesNiWidth::k128 ? kAesNiMaxCbcLanes128 : kAesNiMaxCbcLanes;
  const StepFn* steps_fn = width == AesNiWidth::k512   ? kSteps512
                           : width == AesNiWidth::k256 ? kSteps256
                                                       : kSteps128;
  AesNiCbcLane* group[kAesNiMaxCbcLanes];
  size_t next = 0;  // lanes before `next` have been taken into a group
  size_t active = 0;
  for (;;) {
    // Keep the group full: finished lanes drop out, waiting ones join.
    size_t kept = 0;
    for (size_t j = 0; j < active; ++j) {
      if (group[j]->blocks > 0) group[kept++] = group[j];
    }
    active = kept;
    while (active < max_lanes && next < count) {
      if (lanes[next].blocks > 0) group[active++] = &lanes[next];
      ++next;
    }
    if (active == 0) return;
    size_t steps = group[0]->blocks;
    for (size_t j = 1; j < active; ++j) steps = std::min(steps, group[j]->blocks);
    steps_fn[active](group, steps);
  }
}

void AesNiCtrApply(const uint8_t* round_keys, uint64_t* counter_hi, uint64_t* counter_lo,
                   uint8_t keystream[16], uint8_t* used, const uint8_t* in, uint8_t* out,
                   size_t n) {
  while (n > 0 && *used < 16) {
    *out++ = *in++ ^ keystream[(*used)++];
    --n;
  }
  const size_t blocks = n / 16;
  if (blocks > 0) {
    AesNiCtrBlocks(round_keys, counter_hi, counter_lo, in, out, blocks);
    in += blocks * 16;
    out += blocks * 16;
    n -= blocks * 16;
  }
  if (n > 0) {
    std::memset(keystream, 0, 16);
    AesNiCtrBlocks(round_keys, counter_hi, counter_lo, keystream, keystream, 1);
    for (size_t i = 0; i < n; ++i) out[i] = in[i] ^ keystream[i];
    *used = static_cast<uint8_t>(n);
  }
}

}  // namespace mtp
