// Obfuscated2 header: spec vectors A.1-A.5, secret trial order, client/server round trips.
#include "proto/obfuscated2.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

Obfuscated2Header HeaderFromHex(std::string_view hex) {
  std::vector<uint8_t> bytes = H(hex);
  Obfuscated2Header header{};
  EXPECT_EQ(bytes.size(), header.size());
  std::copy_n(bytes.begin(), std::min(bytes.size(), header.size()), header.begin());
  return header;
}

// r[i] = (0x41 + 3 i) mod 256 — the random bytes of every A vector.
Obfuscated2Header VectorRandom() {
  Obfuscated2Header r;
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<uint8_t>(0x41 + 3 * i);
  return r;
}

ClientSecret VectorSecret() { return ParseClientSecretHex("0123456789abcdef0123456789abcdef").value(); }

std::string Hex(ByteSpan data) { return HexEncode(data); }

constexpr char kReadKey[] = "e0a57c4a9925225f827fbc0dadcc6706b2f3a5b742dc86d9701ca416201d4e9b";
constexpr char kReadIv[] = "b9bcbfc2c5c8cbced1d4d7dadde0e3e6";
constexpr char kWriteKey[] = "1806064a75010537779db488bacb5fcc661b472ffdbb22c3ed43d9d16e50570a";
constexpr char kWriteIv[] = "8683807d7a7774716e6b6865625f5c59";

