// AES-NI kernels: AES-256 key expansion, 8-wide CTR (on 256-bit VAES when present) and
// interleaved multi-chain CBC encryption.
// Every function carrying intrinsics is compiled for the "aes" target only, so the rest of the
// build needs no -maes and the dispatch stays a runtime decision (AesNiAvailable).
#include "crypto/aes_ni.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>

namespace mtp {
namespace {

#define MTP_AESNI __attribute__((target("aes,sse4.1")))

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

MTP_AESNI inline __m128i CounterBlock(uint64_t hi, uint64_t lo) {
  return _mm_set_epi64x(static_cast<long long>(__builtin_bswap64(lo)),
                        static_cast<long long>(__builtin_bswap64(hi)));
}

inline void Increment(uint64_t* hi, uint64_t* lo) {
  if (++*lo == 0) ++*hi;
}

MTP_AESNI inline __m128i Load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
MTP_AESNI inline void Store(uint8_t* p, __m128i v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}

// Encrypts K blocks of K independent chains for `steps` blocks each.
template <size_t K>
MTP_AESNI void CbcSteps(AesNiCbcLane* const* lanes, size_t steps) {
  __m128i state[K];
  const uint8_t* in[K];
  uint8_t* out[K];
  const __m128i* rk[K];
  for (size_t j = 0; j < K; ++j) {
    state[j] = Load(lanes[j]->iv);
    in[j] = lanes[j]->in;
    out[j] = lanes[j]->out;
    rk[j] = reinterpret_cast<const __m128i*>(lanes[j]->round_keys);
  }
  for (size_t b = 0; b < steps; ++b) {
    for (size_t j = 0; j < K; ++j) {
      state[j] = _mm_xor_si128(_mm_xor_si128(state[j], Load(in[j] + 16 * b)),
                               _mm_loadu_si128(rk[j]));
    }
    for (int r = 1; r < 14; ++r) {
      for (size_t j = 0; j < K; ++j) {
        state[j] = _mm_aesenc_si128(state[j], _mm_loadu_si128(rk[j] + r));
      }
    }
    for (size_t j = 0; j < K; ++j) {
      state[j] = _mm_aesenclast_si128(state[j], _mm_loadu_si128(rk[j] + 14));
      Store(out[j] + 16 * b, state[j]);
    }
  }
  for (size_t j = 0; j < K; ++j) {
    Store(lanes[j]->iv, state[j]);
    lanes[j]->in += 16 * steps;
    lanes[j]->out += 16 * steps;
    lanes[j]->blocks -= steps;
  }
}

#define MTP_VAES __attribute__((target("aes,sse4.1,avx2,vaes")))

std::atomic<bool> vaes_disabled{false};

// VAES + AVX2 read from CPUID, with the OS saving YMM state (XGETBV), rather than through
// __builtin_cpu_supports: clang 14 (Debian 12) does not know the "vaes" feature string.
bool CpuHasVaesAvx2() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kOsxsave = 1u << 27;  // CPUID.1:ECX: XGETBV usable
  constexpr unsigned kAvx = 1u << 28;      // CPUID.1:ECX
  if ((ecx & kOsxsave) == 0 || (ecx & kAvx) == 0) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  constexpr unsigned kXmmYmmState = 0x6;  // XCR0 bits 1 (SSE) and 2 (AVX)
  if ((xcr0_lo & kXmmYmmState) != kXmmYmmState) return false;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kAvx2 = 1u << 5;  // CPUID.(7,0):EBX
  constexpr unsigned kVaes = 1u << 9;  // CPUID.(7,0):ECX
  return (ebx & kAvx2) != 0 && (ecx & kVaes) != 0;
}

bool VaesAvailable() {
  static const bool available = CpuHasVaesAvx2();
  return available && !vaes_disabled.load(std::memory_order_relaxed);
}

// 8 blocks per iteration as 4 ymm pairs (VAES does two blocks per instruction); returns the
// blocks left (< 8) for the 128-bit loop.
MTP_VAES size_t CtrBlocksVaes(const uint8_t* round_keys, uint64_t* counter_hi,
                              uint64_t* counter_lo, const uint8_t** in, uint8_t** out,
                              size_t blocks) {
  __m256i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = _mm256_broadcastsi128_si256(Load(round_keys + 16 * r));
  uint64_t hi = *counter_hi;
  uint64_t lo = *counter_lo;
  const uint8_t* src = *in;
  uint8_t* dst = *out;
  while (blocks >= 8) {
    __m256i x[4];
    for (int j = 0; j < 4; ++j) {
      __m128i first = CounterBlock(hi, lo);
      Increment(&hi, &lo);
      __m128i second = CounterBlock(hi, lo);
      Increment(&hi, &lo);
      x[j] = _mm256_xor_si256(_mm256_set_m128i(second, first), rk[0]);
    }
    for (int r = 1; r < 14; ++r) {
      for (int j = 0; j < 4; ++j) x[j] = _mm256_aesenc_epi128(x[j], rk[r]);
    }
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_aesenclast_epi128(x[j], rk[14]);
      __m256i data = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * j));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * j), _mm256_xor_si256(x[j], data));
    }
    src += 128;
    dst += 128;
    blocks -= 8;
  }
  _mm256_zeroupper();
  *counter_hi = hi;
  *counter_lo = lo;
  *in = src;
  *out = dst;
  return blocks;
}

}  // namespace

