// The AES-NI streams against OpenSSL EVP on random keys, IVs, lengths and split points
// (counter carries across 64 bits, partial blocks, batches of interleaved CBC chains, CBC
// decryption), on every vector width this CPU has (VAES-512, VAES-256, 128-bit AES-NI) and on
// misaligned buffers.
#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "crypto/aes.h"
#include "crypto/aes_ni.h"

namespace mtp {
namespace {

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// The reference: one OpenSSL EVP pass over the whole input.
std::vector<uint8_t> Evp(const char* name, const std::vector<uint8_t>& key,
                         const std::vector<uint8_t>& iv, const std::vector<uint8_t>& in,
                         int enc) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit_ex2(ctx, cipher, key.data(), iv.data(), enc, nullptr), 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  std::vector<uint8_t> out(in.size());
  int outl = 0;
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &outl, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(static_cast<size_t>(outl), in.size());
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

// A copy of `v` at an address `offset` bytes past a 64-byte boundary (the kernels must not
// assume any alignment).
class Misaligned {
 public:
  Misaligned(const std::vector<uint8_t>& v, size_t offset)
      : storage_(v.size() + 64 + offset), offset_(offset + (64 - Base() % 64) % 64) {
    std::copy(v.begin(), v.end(), data());
  }
  uint8_t* data() { return storage_.data() + offset_; }
  std::vector<uint8_t> vec(size_t n) const {
    return std::vector<uint8_t>(storage_.begin() + offset_, storage_.begin() + offset_ + n);
  }

 private:
  uintptr_t Base() const { return reinterpret_cast<uintptr_t>(storage_.data()); }
  std::vector<uint8_t> storage_;
  size_t offset_;
};

enum class Path { kAesNi512, kAesNi256, kAesNi128, kOpenSsl };

class AesPathTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    if (GetParam() != Path::kOpenSsl && !AesNiAvailable()) GTEST_SKIP() << "no AES-NI";
    SetAesNiWidthCapForTesting(AesNiWidth::k512);
    const AesNiWidth have = AesNiBestWidth();
    const AesNiWidth want = GetParam() == Path::kAesNi512   ? AesNiWidth::k512
                            : GetParam() == Path::kAesNi256 ? AesNiWidth::k256
                                                            : AesNiWidth::k128;
    if (GetParam() != Path::kOpenSsl && have < want) GTEST_SKIP() << "CPU lacks this width";
    SetAesForceOpenSslForTesting(GetParam() == Path::kOpenSsl);
    SetAesNiWidthCapForTesting(want);
    ASSERT_TRUE(GetParam() == Path::kOpenSsl || AesNiBestWidth() == want);
  }
  void TearDown() override {
    SetAesForceOpenSslForTesting(false);
    SetAesNiWidthCapForTesting(AesNiWidth::k512);
  }
};

TEST_P(AesPathTest, CtrMatchesOpenSslAcrossSplits) {
  EXPECT_EQ(AesUsesAesNi(), GetParam() != Path::kOpenSsl);
  std::mt19937_64 rng(1);
  for (int iter = 0; iter < 200; ++iter) {
    auto key = RandomBytes(rng, 32);
    auto iv = RandomBytes(rng, 16);
    if (iter % 4 == 1) {  // low word about to wrap: the carry must reach the high word
      for (int i = 8; i < 16; ++i) iv[i] = 0xff;
      iv[15] = static_cast<uint8_t>(0xff - rng() % 8);
    }
    if (iter % 4 == 2) {  // the whole 128-bit counter wraps
      for (auto& b : iv) b = 0xff;
      iv[15] = 0xfd;
    }
    auto plain = RandomBytes(rng, 1 + rng() % 3000);
    auto want = Evp("AES-256-CTR", key, iv, plain, 1);
    auto ctr = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16)).value();
    std::vector<uint8_t> got(plain.size());
    size_t pos = 0;
    while (pos < plain.size()) {
      size_t n = std::min<size_t>(plain.size() - pos, rng() % 5 == 0 ? 1 + rng() % 300 : rng() % 20);
      if (iter % 2 == 0) {  // out of place
        ctr.Apply(plain.data() + pos, got.data() + pos, n);
      } else {  // in place
        std::copy(plain.begin() + pos, plain.begin() + pos + n, got.begin() + pos);
        ctr.Apply(MutableByteSpan(got.data() + pos, n));
      }
      pos += n;
    }
    ASSERT_EQ(got, want) << "iteration " << iter;
  }
}

