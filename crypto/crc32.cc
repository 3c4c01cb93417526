// CRC tables (slicing-by-8) built at compile time. Picked at run time (CPUID, once): both CRCs
// fold with carry-less multiplication on VPCLMULQDQ-512 from 64-128 bytes up; shorter
// CRC-32C inputs (or all, without that) take the SSE4.2 crc32 instruction (three interleaved
// streams on long inputs), shorter CRC-32 ones the tables.
#include "crypto/crc32.h"

#include <array>
#include <atomic>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
// GCC 12's AVX-512 headers fill "don't care" operands with a self-initialised variable, which
// -Wuninitialized reports inside the header at each use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace mtp {
namespace {

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables(uint32_t poly) {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kCrc32Tables = MakeTables(0xEDB88320u);
constexpr Tables kCrc32cTables = MakeTables(0x82F63B78u);

uint32_t SliceBy8(const Tables& t, const uint8_t* p, size_t n, uint32_t crc) {
  crc = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= crc;
    crc = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^
          t[4][(v >> 24) & 0xff] ^ t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^
          t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

#if defined(__x86_64__)
// The crc32 instruction has a latency of 3 cycles and a throughput of 1 per cycle: long inputs
// run three independent streams of kStreamBytes each and fold them together with a table that
// advances a CRC state over kStreamBytes zero bytes (a linear map, applied byte by byte).
constexpr size_t kStreamBytes = 1024;

struct ZeroShift {
  std::array<std::array<uint32_t, 256>, 4> t{};
  uint32_t operator()(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

__attribute__((target("sse4.2"))) ZeroShift MakeZeroShift() {
  uint32_t basis[32];
  for (int i = 0; i < 32; ++i) {
    uint64_t c = uint64_t{1} << i;
    for (size_t k = 0; k < kStreamBytes / 8; ++k) c = _mm_crc32_u64(c, 0);
    basis[i] = static_cast<uint32_t>(c);
  }
  ZeroShift z;
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t v = 0;
      for (int j = 0; j < 8; ++j) {
        if ((b >> j) & 1) v ^= basis[8 * k + j];
      }
      z.t[k][b] = v;
    }
  }
  return z;
}

__attribute__((target("sse4.2"))) uint32_t Crc32cHw(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = ~crc;
  if (n >= 3 * kStreamBytes) {
    static const ZeroShift shift = MakeZeroShift();
    while (n >= 3 * kStreamBytes) {
      uint64_t c1 = 0;
      uint64_t c2 = 0;
      for (size_t i = 0; i < kStreamBytes; i += 8) {
        uint64_t v0, v1, v2;
        std::memcpy(&v0, p + i, 8);
        std::memcpy(&v1, p + kStreamBytes + i, 8);
        std::memcpy(&v2, p + 2 * kStreamBytes + i, 8);
        c = _mm_crc32_u64(c, v0);
        c1 = _mm_crc32_u64(c1, v1);
        c2 = _mm_crc32_u64(c2, v2);
      }
      c = shift(shift(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1)) ^
          static_cast<uint32_t>(c2);
      p += 3 * kStreamBytes;
      n -= 3 * kStreamBytes;
    }
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

bool HaveSse42() {
  static const bool kHave = __builtin_cpu_supports("sse4.2");
  return kHave;
}

// ---- folding with carry-less multiplication (VPCLMULQDQ on 512-bit registers) ----------------
// In the reflected bit order of both CRCs a 16-byte chunk is the polynomial whose x^127 term is
// bit 0 of byte 0. Moving a chunk a = a1 x^64 + a0 (a1: bytes 0-7) forward by D bits, onto
// the chunk D bits later, adds a1 * (x^(D+64) mod P) + a0 * (x^D mod P): two 64x32-bit
// carry-less products that fit in the later chunk's 128 bits. PCLMULQDQ on reflected operands
// yields the product times x, so the constants are x^(D+63) and x^(D-1) mod P, reflected.
// The last 16-byte remainder r is reduced as a 16-byte message from a zero state: for CRC-32C
// with the crc32 instruction (r x^32 mod P is crc32(crc32(0, r1), r0)), for CRC-32 with the
// tables.

constexpr uint64_t kPolyCrc32c = 0x11EDC6F41ull;  // with the x^32 term
constexpr uint64_t kPolyCrc32 = 0x104C11DB7ull;

// x^n mod P, reflected into the top 32 bits of a qword.
constexpr uint64_t XPowModP(uint64_t poly, size_t n) {
  uint64_t r = 1;
  for (size_t i = 0; i < n; ++i) {
    r <<= 1;
    if ((r >> 32) != 0) r ^= poly;
  }
  uint64_t reflected = 0;
  for (int e = 0; e < 32; ++e) {
    if ((r >> e) & 1) reflected |= uint64_t{1} << (63 - e);
  }
  return reflected;
}

// {low qword: for bytes 0-7 of a chunk, high qword: for bytes 8-15} to move it by `bits`.
struct FoldConstants {
  uint64_t lo;
  uint64_t hi;
};
constexpr FoldConstants Fold(uint64_t poly, size_t bits) {
  return {XPowModP(poly, bits + 63), XPowModP(poly, bits - 1)};
}

template <uint64_t kPoly>
struct FoldTable {
  static constexpr FoldConstants k2048 = Fold(kPoly, 2048);  // 4 accumulators of 64 bytes
  static constexpr FoldConstants k512 = Fold(kPoly, 512);    // one 64-byte vector
  static constexpr FoldConstants k384 = Fold(kPoly, 384);    // lanes 0-2 of the last vector
  static constexpr FoldConstants k256 = Fold(kPoly, 256);    // onto lane 3
  static constexpr FoldConstants k128 = Fold(kPoly, 128);
};

#define MTP_CRC_FOLD __attribute__((target("sse4.2,pclmul,avx2,avx512f,avx512bw,vpclmulqdq")))

MTP_CRC_FOLD inline __m512i Broadcast(FoldConstants k) {
  return _mm512_broadcast_i32x4(
      _mm_set_epi64x(static_cast<long long>(k.hi), static_cast<long long>(k.lo)));
}

// Each 128-bit lane of x moved forward and XORed into `next`.
MTP_CRC_FOLD inline __m512i FoldInto(__m512i x, __m512i k, __m512i next) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

MTP_CRC_FOLD inline __m512i Load512(const uint8_t* p) { return _mm512_loadu_si512(p); }

// n >= 64.
template <uint64_t kPoly>
MTP_CRC_FOLD uint32_t CrcFold(const uint8_t* p, size_t n, uint32_t crc) {
  using K = FoldTable<kPoly>;
  // The running CRC enters as an XOR into the first 4 message bytes.
  const __m512i init = _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(~crc)));
  const __m512i k512 = Broadcast(K::k512);
  __m512i x;
  if (n >= 256) {
    const __m512i k2048 = Broadcast(K::k2048);
    __m512i x0 = _mm512_xor_si512(Load512(p), init);
    __m512i x1 = Load512(p + 64);
    __m512i x2 = Load512(p + 128);
    __m512i x3 = Load512(p + 192);
    p += 256;
    n -= 256;
    while (n >= 256) {
      x0 = FoldInto(x0, k2048, Load512(p));
      x1 = FoldInto(x1, k2048, Load512(p + 64));
      x2 = FoldInto(x2, k2048, Load512(p + 128));
      x3 = FoldInto(x3, k2048, Load512(p + 192));
      p += 256;
      n -= 256;
    }
    x = FoldInto(FoldInto(FoldInto(x0, k512, x1), k512, x2), k512, x3);
  } else {
    x = _mm512_xor_si512(Load512(p), init);
    p += 64;
    n -= 64;
  }
  while (n >= 64) {
    x = FoldInto(x, k512, Load512(p));
    p += 64;
    n -= 64;
  }
  // Lanes 0-2 onto lane 3 (its constants are zero, so its product is zero).
  const __m512i k_lanes = _mm512_set_epi64(
      0, 0, static_cast<long long>(K::k128.hi), static_cast<long long>(K::k128.lo),
      static_cast<long long>(K::k256.hi), static_cast<long long>(K::k256.lo),
      static_cast<long long>(K::k384.hi), static_cast<long long>(K::k384.lo));
  const __m512i folded = FoldInto(x, k_lanes, _mm512_setzero_si512());
  __m128i r = _mm_xor_si128(
      _mm_xor_si128(_mm512_castsi512_si128(folded), _mm512_extracti32x4_epi32(folded, 1)),
      _mm_xor_si128(_mm512_extracti32x4_epi32(folded, 2), _mm512_extracti32x4_epi32(x, 3)));
  const auto r1 = static_cast<uint64_t>(_mm_cvtsi128_si64(r));
  const auto r0 = static_cast<uint64_t>(_mm_extract_epi64(r, 1));
  _mm256_zeroupper();
  if constexpr (kPoly == kPolyCrc32c) {
    // The tail (< 64 bytes) on the crc32 instruction, from the raw state.
    const uint64_t c = _mm_crc32_u64(_mm_crc32_u64(0, r1), r0);
    return Crc32cHw(p, n, ~static_cast<uint32_t>(c));
  } else {
    uint8_t bytes[16];
    std::memcpy(bytes, &r1, 8);
    std::memcpy(bytes + 8, &r0, 8);
    // A zero raw state is ~0 in SliceBy8's terms; the tail continues from the result.
    return SliceBy8(kCrc32Tables, p, n, SliceBy8(kCrc32Tables, bytes, 16, 0xFFFFFFFFu));
  }
}

std::atomic<bool> fold_disabled{false};
std::atomic<bool> sse42_known{false};  // set once HaveSse42() has said yes

// VPCLMULQDQ + AVX-512 F/BW from CPUID, with the OS saving ZMM state (XGETBV).
__attribute__((noinline)) bool CpuCanFold() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kSse42 = 1u << 20, kPclmul = 1u << 1, kOsxsave = 1u << 27;
  if ((ecx & kSse42) == 0 || (ecx & kPclmul) == 0 || (ecx & kOsxsave) == 0) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  constexpr unsigned kZmmState = 0xe6;  // XCR0: SSE, AVX, opmask, ZMM upper halves, ZMM16-31
  if ((xcr0_lo & kZmmState) != kZmmState) return false;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  constexpr unsigned kAvx2 = 1u << 5, kAvx512f = 1u << 16, kAvx512bw = 1u << 30;  // EBX
  constexpr unsigned kVpclmulqdq = 1u << 10;                                       // ECX
  return (ebx & kAvx2) != 0 && (ebx & kAvx512f) != 0 && (ebx & kAvx512bw) != 0 &&
         (ecx & kVpclmulqdq) != 0;
}

inline __attribute__((always_inline)) bool UseFold() {
  static const bool kCan = CpuCanFold();
  return kCan && !fold_disabled.load(std::memory_order_relaxed);
}
#endif

}  // namespace

uint32_t Crc32(ByteSpan data, uint32_t crc) {
#if defined(__x86_64__)
  if (data.size() >= kCrc32FoldMinBytes && UseFold()) {
    return CrcFold<kPolyCrc32>(data.data(), data.size(), crc);
  }
#endif
  return SliceBy8(kCrc32Tables, data.data(), data.size(), crc);
}

void SetCrcFoldDisabledForTesting(bool disabled) {
#if defined(__x86_64__)
  fold_disabled.store(disabled, std::memory_order_relaxed);
#else
  (void)disabled;
#endif
}

bool CrcUsesFold() {
#if defined(__x86_64__)
  return UseFold();
#else
  return false;
#endif
}

namespace {

// Everything but a short input on the crc32 instruction once the CPU is known.
__attribute__((noinline)) uint32_t Crc32cDispatch(const uint8_t* p, size_t n, uint32_t crc) {
#if defined(__x86_64__)
  if (HaveSse42()) {
    sse42_known.store(true, std::memory_order_relaxed);
    if (n >= kCrc32cFoldMinBytes && UseFold()) return CrcFold<kPolyCrc32c>(p, n, crc);
    return Crc32cHw(p, n, crc);
  }
#endif
  return SliceBy8(kCrc32cTables, p, n, crc);
}

}  // namespace

uint32_t Crc32c(ByteSpan data, uint32_t crc) {
#if defined(__x86_64__)
  // Short inputs (most frames) reach the instruction by a tail call, no set-up on this path.
  if (data.size() < kCrc32cFoldMinBytes && sse42_known.load(std::memory_order_relaxed)) {
    return Crc32cHw(data.data(), data.size(), crc);
  }
#endif
  return Crc32cDispatch(data.data(), data.size(), crc);
}

}  // namespace mtp
