// JA4 fingerprints of hand-built ClientHellos against published values (the hashes were
// checked by hand: printf '%s' "<list>" | sha256sum | cut -c1-12), GREASE handling, the 'a'
// part's rules, and malformed input.
#include "proto/fake_tls_ja4.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "proto/fake_tls.h"

namespace mtp {
namespace {

using Extension = std::pair<uint16_t, std::vector<uint8_t>>;

void Be16(std::vector<uint8_t>& v, size_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}

std::vector<uint8_t> MakeHello(const std::vector<uint16_t>& ciphers,
                               const std::vector<Extension>& extensions,
                               uint16_t legacy_version = 0x0303) {
  std::vector<uint8_t> body;
  Be16(body, legacy_version);
  body.insert(body.end(), 32, 0x11);  // random
  body.push_back(32);
  body.insert(body.end(), 32, 0x22);  // session id
  Be16(body, ciphers.size() * 2);
  for (uint16_t c : ciphers) Be16(body, c);
  body.insert(body.end(), {0x01, 0x00});
  std::vector<uint8_t> ext;
  for (const auto& [type, data] : extensions) {
    Be16(ext, type);
    Be16(ext, data.size());
    ext.insert(ext.end(), data.begin(), data.end());
  }
  Be16(body, ext.size());
  body.insert(body.end(), ext.begin(), ext.end());
  std::vector<uint8_t> record = {0x16, 0x03, 0x01};
  Be16(record, body.size() + 4);
  record.push_back(0x01);
  record.push_back(0);
  Be16(record, body.size());
  record.insert(record.end(), body.begin(), body.end());
  return record;
}

Extension Sni(const std::string& name) {
  std::vector<uint8_t> d;
  Be16(d, name.size() + 3);
  d.push_back(0);
  Be16(d, name.size());
  d.insert(d.end(), name.begin(), name.end());
  return {0x0000, d};
}
Extension Alpn(const std::vector<std::string>& protocols) {
  std::vector<uint8_t> list;
  for (const std::string& p : protocols) {
    list.push_back(static_cast<uint8_t>(p.size()));
    list.insert(list.end(), p.begin(), p.end());
  }
  std::vector<uint8_t> d;
  Be16(d, list.size());
  d.insert(d.end(), list.begin(), list.end());
  return {0x0010, d};
}
Extension SigAlgs(const std::vector<uint16_t>& algs) {
  std::vector<uint8_t> d;
  Be16(d, algs.size() * 2);
  for (uint16_t a : algs) Be16(d, a);
  return {0x000d, d};
}
Extension Versions(const std::vector<uint16_t>& versions) {
  std::vector<uint8_t> d = {static_cast<uint8_t>(versions.size() * 2)};
  for (uint16_t v : versions) Be16(d, v);
  return {0x002b, d};
}
Extension Empty(uint16_t type) { return {type, {}}; }

const std::vector<uint16_t> kChromeCiphers = {0x5a5a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                              0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                                              0x009c, 0x009d, 0x002f, 0x0035};
const std::vector<uint16_t> kChromeSigAlgs = {0x0403, 0x0804, 0x0401, 0x0503,
                                              0x0805, 0x0501, 0x0806, 0x0601};

// Chrome 143 as browserleaks.com reports it (ja4_ro gives the wire order):
// ja4 t13d1516h2_8daaf6152771_d8a2da3f94cd.
std::vector<Extension> Chrome143Extensions() {
  return {Empty(0x1a1a),
          Empty(0x002d),
          Empty(0x0033),
          Alpn({"h2", "http/1.1"}),
          Empty(0xfe0d),
          Empty(0x0017),
          Empty(0x44cd),
          Sni("tls.browserleaks.com"),
          Empty(0x000b),
          Empty(0x000a),
          Versions({0x7a7a, 0x0304, 0x0303}),
          Empty(0xff01),
          Empty(0x0023),
          Empty(0x0012),
          Empty(0x0005),
          SigAlgs(kChromeSigAlgs),
          Empty(0x001b),
          Empty(0x2a2a)};
}

TEST(Ja4Test, Chrome143FromBrowserleaks) {
  EXPECT_EQ(Ja4Fingerprint(MakeHello(kChromeCiphers, Chrome143Extensions())),
            "t13d1516h2_8daaf6152771_d8a2da3f94cd");
}

// The JA4 specification's example: t13d1516h2_8daaf6152771_e5627efa2ab1.
TEST(Ja4Test, SpecificationExample) {
  const std::vector<Extension> ext = {Empty(0x0005),      Empty(0x000a),
                                      Empty(0x000b),      SigAlgs(kChromeSigAlgs),
                                      Empty(0x0012),      Empty(0x0015),
                                      Empty(0x0017),      Empty(0x001b),
                                      Empty(0x0023),      Versions({0x0304, 0x0303}),
                                      Empty(0x002d),      Empty(0x0033),
                                      Empty(0x4469),      Empty(0xff01),
                                      Sni("example.com"), Alpn({"h2"})};
  EXPECT_EQ(Ja4Fingerprint(MakeHello(kChromeCiphers, ext)), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  // Without signature algorithms the extension list is hashed alone (no underscore).
  std::vector<Extension> no_algs = ext;
  no_algs[3] = SigAlgs({});
  EXPECT_EQ(Ja4Fingerprint(MakeHello(kChromeCiphers, no_algs)),
            "t13d1516h2_8daaf6152771_6d807ffa2a79");
}

TEST(Ja4Test, PartARules) {
  // No SNI, no ALPN, no supported_versions: "i", "00", the legacy version.
  const std::string plain = Ja4Fingerprint(MakeHello({0x1301}, {Empty(0x0017)})).value();
  EXPECT_EQ(plain.substr(0, 10), "t12i010100");
  EXPECT_EQ(Ja4Fingerprint(MakeHello({0x1301}, {Empty(0x0017)}, 0x0301))->substr(0, 3), "t10");
  // ALPN characters that are not alphanumeric: the first and last hex digits instead.
  EXPECT_EQ(Ja4Fingerprint(MakeHello({0x1301}, {Alpn({"\xab\xcd"})}))->substr(8, 2), "ad");
  EXPECT_EQ(Ja4Fingerprint(MakeHello({0x1301}, {Alpn({"http/1.1"})}))->substr(8, 2), "h1");
  // Counts are capped at 99; GREASE never counts.
  std::vector<uint16_t> many;
  for (uint16_t c = 0x0100; c < 0x0100 + 150; ++c) many.push_back(c);
  many.push_back(0xfafa);
  EXPECT_EQ(Ja4Fingerprint(MakeHello(many, {}))->substr(0, 8), "t12i9900");
  // No cipher and no extension: zero hashes.
  EXPECT_EQ(Ja4Fingerprint(MakeHello({}, {})), "t12i000000_000000000000_000000000000");
}

TEST(Ja4Test, TheProjectsHellos) {
  const ClientSecret secret{};
  const auto legacy = BuildClientHello(secret, "example.com", 0, ClientHelloLayout::kLegacy517);
  EXPECT_EQ(Ja4Fingerprint(legacy.value())->substr(0, 10), "t13d1615h2");
  const auto modern = BuildClientHello(secret, "example.com", 0, ClientHelloLayout::kModern);
  const std::string m = Ja4Fingerprint(modern.value()).value();
  EXPECT_EQ(m.substr(0, 4), "t13d");
  // Extension order is shuffled per hello but JA4 sorts: two hellos share a fingerprint.
  const auto again = BuildClientHello(secret, "example.com", 0, ClientHelloLayout::kModern);
  EXPECT_EQ(Ja4Fingerprint(again.value()), m);
}

TEST(Ja4Test, MalformedHellosHaveNoFingerprint) {
  const std::vector<uint8_t> good = MakeHello(kChromeCiphers, Chrome143Extensions());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(Ja4Fingerprint(ByteSpan(good).first(n)).has_value()) << n;
  }
  std::vector<uint8_t> not_hello = good;
  not_hello[5] = 0x02;
  EXPECT_FALSE(Ja4Fingerprint(not_hello).has_value());
  std::vector<uint8_t> bad_ext = good;
  bad_ext[bad_ext.size() - 2] = 0xff;  // the last extension's length overruns
  EXPECT_FALSE(Ja4Fingerprint(bad_ext).has_value());
}

}  // namespace
}  // namespace mtp
