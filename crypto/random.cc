// Random sources.
#include "crypto/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace mtp {

void SecureRandom(MutableByteSpan out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("fatal: OpenSSL RAND_bytes failed\n", stderr);
    std::abort();
  }
}

namespace {
struct Xoshiro256 {
  uint64_t s[4];
  Xoshiro256() {
    SecureRandom(MutableByteSpan(reinterpret_cast<uint8_t*>(s), sizeof(s)));
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    uint64_t result = Rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
};

Xoshiro256& ThreadGenerator() {
  thread_local Xoshiro256 gen;
  return gen;
}

}  // namespace

uint64_t FastRandom64() { return ThreadGenerator().Next(); }

void SeedFastRandomForTesting(uint64_t seed) {
  Xoshiro256& gen = ThreadGenerator();
  for (uint64_t& word : gen.s) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    word = z ^ (z >> 31);
  }
  if ((gen.s[0] | gen.s[1] | gen.s[2] | gen.s[3]) == 0) gen.s[0] = 1;
}

uint32_t FastRandomBelow(uint32_t bound) {
  return static_cast<uint32_t>(((FastRandom64() >> 32) * bound) >> 32);
}

}  // namespace mtp
