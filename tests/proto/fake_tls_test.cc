// Fake-TLS handshake codecs: spec vectors D.1-D.3, every ClientHello rejection, the timestamp
// window, replays, SNI and GREASE handling, ServerHello construction and client-side checks.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/hex.h"
#include "proto/fake_tls.h"
#include "crypto/hash.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

const ClientSecret kSecret = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
const ClientSecret kOtherSecret = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
                                   0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
constexpr int32_t kD1Timestamp = 1700000000;

// D.1: the record with the random zeroed (the HMAC input); the rest of the 517 bytes are zero.
constexpr std::string_view kD1HmacInputHex =
    "1603010200010001fc0303000000000000000000000000000000000000000000"
    "000000000000000000000020a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
    "b4b5b6b7b8b9babbbcbdbebf00220a0a130113021303c02bc02fc02cc030cca9"
    "cca8c013c014009c009d002f0035000a010001912a2a000000000010000e0000"
    "0b6578616d706c652e636f6d00170000ff01000100000a000a00084a4a001d00"
    "170018000b00020100002300000010000e000c02683208687474702f312e3100"
    "0500050100000000000d00140012040308040401050308050501080606010201"
    "001200000033002b00294a4a000100001d0020606162636465666768696a6b6c"
    "6d6e6f707172737475767778797a7b7c7d7e7f002d00020101002b000b0a6a6a"
    "0304030303020301001b00030200023a3a000100001500cd0000000000000000";
constexpr std::string_view kD1Hmac =
    "48894e8a698a545dd614b09eb134a21c313a806e54ca4090639cb37ca591e949";
constexpr std::string_view kD1ClientRandom =
    "48894e8a698a545dd614b09eb134a21c313a806e54ca4090639cb37ca560ba2c";

std::vector<uint8_t> D1HmacInput() {
  std::vector<uint8_t> v = H(kD1HmacInputHex);
  v.resize(517, 0);
  return v;
}

LegacyHelloRandoms D1Randoms() {
  LegacyHelloRandoms r;
  for (int i = 0; i < 32; ++i) {
    r.session_id[i] = static_cast<uint8_t>(0xa0 + i);
    r.key_share[i] = static_cast<uint8_t>(0x60 + i);
  }
  for (int i = 0; i < 7; ++i) r.grease[i] = static_cast<uint8_t>(0x0a + 0x10 * i);
  return r;
}

std::vector<uint8_t> SignedLegacy(std::string_view domain, int32_t ts,
                                  const ClientSecret& secret = kSecret) {
  std::vector<uint8_t> hello = BuildLegacyClientHello(domain, D1Randoms()).value();
  SignClientHello(secret, ts, MutableByteSpan(hello));
  return hello;
}

// Like SignedLegacy but with a session id unique to this call, as real clients send: only the
// last 4 bytes of the random depend on the timestamp, so equal hellos would be replays.
std::vector<uint8_t> UniqueSigned(std::string_view domain, int32_t ts) {
  static uint32_t counter = 0;
  LegacyHelloRandoms randoms = D1Randoms();
  StoreLe32(randoms.session_id.data(), ++counter);
  std::vector<uint8_t> hello = BuildLegacyClientHello(domain, randoms).value();
  SignClientHello(kSecret, ts, MutableByteSpan(hello));
  return hello;
}

// A validator set-up: -S kOtherSecret -S kSecret, -D example.com -D localhost.
struct Proxy {
  std::vector<ClientSecret> secrets = {kOtherSecret, kSecret};
  std::vector<std::string> domains = {"example.com", "localhost"};
  SimpleReplayCache cache;
  ClientHelloConfig config() const { return ClientHelloConfig{secrets, domains}; }
  ClientHelloResult Validate(ByteSpan bytes, int64_t now_s = kD1Timestamp, uint16_t port = 443) {
    return ValidateClientHello(bytes, config(), port, now_s, cache);
  }
};

// ---- D.1 -----------------------------------------------------------------------------------

TEST(FakeTlsVectorTest, D1BuilderReproducesHmacInputHmacAndRandom) {
  std::vector<uint8_t> unsigned_hello = BuildLegacyClientHello("example.com", D1Randoms()).value();
  EXPECT_EQ(HexEncode(unsigned_hello), HexEncode(D1HmacInput()));
  EXPECT_EQ(HexEncode(HmacSha256(kSecret, {ByteSpan(unsigned_hello)})), kD1Hmac);

  std::vector<uint8_t> hello = SignedLegacy("example.com", kD1Timestamp);
  EXPECT_EQ(HexEncode(ByteSpan(hello).subspan(11, 32)), kD1ClientRandom);
  std::vector<uint8_t> expected = D1HmacInput();
  std::vector<uint8_t> random = H(kD1ClientRandom);
  std::memcpy(expected.data() + 11, random.data(), 32);
  EXPECT_EQ(HexEncode(hello), HexEncode(expected));
}

