// key_share parsing of the hellos Telegram clients send (the classic 517-byte one and the
// modern post-quantum one, from the project's builders), the server's group choice under the
// --tls-pq-key-share policy, and ServerHellos answering each group: framing, the client-side
// HMAC check, the key_share extension as an observer parses it, and a P-256 share on the curve;
// the fatal alert record of --tls-unknown-sni alert.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "proto/fake_tls.h"

namespace mtp {
namespace {

const ClientSecret kSecret = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
constexpr int64_t kNow = 1700000000;

// A minimal TLS 1.3 ClientHello record whose key_share carries `shares` (group, length) with
// zero key bytes; `list_length_delta` corrupts the client_shares length.
std::vector<uint8_t> HelloWithShares(const std::vector<std::pair<uint16_t, uint16_t>>& shares,
                                     int list_length_delta = 0, bool with_key_share = true) {
  std::vector<uint8_t> ext;
  auto be16 = [](std::vector<uint8_t>& v, size_t x) {
    v.push_back(static_cast<uint8_t>(x >> 8));
    v.push_back(static_cast<uint8_t>(x));
  };
  // server_name "example.com" first, as a non-key_share extension to walk over.
  const std::string name = "example.com";
  be16(ext, 0x0000);
  be16(ext, name.size() + 5);
  be16(ext, name.size() + 3);
  ext.push_back(0);
  be16(ext, name.size());
  ext.insert(ext.end(), name.begin(), name.end());
  if (with_key_share) {
    std::vector<uint8_t> list;
    for (auto [group, length] : shares) {
      be16(list, group);
      be16(list, length);
      list.insert(list.end(), length, 0);
    }
    be16(ext, 0x0033);
    be16(ext, list.size() + 2);
    be16(ext, static_cast<size_t>(static_cast<int>(list.size()) + list_length_delta));
    ext.insert(ext.end(), list.begin(), list.end());
  }
  std::vector<uint8_t> body = {0x03, 0x03};
  body.insert(body.end(), 32, 0);  // random
  body.push_back(32);
  body.insert(body.end(), 32, 0xa5);  // session id
  body.insert(body.end(), {0x00, 0x02, 0x13, 0x01, 0x01, 0x00});
  be16(body, ext.size());
  body.insert(body.end(), ext.begin(), ext.end());
  std::vector<uint8_t> hello = {kTlsHandshake, 0x03, 0x01};
  be16(hello, body.size() + 4);
  hello.push_back(0x01);
  hello.push_back(0);
  be16(hello, body.size());
  hello.insert(hello.end(), body.begin(), body.end());
  return hello;
}

std::vector<uint8_t> Legacy517() {
  return BuildLegacyClientHello("example.com", LegacyHelloRandoms::Fresh()).value();
}
std::vector<uint8_t> Modern() { return BuildModernClientHello("example.com").value(); }

TEST(FakeTlsKeyShareTest, ClassicHelloOffersGreaseAndX25519) {
  const std::vector<uint8_t> hello = Legacy517();
  ASSERT_EQ(hello.size(), 517u);
  const KeyShareOffers offers = ParseKeyShares(hello);
  ASSERT_TRUE(offers.present);
  EXPECT_FALSE(offers.malformed);
  ASSERT_EQ(offers.count, 2u);
  EXPECT_EQ(offers.entries[0].group & 0x0f0f, 0x0a0a);  // GREASE
  EXPECT_EQ(offers.entries[0].length, 1);
  EXPECT_EQ(offers.entries[1].group, kGroupX25519);
  EXPECT_EQ(offers.entries[1].length, 32);
  EXPECT_EQ(UsableKeyShareGroups(offers), kKeyShareX25519);
}

TEST(FakeTlsKeyShareTest, ModernHelloOffersPostQuantumAndX25519) {
  // Extension order is shuffled: parse several.
  for (int i = 0; i < 20; ++i) {
    const std::vector<uint8_t> hello = Modern();
    ASSERT_GT(hello.size(), 1700u);
    const KeyShareOffers offers = ParseKeyShares(hello);
    ASSERT_TRUE(offers.present);
    EXPECT_FALSE(offers.malformed);
    ASSERT_EQ(offers.count, 3u);
    EXPECT_EQ(offers.entries[1].group, kGroupX25519MlKem768);
    EXPECT_EQ(offers.entries[1].length, kX25519MlKem768ClientShareSize);
    EXPECT_EQ(offers.entries[2].group, kGroupX25519);
    EXPECT_EQ(UsableKeyShareGroups(offers), kKeyShareX25519 | kKeyShareX25519MlKem768);
  }
}

TEST(FakeTlsKeyShareTest, ChoiceKeepsX25519UnlessPostQuantumIsOptedIn) {
  const KeySharePolicy off;
  const KeySharePolicy pq{.post_quantum = true};
  const uint8_t modern = kKeyShareX25519 | kKeyShareX25519MlKem768;
  EXPECT_EQ(ChooseServerKeyShareGroup(modern, off), kGroupX25519);
  EXPECT_EQ(ChooseServerKeyShareGroup(modern, pq), kGroupX25519MlKem768);
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareX25519, pq), kGroupX25519);
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareSecp256r1, off), kGroupSecp256r1);
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareSecp256r1 | kKeyShareX25519, off), kGroupX25519);
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareSecp256r1 | kKeyShareX25519MlKem768, off),
            kGroupSecp256r1);
  // Only the post-quantum group: answered only when opted in.
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareX25519MlKem768, off), kGroupX25519);
  EXPECT_EQ(ChooseServerKeyShareGroup(kKeyShareX25519MlKem768, pq), kGroupX25519MlKem768);
  EXPECT_EQ(ChooseServerKeyShareGroup(0, pq), kGroupX25519);
}