constexpr char kWireA1[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6df09b9f71a50c423";
constexpr char kWireA2[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6de08b8f6e6afc423";
constexpr char kWireA3[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6ec3a8ac41a50c423";
constexpr char kWireA4[] =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e660a8520975711c4b";
constexpr char kDecryptedPrefix[] =
    "3ae5cdd3a4080576d94007335fd373f8d83adfc18d47307752a6ab593e87ec5e"
    "485e90319ca552afc80e3436f27e3932eac17fdbbb1ace6a";

TEST(Obfuscated2KeysTest, VectorAWithSecret) {
  ClientSecret secret = VectorSecret();
  Obfuscated2Header header = HeaderFromHex(kWireA1);
  Obfuscated2Keys keys = DeriveObfuscated2Keys(header, &secret);
  EXPECT_EQ(Hex(keys.read_key), kReadKey);
  EXPECT_EQ(Hex(keys.read_iv), kReadIv);
  EXPECT_EQ(Hex(keys.write_key), kWriteKey);
  EXPECT_EQ(Hex(keys.write_iv), kWriteIv);
}

TEST(Obfuscated2KeysTest, VectorA4NoSecret) {
  Obfuscated2Keys keys = DeriveObfuscated2Keys(HeaderFromHex(kWireA4), nullptr);
  EXPECT_EQ(Hex(keys.read_key), "595c5f6265686b6e7174777a7d808386898c8f9295989b9ea1a4a7aaadb0b3b6");
  EXPECT_EQ(Hex(keys.read_iv), "b9bcbfc2c5c8cbced1d4d7dadde0e3e6");
  EXPECT_EQ(Hex(keys.write_key),
            "e6e3e0dddad7d4d1cecbc8c5c2bfbcb9b6b3b0adaaa7a4a19e9b9895928f8c89");
  EXPECT_EQ(Hex(keys.write_iv), "8683807d7a7774716e6b6865625f5c59");
}

struct HeaderVector {
  const char* wire;
  Transport transport;
  int16_t dc;
  const char* decrypted_tail;  // decrypted bytes 56..64
  bool with_secret;
};

class Obfuscated2VectorTest : public ::testing::TestWithParam<HeaderVector> {};

TEST_P(Obfuscated2VectorTest, ClientBuildsTheWireHeader) {
  const HeaderVector& v = GetParam();
  ClientSecret secret = VectorSecret();
  absl::StatusOr<Obfuscated2ClientHandshake> hs = BuildObfuscated2ClientHeaderFrom(
      VectorRandom(), v.with_secret ? &secret : nullptr, v.transport, v.dc);
  ASSERT_TRUE(hs.ok()) << hs.status();
  EXPECT_EQ(Hex(hs->header), v.wire);
}

TEST_P(Obfuscated2VectorTest, ServerAcceptsAndDecrypts) {
  const HeaderVector& v = GetParam();
  ClientSecret secret = VectorSecret();
  std::vector<ClientSecret> secrets;
  if (v.with_secret) secrets.push_back(secret);
  Obfuscated2Header wire = HeaderFromHex(v.wire);
  Obfuscated2ServerResult r = AcceptObfuscated2(wire, secrets);
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.secret_index, v.with_secret ? 0 : -1);
  EXPECT_EQ(r.transport, v.transport);
  EXPECT_EQ(r.dc_id, v.dc);
  EXPECT_EQ(Hex(wire), v.wire) << "header must not be modified";

  // The whole 64 bytes decrypted from keystream offset 0 (what the reference logs).
  Obfuscated2Keys keys = DeriveObfuscated2Keys(wire, v.with_secret ? &secret : nullptr);
  AesCtr read = AesCtr::Create(keys.read_key, keys.read_iv).value();
  Obfuscated2Header plain = wire;
  read.Apply(plain);
  if (v.with_secret) {
    EXPECT_EQ(Hex(plain), std::string(kDecryptedPrefix) + v.decrypted_tail);
  } else {
    EXPECT_EQ(Hex(ByteSpan(plain).subspan(56)), v.decrypted_tail);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SpecA, Obfuscated2VectorTest,
    ::testing::Values(
        HeaderVector{kWireA1, Transport::kIntermediate, 2, "eeeeeeee0200fbfe", true},
        HeaderVector{kWireA2, Transport::kAbridged, -2, "efefefeffefffbfe", true},
        HeaderVector{kWireA3, Transport::kPadded, 2, "dddddddd0200fbfe", true},
        HeaderVector{kWireA4, Transport::kIntermediate, 2, "eeeeeeee0200fbfe", false}));

constexpr char kA5FramePlain[] =
    "2800000000000000000000000000000000800b5e14000000f18e7ebe00010203"
    "0405060708090a0b0c0d0e0f";
constexpr char kA5FrameCipher[] =
    "ce5adf9aec4b880320dbef6323e4c14b2dd1c8fc8f9cf1d23e78fe228ca5a015"
    "cd7a25fc5d162ecce19ec1f0";
constexpr char kAnswer[] = "414e535745522d444154412d3031323334353637383941424344454630313233";

TEST(Obfuscated2StreamTest, A5ClientFrameContinuesAtOffset64) {
  ClientSecret secret = VectorSecret();
  Obfuscated2ClientHandshake hs =
      BuildObfuscated2ClientHeaderFrom(VectorRandom(), &secret, Transport::kIntermediate, 2)
          .value();
  std::vector<uint8_t> frame = H(kA5FramePlain);
  hs.encrypt.Apply(frame);
  EXPECT_EQ(Hex(frame), kA5FrameCipher);
}

TEST(Obfuscated2StreamTest, A5ServerDecryptsFirstFrame) {
  ClientSecret secret = VectorSecret();
  Obfuscated2ServerResult r = AcceptObfuscated2(HeaderFromHex(kWireA1), {&secret, 1});
  ASSERT_TRUE(r.accepted());
  std::vector<uint8_t> frame = H(kA5FrameCipher);
  r.decrypt.Apply(frame);
  EXPECT_EQ(Hex(frame), kA5FramePlain);
}

struct AnswerVector {
  const char* wire;
  bool with_secret;
  std::string plaintext;
  const char* ciphertext;
};

TEST(Obfuscated2StreamTest, A5ProxyAnswersUseWriteStreamFromOffset0) {
  const AnswerVector vectors[] = {
      {kWireA1, true, std::string("20000000") + kAnswer,
       "fa1aa429eab44982217bf09360cb2c7b554763154d2b7befb8fe5f1783df3e61f52a940c"},
      {kWireA1, true, std::string("6745238120000000") + kAnswer,
       "bd5f87a88bfa1ad525678e8064cd40122422100b492f7febb4f22862f8a23a65865fe3794087dca3"},
      {kWireA2, true, std::string("8123456708") + kAnswer,
       "5b39e14ea3bb5486336c8ffa65de3917484660144a2a78eeb7ff271482d83f62832b970d43"},
      {kWireA4, false, std::string("20000000") + kAnswer,
       "b5d5d4fda23130e923ac0474f2bbc7de47420934402b377b4a24d46f961a1703c1422870"},
  };
  ClientSecret secret = VectorSecret();
  for (const AnswerVector& v : vectors) {
    std::vector<ClientSecret> secrets;
    if (v.with_secret) secrets.push_back(secret);
    Obfuscated2ServerResult r = AcceptObfuscated2(HeaderFromHex(v.wire), secrets);
    ASSERT_TRUE(r.accepted());
    std::vector<uint8_t> bytes = H(v.plaintext);
    r.encrypt.Apply(bytes);
    EXPECT_EQ(Hex(bytes), v.ciphertext);

    // And the client's decrypt stream turns it back.
    Obfuscated2ClientHandshake hs =
        BuildObfuscated2ClientHeaderFrom(VectorRandom(), v.with_secret ? &secret : nullptr,
                                         r.transport, r.dc_id)
            .value();
    hs.decrypt.Apply(bytes);
    EXPECT_EQ(Hex(bytes), v.plaintext);
  }
}

TEST(Obfuscated2AcceptTest, TriesSecretsInOrderAndReportsIndex) {
  ClientSecret right = VectorSecret();
  std::vector<ClientSecret> secrets;
  for (int i = 0; i < 15; ++i) {
    ClientSecret s{};
    s.fill(static_cast<uint8_t>(i + 1));
    secrets.push_back(s);
  }
  secrets.push_back(right);
  Obfuscated2ServerResult r = AcceptObfuscated2(HeaderFromHex(kWireA3), secrets);
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.secret_index, 15);
  EXPECT_EQ(r.transport, Transport::kPadded);

  // The same secret listed twice: the first one wins.
  secrets.insert(secrets.begin() + 3, right);
  r = AcceptObfuscated2(HeaderFromHex(kWireA3), secrets);
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.secret_index, 3);
}

TEST(Obfuscated2AcceptTest, WrongSecretIsNoMatch) {
  ClientSecret wrong = ParseClientSecretHex("0123456789abcdef0123456789abcdee").value();
  Obfuscated2ServerResult r = AcceptObfuscated2(HeaderFromHex(kWireA1), {&wrong, 1});
  EXPECT_EQ(r.status, Obfuscated2Status::kNoMatch);
  EXPECT_FALSE(r.decrypt.valid());
  EXPECT_FALSE(r.encrypt.valid());
}

TEST(Obfuscated2AcceptTest, SecretHeaderAgainstNoSecretProxyIsNoMatch) {
  EXPECT_EQ(AcceptObfuscated2(HeaderFromHex(kWireA1), {}).status, Obfuscated2Status::kNoMatch);
  // And the other way round.
  ClientSecret secret = VectorSecret();
  EXPECT_EQ(AcceptObfuscated2(HeaderFromHex(kWireA4), {&secret, 1}).status,
            Obfuscated2Status::kNoMatch);
}

TEST(Obfuscated2AcceptTest, CorruptedTagIsNoMatch) {
  ClientSecret secret = VectorSecret();
  for (size_t byte = 56; byte < 60; ++byte) {
    Obfuscated2Header wire = HeaderFromHex(kWireA1);
    wire[byte] ^= 0x01;
    EXPECT_EQ(AcceptObfuscated2(wire, {&secret, 1}).status, Obfuscated2Status::kNoMatch) << byte;
  }
  // Bytes 62..63 are ignored; flipping key material changes the keys (no match).
  Obfuscated2Header wire = HeaderFromHex(kWireA1);
  wire[63] ^= 0xff;
  EXPECT_TRUE(AcceptObfuscated2(wire, {&secret, 1}).accepted());
  wire = HeaderFromHex(kWireA1);
  wire[8] ^= 0x01;
  EXPECT_FALSE(AcceptObfuscated2(wire, {&secret, 1}).accepted());
}

TEST(Obfuscated2AcceptTest, DoesNotApplyTheClientSideForbiddenPatterns) {
  // A header whose plaintext starts like "GET " is still accepted by the proxy (§3.2).
  ClientSecret secret = VectorSecret();
  Obfuscated2Header random = VectorRandom();
  random[0] = 'G';
  random[1] = 'E';
  random[2] = 'T';
  random[3] = ' ';
  ASSERT_TRUE(IsForbiddenObfuscated2Start(random));
  Obfuscated2ClientHandshake hs =
      BuildObfuscated2ClientHeaderFrom(random, &secret, Transport::kAbridged, 4).value();
  Obfuscated2ServerResult r = AcceptObfuscated2(hs.header, {&secret, 1});
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.dc_id, 4);
}