TEST(FakeTlsVectorTest, D1ValidatesWithAllFields) {
  std::vector<uint8_t> hello = D1HmacInput();
  std::vector<uint8_t> random = H(kD1ClientRandom);
  std::memcpy(hello.data() + 11, random.data(), 32);

  ASSERT_EQ(HexEncode(FindSni(hello).value()), HexEncode(ByteSpan(
      reinterpret_cast<const uint8_t*>("example.com"), 11)));
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(hello);
  ASSERT_EQ(r.status, ClientHelloStatus::kAccept) << ClientHelloStatusName(r.status);
  EXPECT_EQ(r.domain_index, 0u);
  EXPECT_EQ(r.secret_index, 1u);
  EXPECT_EQ(r.timestamp, kD1Timestamp);
  EXPECT_EQ(r.cipher_suite, 0x01);
  EXPECT_EQ(r.record_size, 517u);
  EXPECT_EQ(HexEncode(r.client_random), kD1ClientRandom);
  EXPECT_EQ(HexEncode(r.session_id),
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
}

// ---- D.2 -----------------------------------------------------------------------------------

constexpr std::string_view kD2Final =
    "160303007a02000076030378788cb31edc20d131a2399cf1f349fd2fa903b576"
    "70477362091058dea6967920a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
    "b4b5b6b7b8b9babbbcbdbebf130100002e00330024001d0020c0c1c2c3c4c5c6"
    "c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf002b0002030414"
    "0303000101170303002400112233445566778899aabbccddeeff102132435465"
    "768798a9bacbdcedfe0f20314253";

ServerHelloParams D2Params(bool reversed) {
  ServerHelloParams p;
  p.secret = kSecret;
  std::vector<uint8_t> random = H(kD1ClientRandom);
  std::memcpy(p.client_random.data(), random.data(), 32);
  for (int i = 0; i < 32; ++i) p.session_id[i] = static_cast<uint8_t>(0xa0 + i);
  p.cipher_suite = 0x01;
  p.reversed_extension_order = reversed;
  return p;
}

X25519PublicKey D2Key() {
  X25519PublicKey key;
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(0xc0 + i);
  return key;
}

std::vector<uint8_t> D2Data() {
  std::vector<uint8_t> data(36);
  for (int i = 0; i < 36; ++i) data[i] = static_cast<uint8_t>(0x11 * i);
  return data;
}

TEST(FakeTlsVectorTest, D2ServerHelloByteExact) {
  std::vector<uint8_t> out(ServerHelloSize(36));
  ASSERT_EQ(out.size(), 174u);
  WriteServerHello(D2Params(false), D2Key(), D2Data(), out);
  EXPECT_EQ(HexEncode(out), kD2Final);
  EXPECT_EQ(HexEncode(ByteSpan(out).subspan(11, 32)),
            "78788cb31edc20d131a2399cf1f349fd2fa903b57670477362091058dea69679");

  // The client's check accepts it, and only with the right secret and client random.
  TlsRandom cr = D2Params(false).client_random;
  ServerHelloCheck check = VerifyServerHello(kSecret, cr, out);
  EXPECT_EQ(check.status, ServerHelloCheckStatus::kOk);
  EXPECT_EQ(check.size, out.size());
  EXPECT_EQ(VerifyServerHello(kOtherSecret, cr, out).status, ServerHelloCheckStatus::kBadDigest);
  cr[0] ^= 1;
  EXPECT_EQ(VerifyServerHello(kSecret, cr, out).status, ServerHelloCheckStatus::kBadDigest);
}

TEST(FakeTlsVectorTest, D2FromValidatedHelloAndAliasedData) {
  std::vector<uint8_t> hello = SignedLegacy("example.com", kD1Timestamp);
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(hello);
  ASSERT_TRUE(r.accepted());
  TlsDomainProfile profile{false, 36, false};
  ServerHelloParams params = MakeServerHelloParams(r, proxy.secrets[r.secret_index], profile);
  std::vector<uint8_t> out(ServerHelloSize(PickEncryptedSize(profile)));
  std::vector<uint8_t> data = D2Data();
  std::memcpy(out.data() + kServerHelloFixedSize, data.data(), data.size());
  WriteServerHello(params, D2Key(), ByteSpan(out).subspan(kServerHelloFixedSize), out);
  EXPECT_EQ(HexEncode(out), kD2Final);
}

TEST(FakeTlsVectorTest, D2ReversedOrder) {
  std::vector<uint8_t> out(ServerHelloSize(36));
  WriteServerHello(D2Params(true), D2Key(), D2Data(), out);
  EXPECT_EQ(HexEncode(ByteSpan(out).subspan(81, 46)),
            "002b00020304"
            "00330024001d0020c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf");
  EXPECT_EQ(VerifyServerHello(kSecret, D2Params(true).client_random, out).status,
            ServerHelloCheckStatus::kOk);
}

// ---- D.3 -----------------------------------------------------------------------------------

constexpr int32_t kD3Timestamp = 1795452933;
constexpr std::string_view kD3ClientRandom =
    "b3386b3d42fc561b89cbd41dd483d6578cba1b9ff875c8e3232eb82b05aa5b72";
constexpr std::string_view kD3ServerHello =
    "160303007a02000076030350b2818cfb93966090a6a3bb03918bc858cf0e240f"
    "b2ca9486b1e97048bf987120a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"
    "b4b5b6b7b8b9babbbcbdbebf130100002e002b0002030400330024001d002008"
    "e6bf15d6cc7c19118106a3956c24bfa7c88522a098fd35c6e8080f4beba50914"
    "03030001011703030017ea94a01c88148640c7fc055e84775a78d32ed5da5b20"
    "f6";
// A.3: the 64 obfuscated2 header bytes as sent on the wire.
constexpr std::string_view kA3WireHeader =
    "4144474a4d505356595c5f6265686b6e7174777a7d808386898c8f9295989b9e"
    "a1a4a7aaadb0b3b6b9bcbfc2c5c8cbced1d4d7dadde0e3e6ec3a8ac41a50c423";

TEST(FakeTlsVectorTest, D3CapturedHelloValidatesAtItsTimestamp) {
  // The captured hello is the D.1 template with SNI "localhost" signed at the sandbox clock.
  std::vector<uint8_t> hello = SignedLegacy("localhost", kD3Timestamp);
  ASSERT_EQ(hello.size(), 517u);
  EXPECT_EQ(HexEncode(ByteSpan(hello).subspan(11, 32)), kD3ClientRandom);
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(hello, kD3Timestamp);
  ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
  EXPECT_EQ(r.domain_index, 1u);
  EXPECT_EQ(r.timestamp, kD3Timestamp);
  EXPECT_EQ(r.cipher_suite, 0x01);
}

TEST(FakeTlsVectorTest, D3CapturedServerHelloPassesClientCheck) {
  std::vector<uint8_t> sh = H(kD3ServerHello);
  std::vector<uint8_t> random = H(kD3ClientRandom);
  TlsRandom cr;
  std::memcpy(cr.data(), random.data(), 32);
  ServerHelloCheck check = VerifyServerHello(kSecret, cr, sh);
  EXPECT_EQ(check.status, ServerHelloCheckStatus::kOk);
  EXPECT_EQ(check.size, sh.size());
  // Reversed extension order and E = 23 as the probe logged.
  EXPECT_EQ(HexEncode(ByteSpan(sh).subspan(81, 6)), "002b00020304");
  EXPECT_EQ(sh.size(), ServerHelloSize(23));
  // Byte by byte the check keeps asking for more until the last byte.
  for (size_t n = 0; n < sh.size(); ++n) {
    EXPECT_EQ(VerifyServerHello(kSecret, cr, ByteSpan(sh).first(n)).status,
              ServerHelloCheckStatus::kNeedMore)
        << n;
  }
  // A flipped byte anywhere breaks the HMAC (or the format).
  for (size_t i : {0u, 11u, 50u, 100u, 130u, 150u}) {
    std::vector<uint8_t> bad = sh;
    bad[i] ^= 0x40;
    EXPECT_NE(VerifyServerHello(kSecret, cr, bad).status, ServerHelloCheckStatus::kOk) << i;
  }
}

TEST(FakeTlsVectorTest, D3FirstClientRecordCarriesA3Header) {
  std::vector<uint8_t> wire = H("140303000101170303006e");
  std::vector<uint8_t> header = H(kA3WireHeader);
  wire.insert(wire.end(), header.begin(), header.end());
  for (int i = 0; i < 46; ++i) wire.push_back(static_cast<uint8_t>(i));  // CTR ciphertext
  wire.insert(wire.end(), {0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb});   // a later record

  TlsRecordReader reader;
  TlsReadError error;
  size_t n = reader.UnwrapInPlace(MutableByteSpan(wire), &error);
  EXPECT_EQ(error, TlsReadError::kNone);
  ASSERT_EQ(n, 110u + 2u);
  EXPECT_EQ(HexEncode(ByteSpan(wire).first(64)), kA3WireHeader);
  EXPECT_EQ(wire[110], 0xaa);
  EXPECT_EQ(wire[111], 0xbb);
}

// ---- Rejections, in the order checked ------------------------------------------------------

TEST(FakeTlsHelloTest, NeedMoreUntilNineBytesThenWholeRecord) {
  std::vector<uint8_t> hello = SignedLegacy("example.com", kD1Timestamp);
  Proxy proxy;
  for (size_t n = 0; n < kClassifyMinBytes; ++n) {
    ClientHelloResult r = proxy.Validate(ByteSpan(hello).first(n));
    EXPECT_TRUE(r.need_more());
    EXPECT_EQ(r.bytes_needed, kClassifyMinBytes);
  }
  for (size_t n : {9u, 100u, 516u}) {
    ClientHelloResult r = proxy.Validate(ByteSpan(hello).first(n));
    EXPECT_TRUE(r.need_more());
    EXPECT_EQ(r.bytes_needed, 517u);
  }
  EXPECT_EQ(proxy.cache.size(), 0u);  // nothing inserted while incomplete
  EXPECT_TRUE(proxy.Validate(hello).accepted());
}

TEST(FakeTlsHelloTest, NotTls) {
  Proxy proxy;
  for (std::string_view prefix : {"474554202f20485454", "160301010000000000",  // GET, L < 512
                                  "160303020000000000", "170301020000000000"}) {
    std::vector<uint8_t> b = H(prefix);
    ClientHelloResult r = proxy.Validate(b);
    EXPECT_EQ(r.status, ClientHelloStatus::kNotTls) << prefix;
    EXPECT_EQ(r.domain_index, 0u);
  }
  // No secrets configured: never TLS.
  std::vector<uint8_t> hello = SignedLegacy("localhost", kD1Timestamp);
  std::vector<std::string> domains = {"example.com", "localhost"};
  SimpleReplayCache cache;
  EXPECT_EQ(ValidateClientHello(hello, ClientHelloConfig{{}, domains}, 443, kD1Timestamp, cache)
                .status,
            ClientHelloStatus::kNotTls);
}

TEST(FakeTlsHelloTest, PrefixRuleAcceptsLongRecords) {
  EXPECT_TRUE(IsClientHelloPrefix(H("16030102")));
  EXPECT_TRUE(IsClientHelloPrefix(H("16030106")));
  EXPECT_TRUE(IsClientHelloPrefix(H("160301ff")));
  EXPECT_FALSE(IsClientHelloPrefix(H("16030101")));
  EXPECT_FALSE(IsClientHelloPrefix(H("160301")));
}

TEST(FakeTlsHelloTest, BadAndUnknownSniGoToDefaultDomain) {
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(SignedLegacy("example.org", kD1Timestamp));
  EXPECT_EQ(r.status, ClientHelloStatus::kUnknownSni);
  EXPECT_EQ(r.domain_index, 0u);
  // Case-sensitive comparison.
  EXPECT_EQ(proxy.Validate(SignedLegacy("LOCALHOST", kD1Timestamp)).status,
            ClientHelloStatus::kUnknownSni);
  // A NUL inside the name.
  std::vector<uint8_t> nul = SignedLegacy("localhost", kD1Timestamp);
  ByteSpan name = FindSni(nul).value();
  nul[name.data() - nul.data() + 5] = 0;
  EXPECT_FALSE(FindSni(nul).has_value());
  r = proxy.Validate(nul);
  EXPECT_EQ(r.status, ClientHelloStatus::kBadSni);
  EXPECT_EQ(r.domain_index, 0u);
  EXPECT_EQ(proxy.cache.size(), 0u);
}

TEST(FakeTlsHelloTest, WildcardDomainAuthenticatesOneLabelAndFrontsTheRest) {
  Proxy proxy;
  proxy.domains = {"example.com", "*.wild.example", "exact.wild.example"};
  ClientHelloResult r = proxy.Validate(UniqueSigned("a.wild.example", kD1Timestamp));
  ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
  EXPECT_EQ(r.domain_index, 1u);
  r = proxy.Validate(UniqueSigned("exact.wild.example", kD1Timestamp));
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.domain_index, 2u);
  // Matched but not authenticated: fronted to the wildcard's own target.
  std::vector<uint8_t> forged = UniqueSigned("b.wild.example", kD1Timestamp);
  forged[kHelloRandomOffset] ^= 1;
  r = proxy.Validate(forged);
  EXPECT_EQ(r.status, ClientHelloStatus::kBadDigest);
  EXPECT_EQ(r.domain_index, 1u);
  for (std::string_view sni : {"wild.example", "a.b.wild.example", "*.wild.example"}) {
    r = proxy.Validate(UniqueSigned(sni, kD1Timestamp));
    EXPECT_EQ(r.status, ClientHelloStatus::kUnknownSni) << sni;
    EXPECT_EQ(r.domain_index, 0u);
  }
  EXPECT_TRUE(IsWildcardDomain("*.wild.example"));
  EXPECT_FALSE(IsWildcardDomain("*."));
  EXPECT_FALSE(IsWildcardDomain("a.*.example"));
  EXPECT_EQ(WildcardBase("*.wild.example"), "wild.example");
  EXPECT_EQ(WildcardBase("exact.example"), "exact.example");
}