TEST(FakeTlsKeyShareTest, SharesOfTheWrongSizeAreNotUsable) {
  const KeyShareOffers offers = ParseKeyShares(
      HelloWithShares({{kGroupX25519, 31}, {kGroupSecp256r1, 97}, {kGroupX25519MlKem768, 1184}}));
  ASSERT_TRUE(offers.present);
  EXPECT_FALSE(offers.malformed);
  EXPECT_EQ(offers.count, 3u);
  EXPECT_EQ(UsableKeyShareGroups(offers), 0);
  EXPECT_EQ(UsableKeyShareGroups(ParseKeyShares(HelloWithShares({{kGroupSecp256r1, 65}}))),
            kKeyShareSecp256r1);
}

TEST(FakeTlsKeyShareTest, MissingAndMalformedExtensions) {
  KeyShareOffers none = ParseKeyShares(HelloWithShares({}, 0, /*with_key_share=*/false));
  EXPECT_FALSE(none.present);
  EXPECT_EQ(UsableKeyShareGroups(none), 0);

  // An empty client_shares list (a HelloRetryRequest-style first flight) is well-formed.
  KeyShareOffers empty = ParseKeyShares(HelloWithShares({}));
  EXPECT_TRUE(empty.present);
  EXPECT_FALSE(empty.malformed);
  EXPECT_EQ(empty.count, 0u);

  // The list claims more bytes than the extension holds: entries inside still parse.
  KeyShareOffers longer = ParseKeyShares(HelloWithShares({{kGroupX25519, 32}}, +4));
  EXPECT_TRUE(longer.malformed);
  EXPECT_EQ(UsableKeyShareGroups(longer), kKeyShareX25519);
  // The list ends inside the entry: nothing usable.
  KeyShareOffers shorter = ParseKeyShares(HelloWithShares({{kGroupX25519, 32}}, -4));
  EXPECT_TRUE(shorter.malformed);
  EXPECT_EQ(UsableKeyShareGroups(shorter), 0);

  // Truncated anywhere: never reads past the span.
  const std::vector<uint8_t> hello = Modern();
  for (size_t n = 0; n < hello.size(); n += 7) {
    const KeyShareOffers o = ParseKeyShares(ByteSpan(hello).first(n));
    EXPECT_LE(o.count, kMaxKeyShareOffers);
  }
}

TEST(FakeTlsKeyShareTest, ManyEntriesAreCountedBeyondTheRecordedOnes) {
  std::vector<std::pair<uint16_t, uint16_t>> shares;
  for (uint16_t i = 0; i < 12; ++i) shares.push_back({static_cast<uint16_t>(0x0100 + i), 2});
  shares.push_back({kGroupX25519, 32});
  const KeyShareOffers offers = ParseKeyShares(HelloWithShares(shares));
  EXPECT_EQ(offers.total, 13u);
  EXPECT_EQ(offers.count, kMaxKeyShareOffers);
  // x25519 came after the recorded entries: still usable.
  EXPECT_EQ(UsableKeyShareGroups(offers), kKeyShareX25519);
}

