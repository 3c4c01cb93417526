// Known-answer tests for the crypto primitives (NIST / RFC vectors and CRC check values).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <utility>

#include "core/hex.h"
#include "crypto/aes.h"
#include "crypto/crc32.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }
ByteSpan S(std::string_view s) { return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

TEST(Crc32Test, CheckValues) {
  EXPECT_EQ(Crc32(S("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32c(S("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32(S("")), 0u);
}

TEST(Crc32Test, IncrementalEqualsOneShot) {
  std::string data(1000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  ByteSpan all = S(data);
  for (size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    EXPECT_EQ(Crc32(all.subspan(split), Crc32(all.first(split))), Crc32(all));
    EXPECT_EQ(Crc32c(all.subspan(split), Crc32c(all.first(split))), Crc32c(all));
  }
}

TEST(HashTest, KnownAnswers) {
  auto sha = Sha256(S("abc"));
  EXPECT_EQ(HexEncode(sha), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto sha1 = Sha1(S("abc"));
  EXPECT_EQ(HexEncode(sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
  auto md5 = Md5(S(""));
  EXPECT_EQ(HexEncode(md5), "d41d8cd98f00b204e9800998ecf8427e");
  // Split input hashes like the concatenation.
  EXPECT_EQ(Sha256({S("a"), S("bc")}), sha);
}

TEST(HashTest, HmacSha256Rfc4231Case2) {
  auto mac = HmacSha256(S("Jefe"), {S("what do ya want "), S("for nothing?")});
  EXPECT_EQ(HexEncode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AesTest, Ctr256Sp800_38a) {
  auto key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  auto iv = H("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  auto pt = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  auto ctr = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16));
  ASSERT_TRUE(ctr.ok());
  // Byte-by-byte then bulk: the stream position must carry over partial blocks.
  ctr->Apply(MutableByteSpan(pt.data(), 5));
  ctr->Apply(MutableByteSpan(pt.data() + 5, pt.size() - 5));
  EXPECT_EQ(HexEncode(pt), "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5");
}

// The CTR state is inline (a move copies it): a stream moved in the middle of a block, then
// moved again into a stream that was in use, carries on where it was, on both paths.
TEST(AesTest, CtrMovedMidBlockContinuesTheStream) {
  auto key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  auto iv = H("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  for (bool openssl : {false, true}) {
    SCOPED_TRACE(openssl ? "OpenSSL" : "default");
    SetAesForceOpenSslForTesting(openssl);
    auto pt = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    AesCtr first = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16)).value();
    first.Apply(MutableByteSpan(pt.data(), 5));
    AesCtr second(std::move(first));
    EXPECT_FALSE(first.valid());  // NOLINT(bugprone-use-after-move): moved-from is invalid
    second.Apply(MutableByteSpan(pt.data() + 5, 14));
    AesCtr third = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16)).value();
    third = std::move(second);  // releases third's own state (an EVP context on OpenSSL)
    third.Apply(MutableByteSpan(pt.data() + 19, pt.size() - 19));
    EXPECT_EQ(HexEncode(pt), "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5");
  }
  SetAesForceOpenSslForTesting(false);
}

// A stream created at CtrIvAfterBlocks(iv, n) is the stream of `iv` after n blocks, on the
// OpenSSL path too, including a counter whose low half wraps into the high half.
TEST(AesTest, CtrIvAfterBlocksStartsWhereTheStreamWouldBe) {
  auto key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  for (const char* iv_hex : {"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", "0000000000000000fffffffffffffffe",
                             "fffffffffffffffffffffffffffffffd"}) {
    for (bool openssl : {false, true}) {
      SCOPED_TRACE(std::string(iv_hex) + (openssl ? " OpenSSL" : " default"));
      SetAesForceOpenSslForTesting(openssl);
      auto iv = H(iv_hex);
      AesCtr whole = AesCtr::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16)).value();
      std::string skipped(64, '\0');
      whole.Apply(MutableByteSpan(reinterpret_cast<uint8_t*>(skipped.data()), skipped.size()));
      std::string a(80, 'x');
      whole.Apply(MutableByteSpan(reinterpret_cast<uint8_t*>(a.data()), a.size()));
      const std::array<uint8_t, 16> later = CtrIvAfterBlocks(AesIv(iv.data(), 16), 4);
      AesCtr from_later = AesCtr::Create(AesKey(key.data(), 32), AesIv(later)).value();
      std::string b(80, 'x');
      from_later.Apply(MutableByteSpan(reinterpret_cast<uint8_t*>(b.data()), b.size()));
      EXPECT_EQ(a, b);
    }
  }
  SetAesForceOpenSslForTesting(false);
  const auto zero = H("00000000000000000000000000000000");
  EXPECT_EQ(HexEncode(CtrIvAfterBlocks(AesIv(zero.data(), 16), 5)),
            "00000000000000000000000000000005");
  const auto carry = H("00000000000000ffffffffffffffffff");
  EXPECT_EQ(HexEncode(CtrIvAfterBlocks(AesIv(carry.data(), 16), 1)),
            "00000000000001000000000000000000");
}

TEST(AesTest, Cbc256Sp800_38aChainsAcrossCalls) {
  auto key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  auto iv = H("000102030405060708090a0b0c0d0e0f");
  auto pt = H("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  auto enc = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kEncrypt);
  ASSERT_TRUE(enc.ok());
  std::vector<uint8_t> ct = pt;
  enc->Process(MutableByteSpan(ct.data(), 16));
  enc->Process(MutableByteSpan(ct.data() + 16, 16));
  EXPECT_EQ(HexEncode(ct), "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d");
  auto dec = AesCbc::Create(AesKey(key.data(), 32), AesIv(iv.data(), 16),
                            AesCbc::Direction::kDecrypt);
  ASSERT_TRUE(dec.ok());
  dec->Process(MutableByteSpan(ct));
  EXPECT_EQ(ct, pt);
}

TEST(RandomTest, FillsAndVaries) {
  std::vector<uint8_t> a(32), b(32);
  SecureRandom(MutableByteSpan(a));
  SecureRandom(MutableByteSpan(b));
  EXPECT_NE(a, b);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(FastRandomBelow(3), 3u);
}

}  // namespace
}  // namespace mtp