TEST(FakeTlsHelloTest, SniMalformations) {
  std::vector<uint8_t> base = BuildLegacyClientHello("localhost", D1Randoms()).value();
  // Locate the server_name extension: 82 + CL, after the 4-byte GREASE extension.
  const size_t cl = LoadBe16(base.data() + 76);
  const size_t sni = 82 + cl + 4;
  ASSERT_EQ(LoadBe16(base.data() + sni), 0x0000);
  ASSERT_EQ(HexEncode(ByteSpan(base).subspan(sni, 9)), "0000000e000c000009");
  auto broken = [&](size_t offset, uint8_t value) {
    std::vector<uint8_t> b = base;
    b[offset] = value;
    return FindSni(b).has_value();
  };
  EXPECT_TRUE(FindSni(base).has_value());
  EXPECT_FALSE(broken(sni + 5, 0x0d));  // list length != ext_len - 2
  EXPECT_FALSE(broken(sni + 6, 0x01));  // name type != host_name
  EXPECT_FALSE(broken(sni + 8, 0x08));  // name length != ext_len - 5
  EXPECT_FALSE(broken(sni + 1, 0x05));  // not type 0 anymore: walk continues, finds none
  // Extension length running past the buffer.
  EXPECT_FALSE(broken(sni + 2, 0xff));
  // Cipher-suite length running past the buffer.
  EXPECT_FALSE(broken(76, 0xff));
  // Truncated buffers: the walk is bounded by what is buffered.
  for (size_t n = 0; n < sni + 4 + 14; ++n) {
    EXPECT_FALSE(FindSni(ByteSpan(base).first(n)).has_value()) << n;
  }
  EXPECT_TRUE(FindSni(ByteSpan(base).first(sni + 4 + 14)).has_value());
  // Missing entirely: rename the extension type so the walk runs off the end.
  std::vector<uint8_t> missing = base;
  missing[sni + 1] = 0x99;
  Proxy proxy;
  SignClientHello(kSecret, kD1Timestamp, MutableByteSpan(missing));
  EXPECT_EQ(proxy.Validate(missing).status, ClientHelloStatus::kBadSni);
}