// What an observer reads from the proxy's answer.
struct ObservedServerHello {
  size_t record_length = 0;
  uint16_t group = 0;
  std::vector<uint8_t> share;
  bool versions_first = false;
  size_t encrypted_size = 0;
};

std::optional<ObservedServerHello> Observe(ByteSpan sh) {
  ObservedServerHello o;
  if (sh.size() < 5 || sh[0] != 0x16) return std::nullopt;
  o.record_length = LoadBe16(sh.data() + 3);
  const size_t record_end = 5 + o.record_length;
  if (sh.size() < record_end + 11) return std::nullopt;
  if (size_t{LoadBe16(sh.data() + 7)} + 4 != o.record_length || sh[5] != 0x02 || sh[6] != 0) {
    return std::nullopt;
  }
  size_t pos = 81;
  if (LoadBe16(sh.data() + 79) != record_end - pos) return std::nullopt;
  bool first = true;
  while (pos + 4 <= record_end) {
    const uint16_t type = LoadBe16(sh.data() + pos);
    const size_t len = LoadBe16(sh.data() + pos + 2);
    pos += 4;
    if (pos + len > record_end) return std::nullopt;
    if (type == 0x002b && first) o.versions_first = true;
    if (type == 0x0033) {
      o.group = LoadBe16(sh.data() + pos);
      const size_t k = LoadBe16(sh.data() + pos + 2);
      if (k + 4 != len) return std::nullopt;
      o.share.assign(sh.begin() + pos + 4, sh.begin() + pos + 4 + k);
    }
    pos += len;
    first = false;
  }
  if (pos != record_end) return std::nullopt;
  o.encrypted_size = LoadBe16(sh.data() + record_end + 9);
  if (sh.size() != record_end + 11 + o.encrypted_size) return std::nullopt;
  return o;
}

bool OnP256(ByteSpan point) {
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT* p = EC_POINT_new(group);
  const bool ok = EC_POINT_oct2point(group, p, point.data(), point.size(), nullptr) == 1 &&
                  EC_POINT_is_on_curve(group, p, nullptr) == 1;
  EC_POINT_free(p);
  EC_GROUP_free(group);
  return ok;
}

// Validates `hello` (signed here), answers it under `policy`, checks the answer the way the
// client and an observer do; returns what the observer saw.
ObservedServerHello AnswerAndCheck(std::vector<uint8_t> hello, const KeySharePolicy& policy,
                                   size_t encrypted_size, bool reversed = false) {
  SignClientHello(kSecret, static_cast<int32_t>(kNow), MutableByteSpan(hello));
  SimpleReplayCache cache;
  const std::vector<std::string> domains = {"example.com"};
  const std::vector<ClientSecret> secrets = {kSecret};
  const ClientHelloResult r =
      ValidateClientHello(hello, ClientHelloConfig{secrets, domains}, 443, kNow, cache);
  EXPECT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
  TlsDomainProfile profile;
  profile.reversed_extension_order = reversed;
  const ServerHelloParams params = MakeServerHelloParams(r, kSecret, profile, policy);
  std::vector<uint8_t> sh(ServerHelloSize(params, encrypted_size));
  WriteServerHelloFresh(params, sh);
  TlsRandom client_random;
  std::memcpy(client_random.data(), hello.data() + kHelloRandomOffset, 32);
  const ServerHelloCheck check = VerifyServerHello(kSecret, client_random, sh);
  EXPECT_EQ(check.status, ServerHelloCheckStatus::kOk);
  EXPECT_EQ(check.size, sh.size());
  std::optional<ObservedServerHello> o = Observe(sh);
  EXPECT_TRUE(o.has_value());
  if (!o) return {};
  EXPECT_EQ(o->group, params.key_share_group);
  EXPECT_EQ(o->share.size(), ServerKeyShareSize(params.key_share_group));
  EXPECT_EQ(o->encrypted_size, encrypted_size);
  EXPECT_EQ(o->versions_first, reversed);
  return *o;
}

TEST(FakeTlsKeyShareTest, ClassicHelloAnsweredWithX25519UnderEveryPolicy) {
  for (bool pq : {false, true}) {
    const ObservedServerHello o = AnswerAndCheck(Legacy517(), {.post_quantum = pq}, 2500);
    EXPECT_EQ(o.group, kGroupX25519);
    EXPECT_EQ(o.record_length, 122u);  // the historical layout, byte for byte
  }
}

