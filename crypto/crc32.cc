// CRC tables (slicing-by-8) built at compile time; CRC-32C uses the SSE4.2 instruction when
// the CPU has it (checked once at run time).
#include "crypto/crc32.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
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
#endif

}  // namespace

uint32_t Crc32(ByteSpan data, uint32_t crc) {
  return SliceBy8(kCrc32Tables, data.data(), data.size(), crc);
}

uint32_t Crc32c(ByteSpan data, uint32_t crc) {
#if defined(__x86_64__)
  if (HaveSse42()) return Crc32cHw(data.data(), data.size(), crc);
#endif
  return SliceBy8(kCrc32cTables, data.data(), data.size(), crc);
}

}  // namespace mtp