TEST(FakeTlsHelloTest, Port80GoesToMatchedDomain) {
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(SignedLegacy("localhost", kD1Timestamp), kD1Timestamp, 80);
  EXPECT_EQ(r.status, ClientHelloStatus::kPort80);
  EXPECT_EQ(r.domain_index, 1u);
}

TEST(FakeTlsHelloTest, ExtraBytesAfterRecord) {
  Proxy proxy;
  std::vector<uint8_t> hello = SignedLegacy("localhost", kD1Timestamp);
  hello.insert(hello.end(), {0x14, 0x03, 0x03});
  ClientHelloResult r = proxy.Validate(hello);
  EXPECT_EQ(r.status, ClientHelloStatus::kExtraBytes);
  EXPECT_EQ(r.domain_index, 1u);
  EXPECT_EQ(proxy.cache.size(), 0u);
}

// Grows a legacy hello by `extra` bytes of padding (fixing every length) and signs it.
std::vector<uint8_t> GrowHello(std::string_view domain, size_t extra, int32_t ts) {
  std::vector<uint8_t> h = BuildLegacyClientHello(domain, D1Randoms()).value();
  auto add_be16 = [&](size_t at) {
    StoreBe16(h.data() + at, static_cast<uint16_t>(LoadBe16(h.data() + at) + extra));
  };
  add_be16(3);                       // record length
  add_be16(7);                       // handshake length (low 16 bits; stays below 64 KiB)
  add_be16(78 + 0x22 + 2);           // extensions length
  h.insert(h.end(), extra, 0);
  add_be16(517 - 2 - (205 + 11 - domain.size()));  // padding extension length
  SignClientHello(kSecret, ts, MutableByteSpan(h));
  return h;
}

