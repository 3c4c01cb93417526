// ClientHello generation (legacy 517-byte and modern long layouts) and ServerHello checking.
#include "proto/fake_tls_client.h"

#include <cassert>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "proto/fake_tls_server_hello.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr size_t kLegacyHelloSize = 517;
constexpr size_t kMaxLegacyDomainBytes = 216;  // the padding extension shrinks to zero
constexpr size_t kMaxDnsNameBytes = 253;

// Appends bytes and back-patches length prefixes (TLS vectors nest 16- and 24-bit lengths).
class HelloWriter {
 public:
  void Bytes(std::initializer_list<uint8_t> bytes) { out_.insert(out_.end(), bytes); }
  void Bytes(ByteSpan bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void Bytes(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
  void Zeros(size_t n) { out_.insert(out_.end(), n, 0); }
  void Be16(size_t v) { Bytes({static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}); }
  void Grease(uint8_t g) { Bytes({g, g}); }
  struct Scope {
    size_t start;  // first byte after the length field
    size_t width;  // bytes of the length field
  };
  // Reserves a big-endian length field of `width` bytes; End() fills it.
  Scope Begin(size_t width = 2) {
    out_.insert(out_.end(), width, 0);
    return Scope{out_.size(), width};
  }
  void End(Scope scope) {
    size_t len = out_.size() - scope.start;
    for (size_t i = 0; i < scope.width; ++i) {
      out_[scope.start - 1 - i] = static_cast<uint8_t>(len);
      len >>= 8;
    }
  }
  size_t size() const { return out_.size(); }
  std::vector<uint8_t>& data() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

// Record header, handshake header, version, zero random, session id. Returns the scopes to close.
std::pair<HelloWriter::Scope, HelloWriter::Scope> BeginHello(HelloWriter& w, const TlsSessionId& session_id) {
  w.Bytes({kTlsHandshake, 0x03, 0x01});
  const HelloWriter::Scope record = w.Begin();
  w.Bytes({0x01});  // ClientHello
  const HelloWriter::Scope handshake = w.Begin(3);
  w.Bytes({0x03, 0x03});
  w.Zeros(32);
  w.Bytes({0x20});
  w.Bytes(ByteSpan(session_id));
  return {record, handshake};
}

void ServerNameExtension(HelloWriter& w, std::string_view domain) {
  w.Bytes({0x00, 0x00});
  const HelloWriter::Scope ext = w.Begin();
  const HelloWriter::Scope list = w.Begin();
  w.Bytes({0x00});  // host_name
  const HelloWriter::Scope name = w.Begin();
  w.Bytes(domain);
  w.End(name);
  w.End(list);
  w.End(ext);
}

// GREASE bytes as clients make them: high nibble random, low nibble 0xA, neighbours distinct.
void MakeGrease(uint8_t* g, size_t n) {
  for (size_t i = 0; i < n; ++i) g[i] = static_cast<uint8_t>((g[i] & 0xF0) | 0x0A);
  for (size_t i = 1; i < n; i += 2) {
    if (g[i] == g[i - 1]) g[i] ^= 0x10;
  }
}

}  // namespace

LegacyHelloRandoms LegacyHelloRandoms::Fresh() {
  LegacyHelloRandoms r;
  SecureRandom(MutableByteSpan(r.session_id));
  SecureRandom(MutableByteSpan(r.grease));
  MakeGrease(r.grease.data(), r.grease.size());
  r.key_share = GenerateX25519PublicKey();
  return r;
}

absl::StatusOr<std::vector<uint8_t>> BuildLegacyClientHello(std::string_view domain,
                                                            const LegacyHelloRandoms& randoms) {
  if (domain.empty() || domain.size() > kMaxLegacyDomainBytes) {
    return absl::InvalidArgumentError("fake-TLS domain must be 1..216 bytes for a 517-byte hello");
  }
  const auto& g = randoms.grease;
  HelloWriter w;
  auto [record, handshake] = BeginHello(w, randoms.session_id);
  const HelloWriter::Scope suites = w.Begin();
  w.Grease(g[0]);
  w.Bytes({0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30,
           0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f,
           0x00, 0x35, 0x00, 0x0a});
  w.End(suites);
  w.Bytes({0x01, 0x00});  // compression: null only
  const HelloWriter::Scope extensions = w.Begin();
  w.Grease(g[2]);
  w.Bytes({0x00, 0x00});
  ServerNameExtension(w, domain);
  w.Bytes({0x00, 0x17, 0x00, 0x00,                     // extended_master_secret
           0xff, 0x01, 0x00, 0x01, 0x00,               // renegotiation_info
           0x00, 0x0a, 0x00, 0x0a, 0x00, 0x08});       // supported_groups
  w.Grease(g[4]);
  w.Bytes({0x00, 0x1d, 0x00, 0x17, 0x00, 0x18,
           0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,         // ec_point_formats
           0x00, 0x23, 0x00, 0x00,                     // session_ticket
           0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2',  // ALPN
           0x08, 'h', 't', 't', 'p', '/', '1', '.', '1',
           0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00,  // status_request
           0x00, 0x0d, 0x00, 0x14, 0x00, 0x12, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,  // sig algs
           0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01, 0x02, 0x01,
           0x00, 0x12, 0x00, 0x00,                     // signed_certificate_timestamp
           0x00, 0x33, 0x00, 0x2b, 0x00, 0x29});       // key_share
  w.Grease(g[4]);
  w.Bytes({0x00, 0x01, 0x00, 0x00, 0x1d, 0x00, 0x20});
  w.Bytes(ByteSpan(randoms.key_share));
  w.Bytes({0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,         // psk_key_exchange_modes
           0x00, 0x2b, 0x00, 0x0b, 0x0a});             // supported_versions
  w.Grease(g[6]);
  w.Bytes({0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
           0x00, 0x1b, 0x00, 0x03, 0x02, 0x00, 0x02});  // compress_certificate (brotli)
  w.Grease(g[3]);
  w.Bytes({0x00, 0x01, 0x00});
  w.Bytes({0x00, 0x15});  // padding up to 517 bytes
  const size_t padding = kLegacyHelloSize - w.size() - 2;
  w.Be16(padding);
  w.Zeros(padding);
  w.End(extensions);
  w.End(handshake);
  w.End(record);
  assert(w.size() == kLegacyHelloSize);
  return std::move(w.data());
}

absl::StatusOr<std::vector<uint8_t>> BuildModernClientHello(std::string_view domain,
                                                            RandomBytesFn random) {
  if (domain.empty() || domain.size() > kMaxDnsNameBytes) {
    return absl::InvalidArgumentError("fake-TLS domain must be 1..253 bytes");
  }
  TlsSessionId session_id;
  random(MutableByteSpan(session_id));
  uint8_t g[7];
  random(MutableByteSpan(g));
  MakeGrease(g, sizeof(g));

  HelloWriter w;
  auto [record, handshake] = BeginHello(w, session_id);
  const HelloWriter::Scope suites = w.Begin();
  w.Grease(g[0]);
  w.Bytes({0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30,
           0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f,
           0x00, 0x35});
  w.End(suites);
  w.Bytes({0x01, 0x00});
  const HelloWriter::Scope extensions = w.Begin();
  w.Grease(g[2]);
  w.Bytes({0x00, 0x00});

  // Chrome shuffles every extension between the leading and trailing GREASE ones.
  enum Ext : uint8_t {
    kSni, kStatusRequest, kGroups, kPointFormats, kSigAlgs, kAlpn, kSct, kEms, kCompressCert,
    kTicket, kVersions, kPskModes, kKeyShare, kAlps, kEch, kRenegotiation, kExtCount
  };
  uint8_t order[kExtCount];
  for (uint8_t i = 0; i < kExtCount; ++i) order[i] = i;
  uint8_t shuffle_bytes[kExtCount];
  random(MutableByteSpan(shuffle_bytes));
  for (size_t i = kExtCount - 1; i > 0; --i) std::swap(order[i], order[shuffle_bytes[i] % (i + 1)]);

  for (uint8_t e : order) {
    switch (static_cast<Ext>(e)) {
      case kSni:
        ServerNameExtension(w, domain);
        break;
      case kStatusRequest:
        w.Bytes({0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00});
        break;
      case kGroups:  // GREASE, X25519MLKEM768, x25519, secp256r1, secp384r1
        w.Bytes({0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a});
        w.Grease(g[4]);
        w.Bytes({0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18});
        break;
      case kPointFormats:
        w.Bytes({0x00, 0x0b, 0x00, 0x02, 0x01, 0x00});
        break;
      case kSigAlgs:
        w.Bytes({0x00, 0x0d, 0x00, 0x12, 0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05,
                 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01});
        break;
      case kAlpn:
        w.Bytes({0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/',
                 '1', '.', '1'});
        break;
      case kSct:
        w.Bytes({0x00, 0x12, 0x00, 0x00});
        break;
      case kEms:
        w.Bytes({0x00, 0x17, 0x00, 0x00});
        break;
      case kCompressCert:
        w.Bytes({0x00, 0x1b, 0x00, 0x03, 0x02, 0x00, 0x02});
        break;
      case kTicket:
        w.Bytes({0x00, 0x23, 0x00, 0x00});
        break;
      case kVersions:
        w.Bytes({0x00, 0x2b, 0x00, 0x07, 0x06});
        w.Grease(g[6]);
        w.Bytes({0x03, 0x04, 0x03, 0x03});
        break;
      case kPskModes:
        w.Bytes({0x00, 0x2d, 0x00, 0x02, 0x01, 0x01});
        break;
      case kKeyShare: {
        w.Bytes({0x00, 0x33});
        const HelloWriter::Scope ext = w.Begin();
        const HelloWriter::Scope shares = w.Begin();
        w.Grease(g[4]);
        w.Bytes({0x00, 0x01, 0x00});
        // X25519MLKEM768: ML-KEM-768 encapsulation key (384 pairs of 12-bit coefficients
        // below q = 3329, then the 32-byte seed rho) followed by the X25519 share.
        w.Bytes({0x11, 0xec, 0x04, 0xc0});
        uint8_t coeff_bytes[4 * 384];
        random(MutableByteSpan(coeff_bytes));
        for (size_t i = 0; i < 384; ++i) {
          const uint32_t a = LoadLe16(coeff_bytes + 4 * i) % 3329;
          const uint32_t b = LoadLe16(coeff_bytes + 4 * i + 2) % 3329;
          w.Bytes({static_cast<uint8_t>(a), static_cast<uint8_t>((a >> 8) | ((b & 0x0F) << 4)),
                   static_cast<uint8_t>(b >> 4)});
        }
        uint8_t rho[32];
        random(MutableByteSpan(rho));
        w.Bytes(ByteSpan(rho));
        const X25519PublicKey x25519 = GenerateX25519PublicKey();
        w.Bytes(ByteSpan(x25519));
        w.Bytes({0x00, 0x1d, 0x00, 0x20});
        w.Bytes(ByteSpan(x25519));
        w.End(shares);
        w.End(ext);
        break;
      }
      case kAlps:
        w.Bytes({0x44, 0xcd, 0x00, 0x05, 0x00, 0x03, 0x02, 'h', '2'});
        break;
      case kEch: {
        // GREASE ECH: outer, HKDF-SHA256/AES-128-GCM, random config id, enc, payload.
        uint8_t ech[1 + 32 + 1];
        random(MutableByteSpan(ech));
        w.Bytes({0xfe, 0x0d});
        const HelloWriter::Scope ext = w.Begin();
        w.Bytes({0x00, 0x00, 0x01, 0x00, 0x01, ech[0], 0x00, 0x20});
        w.Bytes(ByteSpan(ech + 1, 32));
        const size_t payload_len = 144 + 32 * (ech[33] & 3);
        w.Be16(payload_len);
        std::vector<uint8_t> payload(payload_len);
        random(MutableByteSpan(payload));
        w.Bytes(ByteSpan(payload));
        w.End(ext);
        break;
      }
      case kRenegotiation:
        w.Bytes({0xff, 0x01, 0x00, 0x01, 0x00});
        break;
      case kExtCount:
        break;
    }
  }
  w.Grease(g[3]);
  w.Bytes({0x00, 0x01, 0x00});
  w.End(extensions);
  w.End(handshake);
  w.End(record);
  return std::move(w.data());
}

absl::StatusOr<std::vector<uint8_t>> BuildModernClientHello(std::string_view domain) {
  return BuildModernClientHello(domain, [](MutableByteSpan out) { SecureRandom(out); });
}

void SignClientHello(const ClientSecret& secret, int32_t timestamp, MutableByteSpan hello) {
  assert(hello.size() >= kHelloRandomOffset + 32);
  Sha256Digest digest = HmacSha256(secret, {ByteSpan(hello)});
  StoreLe32(digest.data() + 28, LoadLe32(digest.data() + 28) ^ static_cast<uint32_t>(timestamp));
  std::memcpy(hello.data() + kHelloRandomOffset, digest.data(), digest.size());
}

absl::StatusOr<std::vector<uint8_t>> BuildClientHello(const ClientSecret& secret,
                                                      std::string_view domain, int32_t timestamp,
                                                      ClientHelloLayout layout) {
  absl::StatusOr<std::vector<uint8_t>> hello =
      layout == ClientHelloLayout::kLegacy517
          ? BuildLegacyClientHello(domain, LegacyHelloRandoms::Fresh())
          : BuildModernClientHello(domain);
  if (hello.ok()) SignClientHello(secret, timestamp, MutableByteSpan(*hello));
  return hello;
}

ServerHelloCheck VerifyServerHello(const ClientSecret& secret, const TlsRandom& client_random,
                                   ByteSpan received) {
  static constexpr uint8_t kHandshakePrefix[3] = {0x16, 0x03, 0x03};
  static constexpr uint8_t kCcsAppPrefix[9] = {0x14, 0x03, 0x03, 0x00, 0x01,
                                               0x01, 0x17, 0x03, 0x03};
  ServerHelloCheck check;
  size_t pos = 0;
  for (ByteSpan prefix : {ByteSpan(kHandshakePrefix), ByteSpan(kCcsAppPrefix)}) {
    if (received.size() - pos < prefix.size() + 2) return check;
    if (std::memcmp(received.data() + pos, prefix.data(), prefix.size()) != 0) {
      check.status = ServerHelloCheckStatus::kBadFormat;
      return check;
    }
    pos += prefix.size();
    const size_t len = LoadBe16(received.data() + pos);
    pos += 2;
    if (received.size() - pos < len) return check;
    pos += len;
  }
  const ByteSpan response = received.first(pos);
  if (response.size() < kHelloRandomOffset + 32) {
    check.status = ServerHelloCheckStatus::kBadFormat;
    return check;
  }
  static constexpr uint8_t kZero[32] = {};
  const Sha256Digest expected =
      HmacSha256(secret, {ByteSpan(client_random), response.first(kHelloRandomOffset),
                          ByteSpan(kZero), response.subspan(kHelloRandomOffset + 32)});
  if (std::memcmp(expected.data(), response.data() + kHelloRandomOffset, 32) != 0) {
    check.status = ServerHelloCheckStatus::kBadDigest;
    return check;
  }
  check.status = ServerHelloCheckStatus::kOk;
  check.size = pos;
  return check;
}

}  // namespace mtp