void SetVaesDisabledForTesting(bool disabled) {
  vaes_disabled.store(disabled, std::memory_order_relaxed);
}

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

MTP_AESNI void AesNiCtrBlocks(const uint8_t* round_keys, uint64_t* counter_hi,
                              uint64_t* counter_lo, const uint8_t* in, uint8_t* out,
                              size_t blocks) {
  if (blocks >= 8 && VaesAvailable()) {
    blocks = CtrBlocksVaes(round_keys, counter_hi, counter_lo, &in, &out, blocks);
  }
  __m128i rk[15];
  for (int r = 0; r < 15; ++r) rk[r] = Load(round_keys + 16 * r);
  uint64_t hi = *counter_hi;
  uint64_t lo = *counter_lo;
  constexpr size_t kWide = 8;
  while (blocks >= kWide) {
    __m128i x[kWide];
    for (size_t j = 0; j < kWide; ++j) {
      x[j] = _mm_xor_si128(CounterBlock(hi, lo), rk[0]);
      Increment(&hi, &lo);
    }
    for (int r = 1; r < 14; ++r) {
      for (size_t j = 0; j < kWide; ++j) x[j] = _mm_aesenc_si128(x[j], rk[r]);
    }
    for (size_t j = 0; j < kWide; ++j) {
      x[j] = _mm_aesenclast_si128(x[j], rk[14]);
      Store(out + 16 * j, _mm_xor_si128(x[j], Load(in + 16 * j)));
    }
    in += 16 * kWide;
    out += 16 * kWide;
    blocks -= kWide;
  }
  for (; blocks > 0; --blocks) {
    __m128i x = _mm_xor_si128(CounterBlock(hi, lo), rk[0]);
    Increment(&hi, &lo);
    for (int r = 1; r < 14; ++r) x = _mm_aesenc_si128(x, rk[r]);
    x = _mm_aesenclast_si128(x, rk[14]);
    Store(out, _mm_xor_si128(x, Load(in)));
    in += 16;
    out += 16;
  }
  *counter_hi = hi;
  *counter_lo = lo;
}

void AesNiCbcEncrypt(AesNiCbcLane* lanes, size_t count) {
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
    while (active < kAesNiMaxCbcLanes && next < count) {
      if (lanes[next].blocks > 0) group[active++] = &lanes[next];
      ++next;
    }
    if (active == 0) return;
    size_t steps = group[0]->blocks;
    for (size_t j = 1; j < active; ++j) steps = std::min(steps, group[j]->blocks);
    switch (active) {
      case 1:
        CbcSteps<1>(group, steps);
        break;
      case 2:
        CbcSteps<2>(group, steps);
        break;
      case 3:
        CbcSteps<3>(group, steps);
        break;
      default:
        CbcSteps<4>(group, steps);
        break;
    }
  }
}

}  // namespace mtp