TEST(FakeTlsHelloTest, TooBigAfterWaitingForWholeRecord) {
  Proxy proxy;
  // 5 + L = 4096 is the largest accepted record.
  std::vector<uint8_t> max = GrowHello("localhost", 4096 - 517, kD1Timestamp);
  ASSERT_EQ(max.size(), 4096u);
  EXPECT_TRUE(proxy.Validate(max).accepted());

  std::vector<uint8_t> big = GrowHello("localhost", 4097 - 517, kD1Timestamp + 1);
  ASSERT_EQ(big.size(), 4097u);
  ClientHelloResult r = proxy.Validate(ByteSpan(big).first(4096));
  EXPECT_TRUE(r.need_more());
  EXPECT_EQ(r.bytes_needed, 4097u);
  r = proxy.Validate(big);
  EXPECT_EQ(r.status, ClientHelloStatus::kTooBig);
  EXPECT_EQ(r.domain_index, 1u);
}

TEST(FakeTlsHelloTest, ReplayCaughtAndCacheFilledBeforeAuthentication) {
  Proxy proxy;
  std::vector<uint8_t> hello = SignedLegacy("localhost", kD1Timestamp);
  EXPECT_TRUE(proxy.Validate(hello).accepted());
  ClientHelloResult r = proxy.Validate(hello, kD1Timestamp + 100);
  EXPECT_EQ(r.status, ClientHelloStatus::kReplay);
  EXPECT_EQ(r.domain_index, 1u);

  // Only the first 16 bytes of the random are the key.
  Proxy other;
  std::vector<uint8_t> forged = hello;
  forged[11 + 20] ^= 1;
  EXPECT_EQ(other.Validate(forged).status, ClientHelloStatus::kBadDigest);
  EXPECT_EQ(other.Validate(hello).status, ClientHelloStatus::kReplay);  // poisoned (reference)
}

TEST(FakeTlsHelloTest, BadDigestWithWrongSecret) {
  Proxy proxy;
  const ClientSecret wrong = {1, 2, 3};
  ClientHelloResult r = proxy.Validate(SignedLegacy("localhost", kD1Timestamp, wrong));
  EXPECT_EQ(r.status, ClientHelloStatus::kBadDigest);
  EXPECT_EQ(r.domain_index, 1u);
  // Any modified byte of the record breaks the digest.
  std::vector<uint8_t> hello = SignedLegacy("localhost", kD1Timestamp);
  hello[300] ^= 0x01;
  EXPECT_EQ(proxy.Validate(hello).status, ClientHelloStatus::kBadDigest);
}