TEST(FakeTlsKeyShareTest, ModernHelloAnsweredWithX25519ByDefault) {
  const ObservedServerHello o = AnswerAndCheck(Modern(), {}, 2500);
  EXPECT_EQ(o.group, kGroupX25519);
  EXPECT_EQ(o.record_length, 122u);
}

TEST(FakeTlsKeyShareTest, ModernHelloAnsweredWithMlKemWhenOptedIn) {
  for (bool reversed : {false, true}) {
    const ObservedServerHello o =
        AnswerAndCheck(Modern(), {.post_quantum = true}, 3000, reversed);
    EXPECT_EQ(o.group, kGroupX25519MlKem768);
    EXPECT_EQ(o.share.size(), 1120u);
    EXPECT_EQ(o.record_length, 122u + 1088u);
  }
}

TEST(FakeTlsKeyShareTest, Secp256r1OnlyHelloAnsweredWithAPointOnTheCurve) {
  std::vector<uint8_t> hello = HelloWithShares({{0x2a2a, 1}, {kGroupSecp256r1, 65}});
  // Pad to the 512-byte minimum record length of the framing rule.
  const size_t pad = 600 - hello.size();
  hello.insert(hello.end(), {0x00, 0x15});
  hello.push_back(static_cast<uint8_t>((pad - 4) >> 8));
  hello.push_back(static_cast<uint8_t>(pad - 4));
  hello.insert(hello.end(), pad - 4, 0);
  StoreBe16(hello.data() + 3, static_cast<uint16_t>(hello.size() - 5));
  hello[6] = 0;
  StoreBe16(hello.data() + 7, static_cast<uint16_t>(hello.size() - 9));
  const size_t ext_len_at = 5 + 4 + 2 + 32 + 33 + 6;
  StoreBe16(hello.data() + ext_len_at, static_cast<uint16_t>(hello.size() - ext_len_at - 2));
  ASSERT_EQ(UsableKeyShareGroups(ParseKeyShares(hello)), kKeyShareSecp256r1);

  const ObservedServerHello a = AnswerAndCheck(hello, {}, 1800);
  EXPECT_EQ(a.group, kGroupSecp256r1);
  ASSERT_EQ(a.share.size(), 65u);
  EXPECT_EQ(a.share[0], 0x04);
  EXPECT_TRUE(OnP256(a.share));
  const ObservedServerHello b = AnswerAndCheck(hello, {}, 1800);
  EXPECT_NE(a.share, b.share);  // a fresh key pair each time
}

TEST(FakeTlsKeyShareTest, FixedSizesPerGroup) {
  EXPECT_EQ(ServerHelloFixedSize(kGroupX25519), kServerHelloFixedSize);
  EXPECT_EQ(ServerHelloFixedSize(kGroupSecp256r1), kServerHelloFixedSize + 33);
  EXPECT_EQ(ServerHelloFixedSize(kGroupX25519MlKem768), kServerHelloFixedSize + 1088);
}

TEST(FakeTlsKeyShareTest, BufferSizedForX25519StillGetsAWellFormedAnswer) {
  // A caller that sizes with ServerHelloSize(E) (x25519) and a chosen group whose fixed part
  // does not fit: the answer falls back to x25519 rather than overrunning.
  ServerHelloParams params;
  params.secret = kSecret;
  params.key_share_group = kGroupX25519MlKem768;
  std::vector<uint8_t> sh(ServerHelloSize(500));
  WriteServerHelloFresh(params, sh);
  std::optional<ObservedServerHello> o = Observe(sh);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->group, kGroupX25519);
  EXPECT_EQ(o->encrypted_size, 500u);
  // When it fits, the group is kept and E absorbs the difference.
  params.key_share_group = kGroupSecp256r1;
  WriteServerHelloFresh(params, sh);
  o = Observe(sh);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->group, kGroupSecp256r1);
  EXPECT_EQ(o->encrypted_size, 500u - 33u);
}

TEST(FakeTlsAlertTest, UnrecognizedNameIsOneFatalAlertRecord) {
  EXPECT_EQ(kUnrecognizedNameAlert,
            (TlsAlertRecord{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70}));
  // The record header frames exactly the 2-byte alert.
  EXPECT_EQ(LoadBe16(kUnrecognizedNameAlert.data() + 3), kTlsAlertRecordSize - 5);
  EXPECT_EQ(FatalTlsAlertRecord(40, 0x0301),
            (TlsAlertRecord{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 40}));
}

}  // namespace
}  // namespace mtp