TEST(Obfuscated2AcceptTest, CounterCarryAcrossIvBytes) {
  // The tag block is IV + 3 as a 128-bit big-endian counter: IVs whose low bytes overflow
  // must carry exactly like OpenSSL's CTR mode (which the client side uses).
  ClientSecret secret = VectorSecret();
  for (int low : {0xfc, 0xfd, 0xfe, 0xff}) {
    for (int fill : {0x00, 0xff}) {
      Obfuscated2Header random = VectorRandom();
      for (size_t i = 40; i < 55; ++i) random[i] = static_cast<uint8_t>(fill);
      random[55] = static_cast<uint8_t>(low);
      Obfuscated2ClientHandshake hs =
          BuildObfuscated2ClientHeaderFrom(random, &secret, Transport::kIntermediate, -3).value();
      Obfuscated2ServerResult r = AcceptObfuscated2(hs.header, {&secret, 1});
      ASSERT_TRUE(r.accepted()) << low << " " << fill;
      EXPECT_EQ(r.dc_id, -3);
    }
  }
}

TEST(Obfuscated2ClientTest, ForbiddenStarts) {
  Obfuscated2Header h = VectorRandom();
  EXPECT_FALSE(IsForbiddenObfuscated2Start(h));
  auto with_first_word = [&](uint32_t w) {
    Obfuscated2Header x = VectorRandom();
    StoreLe32(x.data(), w);
    return IsForbiddenObfuscated2Start(x);
  };
  EXPECT_TRUE(with_first_word(0x44414548u));
  EXPECT_TRUE(with_first_word(0x54534f50u));
  EXPECT_TRUE(with_first_word(0x20544547u));
  EXPECT_TRUE(with_first_word(0x4954504fu));
  EXPECT_TRUE(with_first_word(0xddddddddu));
  EXPECT_TRUE(with_first_word(0xeeeeeeeeu));
  EXPECT_TRUE(with_first_word(0x02010316u));
  EXPECT_FALSE(with_first_word(0xefefefeeu));
  h[0] = 0xef;
  EXPECT_TRUE(IsForbiddenObfuscated2Start(h));
  h = VectorRandom();
  StoreLe32(h.data() + 4, 0);
  EXPECT_TRUE(IsForbiddenObfuscated2Start(h));
}