TEST(FakeTlsHelloTest, SecretsTriedInOrder) {
  Proxy proxy;
  ClientHelloResult r = proxy.Validate(SignedLegacy("localhost", kD1Timestamp, kOtherSecret));
  ASSERT_TRUE(r.accepted());
  EXPECT_EQ(r.secret_index, 0u);
}

TEST(FakeTlsHelloTest, BadTimestamp) {
  Proxy proxy;
  // Fresh cache: the oldest entry is this hello itself (time = now), window (now-600, now+3].
  const int64_t now = kD1Timestamp;
  EXPECT_EQ(proxy.Validate(UniqueSigned("localhost", now + 4), now).status,
            ClientHelloStatus::kBadTimestamp);
  EXPECT_TRUE(proxy.Validate(UniqueSigned("localhost", now + 3), now).accepted());
  EXPECT_TRUE(proxy.Validate(UniqueSigned("localhost", now - 599), now).accepted());
  ClientHelloResult r = proxy.Validate(UniqueSigned("localhost", now - 600), now);
  EXPECT_EQ(r.status, ClientHelloStatus::kBadTimestamp);
  EXPECT_EQ(r.domain_index, 1u);
}

TEST(FakeTlsHelloTest, OldTimestampsAcceptedWhileCacheIsOlder) {
  Proxy proxy;
  const int64_t start = kD1Timestamp;
  ASSERT_TRUE(proxy.Validate(UniqueSigned("localhost", start), start).accepted());
  // A day later the cache still holds that entry: anything newer than it + 3 is fine.
  const int64_t later = start + 86400;
  EXPECT_TRUE(proxy.Validate(UniqueSigned("localhost", start + 4), later).accepted());
  EXPECT_EQ(proxy.Validate(UniqueSigned("localhost", start + 3), later).status,
            ClientHelloStatus::kBadTimestamp);
}

TEST(FakeTlsTimestampTest, WindowEdges) {
  const int64_t now = 1000000;
  EXPECT_TRUE(IsAllowedTimestamp(now + 3, now, now));
  EXPECT_FALSE(IsAllowedTimestamp(now + 4, now, now));
  EXPECT_FALSE(IsAllowedTimestamp(now + 4, now, now - 100000));  // future beats old cache
  EXPECT_TRUE(IsAllowedTimestamp(now - 599, now, now));
  EXPECT_FALSE(IsAllowedTimestamp(now - 600, now, now));
  EXPECT_FALSE(IsAllowedTimestamp(now - 600, now, std::nullopt));
  EXPECT_TRUE(IsAllowedTimestamp(now - 599, now, std::nullopt));
  // Oldest entry two days ago: accepted down to oldest + 4.
  const int64_t oldest = now - 172000;
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(oldest + 4), now, oldest));
  EXPECT_FALSE(IsAllowedTimestamp(static_cast<int32_t>(oldest + 3), now, oldest));
  EXPECT_FALSE(IsAllowedTimestamp(INT32_MIN, now, oldest));
}

// Rewrites the cipher list (same length 0x22) and re-signs.
std::vector<uint8_t> WithSuites(std::string_view suites_hex, int32_t ts) {
  std::vector<uint8_t> h = BuildLegacyClientHello("localhost", D1Randoms()).value();
  std::vector<uint8_t> suites = H(suites_hex);
  EXPECT_EQ(suites.size(), 0x22u);
  std::memcpy(h.data() + 78, suites.data(), suites.size());
  SignClientHello(kSecret, ts, MutableByteSpan(h));
  return h;
}

TEST(FakeTlsHelloTest, CipherSuiteGreaseAndChoice) {
  const std::string filler = "c02bc02fc02cc030cca9cca8c013c014009c009d002f0035000a";  // 26 bytes
  struct Case {
    std::string suites;
    ClientHelloStatus status;
    uint8_t cipher;
  } cases[] = {
      {"0a0a1302" + std::string("13011303") + filler, ClientHelloStatus::kAccept, 0x02},
      {"fafa1303" + std::string("13011302") + filler, ClientHelloStatus::kAccept, 0x03},
      // Several GREASE values in a row are skipped.
      {"1a1a2a2a3a3a1301" + filler, ClientHelloStatus::kAccept, 0x01},
      // Half-GREASE (only one byte with low nibble A) is not skipped.
      {"0a0b1301" + std::string("13021303") + filler, ClientHelloStatus::kNoTls13Cipher, 0},
      // TLS 1.2 suite first.
      {"c02b1301" + std::string("13021303") + filler, ClientHelloStatus::kNoTls13Cipher, 0},
      // 13 04/13 00 are not in the accepted range.
      {"0a0a1304" + std::string("13011302") + filler, ClientHelloStatus::kNoTls13Cipher, 0},
      {"13001301" + std::string("13021303") + filler, ClientHelloStatus::kNoTls13Cipher, 0},
  };
  int32_t ts = kD1Timestamp;
  for (const Case& c : cases) {
    Proxy proxy;
    ClientHelloResult r = proxy.Validate(WithSuites(c.suites, ts), ts);
    EXPECT_EQ(r.status, c.status) << c.suites;
    if (c.status == ClientHelloStatus::kAccept) {
      EXPECT_EQ(r.cipher_suite, c.cipher) << c.suites;
    } else {
      EXPECT_EQ(r.domain_index, 1u);
    }
  }
}

