// Domain-probe codecs: the probe hello, parsing synthetic TLS 1.3 server answers (every
// failure the reference checks), and the aggregation of N answers into a domain profile.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/hex.h"
#include "proto/fake_tls_client_hello.h"
#include "proto/fake_tls_key_share.h"
#include "proto/fake_tls_probe.h"
#include "proto/fake_tls_server_hello.h"

namespace mtp {
namespace {

TlsSessionId Sid() {
  TlsSessionId sid;
  for (int i = 0; i < 32; ++i) sid[i] = static_cast<uint8_t>(0x30 + i);
  return sid;
}

// A TLS 1.3 server's first flight: ServerHello (+ optional extra extension), CCS, and one
// application-data record of `app_len` bytes.
std::vector<uint8_t> Answer(bool reversed, size_t app_len, uint8_t cipher = 0x01) {
  std::vector<uint8_t> key_share = {0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};
  key_share.resize(40, 0x77);
  const std::vector<uint8_t> versions = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};
  std::vector<uint8_t> r = {0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03};
  for (int i = 0; i < 32; ++i) r.push_back(static_cast<uint8_t>(0x90 + i));  // server random
  r.push_back(0x20);
  TlsSessionId sid = Sid();
  r.insert(r.end(), sid.begin(), sid.end());
  r.insert(r.end(), {0x13, cipher, 0x00, 0x00, 0x2e});
  const auto& a = reversed ? versions : key_share;
  const auto& b = reversed ? key_share : versions;
  r.insert(r.end(), a.begin(), a.end());
  r.insert(r.end(), b.begin(), b.end());
  r.insert(r.end(), {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03,
                     static_cast<uint8_t>(app_len >> 8), static_cast<uint8_t>(app_len)});
  r.resize(r.size() + app_len, 0xee);
  return r;
}

TEST(ProbeParseTest, ParsesBothOrders) {
  for (bool reversed : {false, true}) {
    std::vector<uint8_t> a = Answer(reversed, 2345);
    ProbeParse p = ParseProbeResponse(a, Sid());
    ASSERT_EQ(p.status, ProbeParseStatus::kOk) << p.error;
    EXPECT_EQ(p.answer.reversed_extension_order, reversed);
    EXPECT_EQ(p.answer.app_data_length, 2345);
    EXPECT_EQ(p.size, a.size());
    // Later records are not our business.
    a.insert(a.end(), {0x17, 0x03, 0x03, 0x00, 0x10});
    EXPECT_EQ(ParseProbeResponse(a, Sid()).size, p.size);
  }
}

TEST(ProbeParseTest, AsksForExactlyWhatTheReferenceReads) {
  std::vector<uint8_t> a = Answer(false, 300);
  ProbeParse p = ParseProbeResponse(ByteSpan(a).first(0), Sid());
  EXPECT_EQ(p.status, ProbeParseStatus::kNeedMore);
  EXPECT_EQ(p.bytes_needed, 5u);
  p = ParseProbeResponse(ByteSpan(a).first(5), Sid());
  EXPECT_EQ(p.bytes_needed, 5u + 0x7a + 11);
  p = ParseProbeResponse(ByteSpan(a).first(5 + 0x7a + 11), Sid());
  EXPECT_EQ(p.bytes_needed, a.size());
  for (size_t n = 0; n < a.size(); ++n) {
    EXPECT_EQ(ParseProbeResponse(ByteSpan(a).first(n), Sid()).status, ProbeParseStatus::kNeedMore)
        << n;
  }
}

TEST(ProbeParseTest, Failures) {
  auto fails = [](std::vector<uint8_t> a) {
    ProbeParse p = ParseProbeResponse(a, Sid());
    return p.status == ProbeParseStatus::kFailed && std::strlen(p.error) > 0;
  };
  auto with = [](size_t at, uint8_t v) {
    std::vector<uint8_t> a = Answer(false, 100);
    a[at] = v;
    return a;
  };
  EXPECT_TRUE(fails(with(0, 0x15)));   // alert, not handshake
  EXPECT_TRUE(fails(with(2, 0x01)));   // TLS 1.0 record version
  EXPECT_TRUE(fails(with(5, 0x0b)));   // not a ServerHello
  EXPECT_TRUE(fails(with(10, 0x02)));  // legacy version 03 02
  EXPECT_TRUE(fails(with(43, 0x00)));  // empty session id (TLS <= 1.2)
  EXPECT_TRUE(fails(with(43, 0x10)));  // odd session id length
  EXPECT_TRUE(fails(with(44, 0x00)));  // session id not echoed
  EXPECT_TRUE(fails(with(77, 0x02)));  // TLS_AES_256_GCM_SHA384 chosen
  EXPECT_TRUE(fails(with(78, 0x01)));  // compression
  EXPECT_TRUE(fails(with(80, 0x2f)));  // extensions length mismatch
  EXPECT_TRUE(fails(with(82, 0x29)));  // unexpected extension (pre_shared_key)
  EXPECT_TRUE(fails(with(84, 0x25)));  // key_share length 37
  EXPECT_TRUE(fails(with(127, 0x15))); // no CCS
  EXPECT_TRUE(fails(with(133, 0x16))); // not application data
  EXPECT_TRUE(fails(with(4, 0x27)));   // ServerHello record of 39 bytes: too short
  // Duplicate key_share instead of supported_versions.
  std::vector<uint8_t> dup = Answer(false, 100);
  std::vector<uint8_t> ks(dup.begin() + 81, dup.begin() + 121);
  std::vector<uint8_t> dup2(dup.begin(), dup.begin() + 81);
  dup2.insert(dup2.end(), ks.begin(), ks.end());
  dup2.insert(dup2.end(), ks.begin(), ks.end());
  dup2.insert(dup2.end(), dup.begin() + 127, dup.end());
  StoreBe16(dup2.data() + 3, 0x7a + 34);
  StoreBe16(dup2.data() + 79, 0x2e + 34);
  dup2[8] = static_cast<uint8_t>(0x76 + 34);
  EXPECT_TRUE(fails(dup2));
  // HelloRetryRequest.
  std::vector<uint8_t> hrr = Answer(false, 100);
  const std::vector<uint8_t> hrr_random = HexDecode(
      "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c").value();
  std::memcpy(hrr.data() + 11, hrr_random.data(), 32);
  EXPECT_TRUE(fails(hrr));
  // Empty application-data record.
  EXPECT_TRUE(fails(Answer(false, 0)));
}

TEST(ProbeAggregateTest, ReferenceRules) {
  auto answers = [](std::vector<int> lens, std::vector<bool> rev = {}) {
    std::vector<ProbeAnswer> v;
    for (size_t i = 0; i < lens.size(); ++i) {
      v.push_back(ProbeAnswer{!rev.empty() && rev[i], lens[i]});
    }
    return v;
  };
  // All equal: fixed.
  TlsDomainProfile p = AggregateProbeAnswers(answers({23, 23, 23}, {true, true, true}));
  EXPECT_TRUE(p.reversed_extension_order);
  EXPECT_EQ(p.encrypted_size, 23);
  EXPECT_FALSE(p.randomize_size);
  // Spread <= 3: max - 1, randomised.
  p = AggregateProbeAnswers(answers({100, 103, 101}));
  EXPECT_FALSE(p.reversed_extension_order);
  EXPECT_EQ(p.encrypted_size, 102);
  EXPECT_TRUE(p.randomize_size);
  // Wider: the rounded mean, randomised. (100 + 200 + 201) / 3 = 167.0; (1 + 2) / 2 -> 2.
  p = AggregateProbeAnswers(answers({100, 200, 201}));
  EXPECT_EQ(p.encrypted_size, 167);
  EXPECT_TRUE(p.randomize_size);
  p = AggregateProbeAnswers(answers({10, 15}));
  EXPECT_EQ(p.encrypted_size, 13);  // 12.5 rounds up
  // Mixed order: the minimum (not reversed), reported.
  bool mixed = false;
  p = AggregateProbeAnswers(answers({50, 50}, {true, false}), &mixed);
  EXPECT_FALSE(p.reversed_extension_order);
  EXPECT_TRUE(mixed);
  AggregateProbeAnswers(answers({50, 50}, {true, true}), &mixed);
  EXPECT_FALSE(mixed);
}

TEST(ProbeAggregateTest, Fallback) {
  TlsDomainProfile p = FallbackDomainProfile(0);
  EXPECT_EQ(p.encrypted_size, 2500);
  EXPECT_TRUE(p.randomize_size);
  EXPECT_FALSE(p.reversed_extension_order);
  EXPECT_EQ(FallbackDomainProfile(1119).encrypted_size, 3619);
  EXPECT_EQ(FallbackDomainProfile(1120).encrypted_size, 2500);
  for (int i = 0; i < 32; ++i) {
    const int e = FallbackDomainProfile().encrypted_size;
    EXPECT_GE(e, 2500);
    EXPECT_LE(e, 3619);
  }
}

TEST(ProbeHelloTest, LegacyLayoutWithSniAndRandomFields) {
  std::vector<uint8_t> a = BuildProbeClientHello("example.com").value();
  std::vector<uint8_t> b = BuildProbeClientHello("example.com").value();
  ASSERT_EQ(a.size(), 517u);
  EXPECT_EQ(HexEncode(ByteSpan(a).first(11)), "1603010200010001fc0303");
  EXPECT_NE(HexEncode(ByteSpan(a).subspan(11, 32)), HexEncode(ByteSpan(b).subspan(11, 32)));
  EXPECT_NE(HexEncode(ByteSpan(a).subspan(44, 32)), HexEncode(ByteSpan(b).subspan(44, 32)));
  ByteSpan sni = FindSni(a).value();
  EXPECT_EQ(std::string(sni.begin(), sni.end()), "example.com");
  EXPECT_FALSE(BuildProbeClientHello("").ok());
}

// The post-quantum probe hello offers X25519MLKEM768 and x25519 shares, fresh randoms.
TEST(PqProbeHelloTest, OffersBothShares) {
  std::vector<uint8_t> a = BuildPqProbeClientHello("example.com").value();
  std::vector<uint8_t> b = BuildPqProbeClientHello("example.com").value();
  EXPECT_NE(HexEncode(ByteSpan(a).subspan(11, 32)), HexEncode(ByteSpan(b).subspan(11, 32)));
  EXPECT_NE(HexEncode(ByteSpan(a).subspan(44, 32)), HexEncode(ByteSpan(b).subspan(44, 32)));
  const uint8_t usable = UsableKeyShareGroups(ParseKeyShares(a));
  EXPECT_NE(usable & kKeyShareX25519MlKem768, 0);
  EXPECT_NE(usable & kKeyShareX25519, 0);
  ByteSpan sni = FindSni(a).value();
  EXPECT_EQ(std::string(sni.begin(), sni.end()), "example.com");
}

// A ServerHello answering `group` (our own writer: the same wire shape a real server sends),
// for a hello with session id `sid`.
std::vector<uint8_t> AnswerWith(uint16_t group, const TlsSessionId& sid, uint8_t suite = 0x01) {
  ServerHelloParams params;
  params.session_id = sid;
  params.cipher_suite = suite;
  params.key_share_group = group;
  std::vector<uint8_t> out(ServerHelloSize(params, 100));
  WriteServerHelloFresh(params, MutableByteSpan(out));
  return out;
}

TEST(PqProbeParseTest, LearnsTheGroupAndTheServerHelloLength) {
  TlsSessionId sid{};
  for (size_t i = 0; i < sid.size(); ++i) sid[i] = static_cast<uint8_t>(i + 1);
  const std::vector<uint8_t> pq = AnswerWith(kGroupX25519MlKem768, sid);
  // Byte by byte: asks for the header, then for the whole ServerHello record only.
  PqProbeParse p = ParsePqProbeResponse(ByteSpan(pq).first(3), sid);
  EXPECT_EQ(p.status, ProbeParseStatus::kNeedMore);
  EXPECT_EQ(p.bytes_needed, 5u);
  p = ParsePqProbeResponse(ByteSpan(pq).first(5), sid);
  EXPECT_EQ(p.status, ProbeParseStatus::kNeedMore);
  EXPECT_EQ(p.bytes_needed, 5u + 1210u);
  p = ParsePqProbeResponse(ByteSpan(pq).first(5 + 1210), sid);
  ASSERT_EQ(p.status, ProbeParseStatus::kOk) << p.error;
  EXPECT_EQ(p.answer.group, kGroupX25519MlKem768);
  EXPECT_EQ(p.answer.server_hello_size, 1210);

  const std::vector<uint8_t> classic = AnswerWith(kGroupX25519, sid, 0x02);  // any 1.3 suite
  p = ParsePqProbeResponse(classic, sid);
  ASSERT_EQ(p.status, ProbeParseStatus::kOk) << p.error;
  EXPECT_EQ(p.answer.group, kGroupX25519);
  EXPECT_EQ(p.answer.server_hello_size, 122);
}

TEST(PqProbeParseTest, Failures) {
  TlsSessionId sid{};
  sid[0] = 7;
  std::vector<uint8_t> ok = AnswerWith(kGroupX25519, sid);
  auto failed = [&](std::vector<uint8_t> bytes) {
    return ParsePqProbeResponse(bytes, sid).status == ProbeParseStatus::kFailed;
  };
  std::vector<uint8_t> bad = ok;
  bad[0] = 0x15;  // an alert
  EXPECT_TRUE(failed(bad));
  bad = ok;
  bad[44] ^= 1;  // session id not echoed
  EXPECT_TRUE(failed(bad));
  bad = ok;
  static constexpr uint8_t kHrr[32] = {
      0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
      0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
      0x33, 0x9c};
  std::memcpy(bad.data() + 11, kHrr, 32);
  EXPECT_TRUE(failed(bad));
  bad = ok;
  bad[77] = 0x2f;  // a TLS 1.2 suite byte
  EXPECT_TRUE(failed(bad));
  bad = ok;
  bad[80] ^= 1;  // extensions length off by one
  EXPECT_TRUE(failed(bad));
}

}  // namespace
}  // namespace mtp