TEST_P(AesPathTest, CbcBatchMatchesOpenSslPerChain) {
  std::mt19937_64 rng(2);
  for (int iter = 0; iter < 60; ++iter) {
    const size_t chains = 1 + rng() % 20;  // more than the kernel's lanes and the batch size
    std::vector<std::vector<uint8_t>> keys, ivs, plains, wants, outs;
    std::vector<AesCbc> cbcs;
    for (size_t c = 0; c < chains; ++c) {
      keys.push_back(RandomBytes(rng, 32));
      ivs.push_back(RandomBytes(rng, 16));
      plains.push_back(RandomBytes(rng, 16 * (rng() % 200)));
      wants.push_back(Evp("AES-256-CBC", keys[c], ivs[c], plains[c], 1));
      outs.emplace_back(plains[c].size());
      cbcs.push_back(AesCbc::Create(AesKey(keys[c].data(), 32), AesIv(ivs[c].data(), 16),
                                    AesCbc::Direction::kEncrypt)
                         .value());
    }
    // Several batches, each taking a random block count of every chain, so the chains
    // continue across calls.
    std::vector<size_t> pos(chains, 0);
    for (bool more = true; more;) {
      more = false;
      std::vector<AesCbc::Job> jobs;
      for (size_t c = 0; c < chains; ++c) {
        size_t left = plains[c].size() - pos[c];
        size_t n = std::min(left, 16 * (rng() % 40));
        if (n == 0 && rng() % 2 == 0) continue;
        bool in_place = rng() % 2 == 0;
        if (in_place) std::copy_n(plains[c].begin() + pos[c], n, outs[c].begin() + pos[c]);
        jobs.push_back({&cbcs[c], in_place ? outs[c].data() + pos[c] : plains[c].data() + pos[c],
                        outs[c].data() + pos[c], n});
        pos[c] += n;
      }
      AesCbc::ProcessBatch(jobs);
      for (size_t c = 0; c < chains; ++c) more = more || pos[c] < plains[c].size();
    }
    for (size_t c = 0; c < chains; ++c) ASSERT_EQ(outs[c], wants[c]) << iter << "/" << c;
  }
}

TEST_P(AesPathTest, CbcDecryptRoundTrip) {
  std::mt19937_64 rng(3);
  auto key = RandomBytes(rng, 32);
  auto iv = RandomBytes(rng, 16);
  auto plain = RandomBytes(rng, 16 * 300);
  auto enc = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kEncrypt).value();
  auto dec = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kDecrypt).value();
  std::vector<uint8_t> data = plain;
  enc.Process(MutableByteSpan(data.data(), 16 * 7));
  enc.Process(MutableByteSpan(data.data() + 16 * 7, data.size() - 16 * 7));
  EXPECT_NE(data, plain);
  dec.Process(MutableByteSpan(data));
  EXPECT_EQ(data, plain);
}

TEST_P(AesPathTest, CtrMatchesOpenSslOnMisalignedBuffers) {
  std::mt19937_64 rng(4);
  for (int iter = 0; iter < 300; ++iter) {
    auto key = RandomBytes(rng, 32);
    auto iv = RandomBytes(rng, 16);
    if (iter % 3 == 0) {  // the low word wraps somewhere inside the wide passes
      for (int i = 8; i < 16; ++i) iv[i] = 0xff;
      iv[15] = static_cast<uint8_t>(0xff - rng() % 40);
    }
    auto plain = RandomBytes(rng, rng() % 1200);
    auto want = Evp("AES-256-CTR", key, iv, plain, 1);
    Misaligned src(plain, rng() % 64);
    Misaligned dst(std::vector<uint8_t>(plain.size()), rng() % 64);
    const bool in_place = iter % 2 == 0;
    auto ctr = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16)).value();
    uint8_t* out = in_place ? src.data() : dst.data();
    // Bulk calls of every size class: single blocks, 8 and 16 block passes, and their tails.
    size_t pos = 0;
    while (pos < plain.size()) {
      size_t n = std::min<size_t>(plain.size() - pos, 1 + rng() % 400);
      ctr.Apply(src.data() + pos, out + pos, n);
      pos += n;
    }
    ASSERT_EQ((in_place ? src : dst).vec(plain.size()), want) << "iteration " << iter;
  }
}

TEST_P(AesPathTest, BatchLanesFollowsTheKernel) {
  const size_t want = GetParam() == Path::kOpenSsl    ? 1
                      : GetParam() == Path::kAesNi128 ? kAesNiMaxCbcLanes128
                                                      : kAesNiMaxCbcLanes;
  EXPECT_EQ(AesCbc::BatchLanes(), want);
}

TEST_P(AesPathTest, CbcDecryptMatchesOpenSsl) {
  std::mt19937_64 rng(5);
  for (int iter = 0; iter < 300; ++iter) {
    auto key = RandomBytes(rng, 32);
    auto iv = RandomBytes(rng, 16);
    auto cipher = RandomBytes(rng, 16 * (rng() % 100));
    auto want = Evp("AES-256-CBC", key, iv, cipher, 0);
    Misaligned src(cipher, rng() % 64);
    Misaligned dst(std::vector<uint8_t>(cipher.size()), rng() % 64);
    const bool in_place = iter % 2 == 0;
    auto cbc = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                              AesCbc::Direction::kDecrypt).value();
    uint8_t* out = in_place ? src.data() : dst.data();
    // Calls of random block counts: the chain carries the IV across them.
    size_t pos = 0;
    while (pos < cipher.size()) {
      size_t n = std::min<size_t>(cipher.size() - pos, 16 * (rng() % 40));
      cbc.Process(src.data() + pos, out + pos, n);
      pos += n;
    }
    ASSERT_EQ((in_place ? src : dst).vec(cipher.size()), want) << "iteration " << iter;
  }
}