TEST(FakeTlsHelloTest, OnlyGreaseSuites) {
  // CL = 2 containing only GREASE: no suite left. Built by shrinking the list.
  std::vector<uint8_t> h = BuildLegacyClientHello("localhost", D1Randoms()).value();
  std::vector<uint8_t> shrunk(h.begin(), h.begin() + 76);
  shrunk.insert(shrunk.end(), {0x00, 0x02, 0x0a, 0x0a});
  shrunk.insert(shrunk.end(), h.begin() + 78 + 0x22, h.end());
  shrunk.insert(shrunk.end(), 0x20, 0);  // keep 517 bytes: pad the tail
  ASSERT_EQ(shrunk.size(), 517u);
  SignClientHello(kSecret, kD1Timestamp, MutableByteSpan(shrunk));
  Proxy proxy;
  EXPECT_EQ(proxy.Validate(shrunk).status, ClientHelloStatus::kNoTls13Cipher);
}

TEST(FakeTlsHelloTest, StatusNamesAreDistinct) {
  std::vector<std::string> names;
  for (int s = 0; s <= static_cast<int>(ClientHelloStatus::kNoTls13Cipher); ++s) {
    names.push_back(ClientHelloStatusName(static_cast<ClientHelloStatus>(s)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

// ---- Long (modern) ClientHello -------------------------------------------------------------

TEST(FakeTlsHelloTest, ModernLongHelloAccepted) {
  Proxy proxy;
  for (int i = 0; i < 8; ++i) {
    std::vector<uint8_t> hello =
        BuildClientHello(kSecret, "localhost", kD1Timestamp + i, ClientHelloLayout::kModern)
            .value();
    EXPECT_GE(hello.size(), 1600u);
    EXPECT_LE(hello.size(), 1900u);
    EXPECT_EQ(LoadBe16(hello.data() + 3) + 5u, hello.size());
    EXPECT_GE(hello[3], 0x06);  // would fail the old 16 03 01 02 rule
    ClientHelloResult r = proxy.Validate(hello, kD1Timestamp + i);
    ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
    EXPECT_EQ(r.domain_index, 1u);
    EXPECT_EQ(r.timestamp, kD1Timestamp + i);
    EXPECT_EQ(r.cipher_suite, 0x01);
  }
}

TEST(FakeTlsHelloTest, ModernHelloIsWellFormedTls) {
  std::vector<uint8_t> h = BuildModernClientHello("example.com").value();
  // Handshake length = record length - 4; extensions end exactly at the end of the record.
  const uint32_t hs_len = uint32_t{h[6]} << 16 | uint32_t{h[7]} << 8 | h[8];
  EXPECT_EQ(hs_len + 9, h.size());
  const size_t cl = LoadBe16(h.data() + 76);
  size_t pos = 78 + cl;
  ASSERT_EQ(h[pos], 0x01);  // one compression method
  ASSERT_EQ(h[pos + 1], 0x00);
  const size_t ext_total = LoadBe16(h.data() + pos + 2);
  pos += 4;
  EXPECT_EQ(pos + ext_total, h.size());
  int count = 0;
  bool key_share_seen = false;
  while (pos < h.size()) {
    ASSERT_LE(pos + 4, h.size());
    const uint16_t type = LoadBe16(h.data() + pos);
    const size_t len = LoadBe16(h.data() + pos + 2);
    if (type == 0x33) {
      key_share_seen = true;
      EXPECT_EQ(len, 2u + 5u + 4u + 1216u + 4u + 32u);
    }
    pos += 4 + len;
    ++count;
  }
  EXPECT_EQ(pos, h.size());
  EXPECT_EQ(count, 18);  // 16 real extensions + 2 GREASE
  EXPECT_TRUE(key_share_seen);
}

TEST(FakeTlsHelloTest, LegacyHelloDomainLimits) {
  EXPECT_FALSE(BuildLegacyClientHello("", D1Randoms()).ok());
  EXPECT_TRUE(BuildLegacyClientHello(std::string(216, 'a'), D1Randoms()).ok());
  EXPECT_EQ(BuildLegacyClientHello(std::string(216, 'a'), D1Randoms())->size(), 517u);
  EXPECT_FALSE(BuildLegacyClientHello(std::string(217, 'a'), D1Randoms()).ok());
  EXPECT_FALSE(BuildModernClientHello("").ok());
}

TEST(FakeTlsHelloTest, FreshLegacyHellosDiffer) {
  LegacyHelloRandoms a = LegacyHelloRandoms::Fresh();
  LegacyHelloRandoms b = LegacyHelloRandoms::Fresh();
  EXPECT_NE(a.session_id, b.session_id);
  EXPECT_NE(a.key_share, b.key_share);
  for (uint8_t g : a.grease) EXPECT_EQ(g & 0x0F, 0x0A);
  for (size_t i = 1; i < 7; i += 2) EXPECT_NE(a.grease[i], a.grease[i - 1]);
}

// ---- ServerHello -----------------------------------------------------------------------------

TEST(FakeTlsServerHelloTest, FreshHelloVerifiesAndIsRandom) {
  ServerHelloParams params = D2Params(false);
  std::vector<uint8_t> a(ServerHelloSize(2500));
  std::vector<uint8_t> b(ServerHelloSize(2500));
  WriteServerHelloFresh(params, a);
  WriteServerHelloFresh(params, b);
  EXPECT_EQ(VerifyServerHello(kSecret, params.client_random, a).status,
            ServerHelloCheckStatus::kOk);
  EXPECT_EQ(VerifyServerHello(kSecret, params.client_random, b).size, b.size());
  EXPECT_NE(HexEncode(ByteSpan(a).subspan(89, 32)), HexEncode(ByteSpan(b).subspan(89, 32)));
  EXPECT_EQ(HexEncode(ByteSpan(a).first(11)), "160303007a020000760303");
  EXPECT_EQ(HexEncode(ByteSpan(a).subspan(127, 11)), "140303000101170303" "09c4");
}

TEST(FakeTlsServerHelloTest, X25519KeysAreDistinct) {
  EXPECT_NE(GenerateX25519PublicKey(), GenerateX25519PublicKey());
}

TEST(FakeTlsServerHelloTest, EncryptedSizeRule) {
  TlsDomainProfile fixed{false, 23, false};
  for (uint32_t r = 0; r < 4; ++r) EXPECT_EQ(PickEncryptedSize(fixed, r), 23u);
  TlsDomainProfile randomized{false, 100, true};
  // r & 3: 0 -> size, 1 -> size - 1, 2 -> size + 1, 3 -> size: probabilities 1/4 1/2 1/4.
  EXPECT_EQ(PickEncryptedSize(randomized, 0), 100u);
  EXPECT_EQ(PickEncryptedSize(randomized, 1), 99u);
  EXPECT_EQ(PickEncryptedSize(randomized, 2), 101u);
  EXPECT_EQ(PickEncryptedSize(randomized, 3), 100u);
  EXPECT_EQ(PickEncryptedSize(randomized, 0xfffffffe), 101u);
  // Clamped to a valid record length.
  EXPECT_EQ(PickEncryptedSize(TlsDomainProfile{false, 65535, true}, 2), 65535u);
  EXPECT_EQ(PickEncryptedSize(TlsDomainProfile{false, 1, true}, 1), 1u);
  for (int i = 0; i < 64; ++i) {
    size_t e = PickEncryptedSize(randomized);
    EXPECT_GE(e, 99u);
    EXPECT_LE(e, 101u);
  }
}

TEST(FakeTlsServerHelloTest, ServerHelloCheckRejectsBadFormat) {
  std::vector<uint8_t> out(ServerHelloSize(36));
  WriteServerHello(D2Params(false), D2Key(), D2Data(), out);
  TlsRandom cr = D2Params(false).client_random;
  std::vector<uint8_t> bad = out;
  bad[2] = 0x01;  // 16 03 01
  EXPECT_EQ(VerifyServerHello(kSecret, cr, bad).status, ServerHelloCheckStatus::kBadFormat);
  bad = out;
  bad[127] = 0x15;  // not CCS
  EXPECT_EQ(VerifyServerHello(kSecret, cr, bad).status, ServerHelloCheckStatus::kBadFormat);
  // Trailing application records are left for the caller.
  bad = out;
  bad.insert(bad.end(), {0x17, 0x03, 0x03, 0x00, 0x00});
  ServerHelloCheck check = VerifyServerHello(kSecret, cr, bad);
  EXPECT_EQ(check.status, ServerHelloCheckStatus::kOk);
  EXPECT_EQ(check.size, out.size());
}

// ---- Replay cache ----------------------------------------------------------------------------

TEST(FakeTlsReplayCacheTest, RetentionAndOldest) {
  SimpleReplayCache cache;
  EXPECT_FALSE(cache.OldestEntryTime().has_value());
  ReplayKey a{1}, b{2}, c{3};
  EXPECT_FALSE(cache.CheckAndInsert(a, 1000));
  EXPECT_TRUE(cache.CheckAndInsert(a, 1001));
  EXPECT_FALSE(cache.CheckAndInsert(b, 1002));
  EXPECT_EQ(cache.OldestEntryTime(), 1000);
  // Entries stamped <= now - 2 days are dropped on the next insertion.
  EXPECT_FALSE(cache.CheckAndInsert(c, 1000 + kReplayRetentionS));
  EXPECT_EQ(cache.OldestEntryTime(), 1002);
  EXPECT_FALSE(cache.CheckAndInsert(a, 1000 + kReplayRetentionS));  // forgotten, so new again
  EXPECT_EQ(cache.size(), 3u);
  // The newest entry is never dropped.
  SimpleReplayCache one(10);
  EXPECT_FALSE(one.CheckAndInsert(a, 0));
  EXPECT_FALSE(one.CheckAndInsert(b, 100));
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(one.OldestEntryTime(), 100);
}

}  // namespace
}  // namespace mtp
