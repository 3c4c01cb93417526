// ClientStreams: the obfuscated2 header and the client leg's streams share their bytes.
#include "dataplane/session/client_streams.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <utility>

namespace mtp {
namespace {

CtrKeyCache cache(4);

std::array<uint8_t, 32> Key(uint8_t seed) {
  std::array<uint8_t, 32> key{};
  key.fill(seed);
  return key;
}
std::array<uint8_t, 16> Iv(uint8_t seed) {
  std::array<uint8_t, 16> iv{};
  iv.fill(static_cast<uint8_t>(seed + 1));
  return iv;
}

LeanAesCtr Stream(uint8_t seed) {
  return LeanAesCtr::Create(cache, AesKey(Key(seed)), AesIv(Iv(seed))).value();
}

// The reference: the same stream as a plain AesCtr.
AesCtr Reference(uint8_t seed) {
  return AesCtr::Create(AesKey(Key(seed)), AesIv(Iv(seed))).value();
}

std::array<uint8_t, 20> Keystream(LeanAesCtr& ctr) {
  std::array<uint8_t, 20> bytes{};
  ctr.Apply(cache, MutableByteSpan(bytes.data(), bytes.size()));
  return bytes;
}
std::array<uint8_t, 20> Keystream(AesCtr& ctr) {
  std::array<uint8_t, 20> bytes{};
  ctr.Apply(MutableByteSpan(bytes.data(), bytes.size()));
  return bytes;
}

TEST(ClientStreamsTest, HeaderSurvivesAMoveUntilTheStreamsReplaceIt) {
  ClientStreams a;
  EXPECT_FALSE(a.started());
  for (uint8_t i = 0; i < 40; ++i) a.header()[i] = i;
  a.header_bytes = 40;
  ClientStreams b(std::move(a));
  EXPECT_FALSE(b.started());
  EXPECT_EQ(b.header_bytes, 40);
  for (uint8_t i = 0; i < 40; ++i) EXPECT_EQ(b.header()[i], i);

  b.header_bytes = ClientStreams::kHeaderBytes;
  b.Start(Stream(1), Stream(2));
  EXPECT_TRUE(b.started());
  EXPECT_EQ(b.header_bytes, ClientStreams::kHeaderBytes);
  AesCtr decrypt = Reference(1);
  AesCtr encrypt = Reference(2);
  EXPECT_EQ(Keystream(b.decrypt()), Keystream(decrypt));
  EXPECT_EQ(Keystream(b.encrypt()), Keystream(encrypt));

  // A started pair moves mid-block and carries on; the moved-from one is back to a header.
  ClientStreams c;
  c = std::move(b);
  EXPECT_TRUE(c.started());
  EXPECT_FALSE(b.started());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(Keystream(c.decrypt()), Keystream(decrypt));
  EXPECT_EQ(Keystream(c.encrypt()), Keystream(encrypt));

  // What a freed session slot does: `s = ClientSession{}`.
  c = ClientStreams{};
  EXPECT_FALSE(c.started());
  EXPECT_EQ(c.header_bytes, 0);
  EXPECT_EQ(c.header()[0], 0);
}

}  // namespace
}  // namespace mtp
