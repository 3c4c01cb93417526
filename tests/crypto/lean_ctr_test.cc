// LeanAesCtr through CtrKeyCache: the same keystream as OpenSSL's AES-256-CTR whatever the
// cache evicts, on the AES-NI path and the OpenSSL fallback.
#include "crypto/lean_ctr.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace mtp {
namespace {

struct KeyIv {
  std::array<uint8_t, 32> key;
  std::array<uint8_t, 16> iv;
};

KeyIv RandomKeyIv(std::mt19937_64& rng) {
  KeyIv k;
  for (uint8_t& b : k.key) b = static_cast<uint8_t>(rng());
  for (uint8_t& b : k.iv) b = static_cast<uint8_t>(rng());
  // Some counters about to carry across the 64-bit halves.
  if (rng() % 4 == 0) std::fill(k.iv.begin() + 8, k.iv.end(), 0xff);
  return k;
}

// The reference: OpenSSL's EVP AES-256-CTR (AesCtr on its OpenSSL path).
AesCtr OpenSslStream(const KeyIv& k) {
  SetAesForceOpenSslForTesting(true);
  AesCtr ctr = AesCtr::Create(AesKey(k.key), AesIv(k.iv)).value();
  SetAesForceOpenSslForTesting(false);
  return ctr;
}

// `streams` streams applied in random interleaving and random lengths (0..300: partial blocks,
// whole blocks, a keystream tail) through a cache of `sets` sets; every output must match.
void ExpectMatchesOpenSsl(size_t streams, size_t sets, bool fallback, uint64_t* misses) {
  std::mt19937_64 rng(streams * 31 + sets);
  CtrKeyCache cache(sets);
  std::vector<LeanAesCtr> lean;
  std::vector<AesCtr> ref;
  for (size_t i = 0; i < streams; ++i) {
    const KeyIv k = RandomKeyIv(rng);
    ref.push_back(OpenSslStream(k));
    SetAesForceOpenSslForTesting(fallback);
    lean.push_back(LeanAesCtr::Create(cache, AesKey(k.key), AesIv(k.iv)).value());
    SetAesForceOpenSslForTesting(false);
  }
  for (int step = 0; step < 3000; ++step) {
    const size_t i = rng() % streams;
    std::vector<uint8_t> data(rng() % 301);
    for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> want = data;
    ref[i].Apply(MutableByteSpan(want.data(), want.size()));
    if (rng() % 2 == 0) {
      lean[i].Apply(cache, MutableByteSpan(data.data(), data.size()));
    } else {  // out of place
      std::vector<uint8_t> out(data.size());
      lean[i].Apply(cache, data.data(), out.data(), data.size());
      data = out;
    }
    ASSERT_EQ(data, want) << "stream " << i << " step " << step;
  }
  *misses = cache.misses();
}

TEST(LeanAesCtrTest, MatchesOpenSslWhileTheCacheHoldsEveryStream) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI";
  uint64_t misses = 0;
  ExpectMatchesOpenSsl(8, 64, false, &misses);
  EXPECT_LE(misses, 8u);  // one expansion per stream at most: nothing was evicted
}

TEST(LeanAesCtrTest, MatchesOpenSslWhenStreamsEvictEachOther) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI";
  uint64_t misses = 0;
  ExpectMatchesOpenSsl(40, 2, false, &misses);  // 40 streams, 4 entries
  EXPECT_GT(misses, 1000u);
}

TEST(LeanAesCtrTest, MatchesOpenSslOnTheFallbackPath) {
  uint64_t misses = 0;
  ExpectMatchesOpenSsl(6, 2, true, &misses);
  EXPECT_EQ(misses, 0u);  // the OpenSSL path keeps its own context, not the cache's keys
}

TEST(LeanAesCtrTest, TwoStreamsShareASetWithoutEvictingEachOther) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI";
  CtrKeyCache cache(1);  // one set of two ways
  std::mt19937_64 rng(5);
  const KeyIv a = RandomKeyIv(rng);
  const KeyIv b = RandomKeyIv(rng);
  LeanAesCtr x = LeanAesCtr::Create(cache, AesKey(a.key), AesIv(a.iv)).value();
  LeanAesCtr y = LeanAesCtr::Create(cache, AesKey(b.key), AesIv(b.iv)).value();
  std::array<uint8_t, 64> buf{};
  for (int i = 0; i < 10; ++i) {
    x.Apply(cache, MutableByteSpan(buf.data(), buf.size()));
    y.Apply(cache, MutableByteSpan(buf.data(), buf.size()));
  }
  EXPECT_EQ(cache.misses(), 2u);
  // A third stream evicts the least recently used one (x), which expands again when it comes
  // back; y stays.
  const KeyIv c = RandomKeyIv(rng);
  LeanAesCtr z = LeanAesCtr::Create(cache, AesKey(c.key), AesIv(c.iv)).value();
  z.Apply(cache, MutableByteSpan(buf.data(), buf.size()));
  EXPECT_EQ(cache.misses(), 3u);
  y.Apply(cache, MutableByteSpan(buf.data(), buf.size()));
  EXPECT_EQ(cache.misses(), 3u);
  x.Apply(cache, MutableByteSpan(buf.data(), buf.size()));
  EXPECT_EQ(cache.misses(), 4u);
}

TEST(LeanAesCtrTest, MovedStreamCarriesOnMidBlockAndTheSourceIsEmpty) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI";
  CtrKeyCache cache(4);
  std::mt19937_64 rng(9);
  const KeyIv k = RandomKeyIv(rng);
  AesCtr ref = OpenSslStream(k);
  LeanAesCtr a = LeanAesCtr::Create(cache, AesKey(k.key), AesIv(k.iv)).value();
  std::array<uint8_t, 21> got{}, want{};
  a.Apply(cache, MutableByteSpan(got.data(), got.size()));
  ref.Apply(MutableByteSpan(want.data(), want.size()));
  EXPECT_EQ(got, want);
  LeanAesCtr b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.valid());
  got.fill(0);
  want.fill(0);
  b.Apply(cache, MutableByteSpan(got.data(), got.size()));
  ref.Apply(MutableByteSpan(want.data(), want.size()));
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace mtp