TEST(Obfuscated2ClientTest, RandomHeadersRoundTripForEveryTransportAndDc) {
  ClientSecret secret = GenerateClientSecret();
  for (Transport t : {Transport::kAbridged, Transport::kIntermediate, Transport::kPadded}) {
    for (int16_t dc : {int16_t{1}, int16_t{-5}, int16_t{10002}, int16_t{-10002}, int16_t{0}}) {
      for (bool use_secret : {true, false}) {
        const ClientSecret* s = use_secret ? &secret : nullptr;
        Obfuscated2ClientHandshake hs = BuildObfuscated2ClientHeader(s, t, dc).value();
        EXPECT_FALSE(IsForbiddenObfuscated2Start(hs.header));
        std::vector<ClientSecret> secrets;
        if (use_secret) secrets.push_back(secret);
        Obfuscated2ServerResult r = AcceptObfuscated2(hs.header, secrets);
        ASSERT_TRUE(r.accepted());
        EXPECT_EQ(r.transport, t);
        EXPECT_EQ(r.dc_id, dc);

        // Both directions line up.
        std::vector<uint8_t> up = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        hs.encrypt.Apply(up);
        r.decrypt.Apply(up);
        EXPECT_EQ(up, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
        std::vector<uint8_t> down = {9, 8, 7};
        r.encrypt.Apply(down);
        hs.decrypt.Apply(down);
        EXPECT_EQ(down, (std::vector<uint8_t>{9, 8, 7}));
      }
    }
  }
}

}  // namespace
}  // namespace mtp