// Every lane count from 1 to 9 (around the kernel's 8 lanes) and beyond, with uneven lengths,
// misaligned buffers, and a decrypting stream in the same batch.
TEST_P(AesPathTest, CbcBatchLaneCountsMatchOpenSsl) {
  std::mt19937_64 rng(6);
  for (size_t chains = 1; chains <= 18; ++chains) {
    for (int iter = 0; iter < 12; ++iter) {
      std::vector<std::vector<uint8_t>> keys, ivs, plains, wants;
      std::vector<Misaligned> bufs;
      std::vector<AesCbc> cbcs;
      std::vector<AesCbc::Job> jobs;
      for (size_t c = 0; c < chains; ++c) {
        keys.push_back(RandomBytes(rng, 32));
        ivs.push_back(RandomBytes(rng, 16));
        // Mostly equal lengths (lanes end together), sometimes wildly different.
        const size_t blocks = iter % 3 == 0 ? 64 : rng() % 300;
        plains.push_back(RandomBytes(rng, 16 * blocks));
        const bool decrypt = c == chains / 2 && iter % 4 == 3;
        wants.push_back(Evp("AES-256-CBC", keys[c], ivs[c], plains[c], decrypt ? 0 : 1));
        bufs.emplace_back(plains[c], rng() % 64);
        cbcs.push_back(AesCbc::Create(AesKey(keys[c].data(), 32), AesIv(ivs[c].data(), 16),
                                      decrypt ? AesCbc::Direction::kDecrypt
                                              : AesCbc::Direction::kEncrypt)
                           .value());
      }
      for (size_t c = 0; c < chains; ++c) {
        jobs.push_back({&cbcs[c], bufs[c].data(), bufs[c].data(), plains[c].size()});
      }
      AesCbc::ProcessBatch(jobs);
      for (size_t c = 0; c < chains; ++c) {
        ASSERT_EQ(bufs[c].vec(plains[c].size()), wants[c]) << chains << "/" << iter << "/" << c;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, AesPathTest,
                         ::testing::Values(Path::kAesNi512, Path::kAesNi256, Path::kAesNi128,
                                           Path::kOpenSsl),
                         [](const auto& info) {
                           switch (info.param) {
                             case Path::kAesNi512:
                               return "AesNi512";
                             case Path::kAesNi256:
                               return "AesNi256";
                             case Path::kAesNi128:
                               return "AesNi128";
                             case Path::kOpenSsl:
                               break;
                           }
                           return "OpenSsl";
                         });

TEST(AesNiTest, DecryptKeysInvertEncryption) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI on this CPU";
  // FIPS-197 appendix C.3: AES-256 of 00112233... under key 000102...1f.
  uint8_t key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i);
  uint8_t plain[16];
  for (int i = 0; i < 16; ++i) plain[i] = static_cast<uint8_t>(0x11 * i);
  const uint8_t cipher[16] = {0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf,
                              0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89};
  uint8_t rk[kAes256RoundKeyBytes], dk[kAes256RoundKeyBytes];
  AesNiExpandKey256(key, rk);
  AesNiDecryptKeys256(rk, dk);
  // CBC with a zero IV on one block is the bare block cipher.
  uint8_t iv[16] = {};
  uint8_t out[16];
  AesNiCbcDecrypt(dk, iv, cipher, out, 1);
  EXPECT_TRUE(std::equal(plain, plain + 16, out));
  EXPECT_TRUE(std::equal(cipher, cipher + 16, iv));  // the chain moved on to this block
}

TEST(AesNiTest, KeyScheduleMatchesFips197) {
  if (!AesNiAvailable()) GTEST_SKIP() << "no AES-NI on this CPU";
  // FIPS-197 appendix A.3: the last round key of the 256-bit example key.
  const uint8_t k[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
                         0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
                         0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
  uint8_t rk[kAes256RoundKeyBytes];
  AesNiExpandKey256(k, rk);
  const uint8_t last[16] = {0xfe, 0x48, 0x90, 0xd1, 0xe6, 0x18, 0x8d, 0x0b,
                            0x04, 0x6d, 0xf3, 0x44, 0x70, 0x6c, 0x63, 0x1e};
  EXPECT_TRUE(std::equal(last, last + 16, rk + 224));
  EXPECT_TRUE(std::equal(k, k + 32, rk));
}

}  // namespace
}  // namespace mtp
