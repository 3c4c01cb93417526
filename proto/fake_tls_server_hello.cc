// ServerHello construction (spec §6.6) and X25519 public keys from OpenSSL.
#include "proto/fake_tls_server_hello.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint8_t kSupportedVersions[6] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};
constexpr uint8_t kCcsAndAppHead[9] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03};
constexpr size_t kServerRandomOffset = 11;
constexpr size_t kExtensionsOffset = 81;
// ServerHello record without the key_share's key_exchange bytes: record header (5), handshake
// header (4), version (2), random (32), session id (33), suite (2), compression (1),
// extensions length (2), key_share extension head (8), supported_versions (6).
constexpr size_t kServerHelloRecordBase = 95;
constexpr size_t kCcsAndAppHeadSize = sizeof(kCcsAndAppHead) + 2;

}  // namespace

size_t PickEncryptedSize(const TlsDomainProfile& profile, uint32_t random_bits) {
  int size = profile.encrypted_size;
  if (profile.randomize_size) {
    size += static_cast<int>((random_bits >> 1) & 1) - static_cast<int>(random_bits & 1);
  }
  return static_cast<size_t>(std::clamp(size, 1, 65535));
}

size_t PickEncryptedSize(const TlsDomainProfile& profile) {
  return PickEncryptedSize(profile, static_cast<uint32_t>(FastRandom64()));
}

ServerHelloParams MakeServerHelloParams(const ClientHelloResult& result,
                                        const ClientSecret& secret,
                                        const TlsDomainProfile& profile,
                                        const KeySharePolicy& key_share_policy) {
  assert(result.accepted());
  ServerHelloParams p;
  p.secret = secret;
  p.client_random = result.client_random;
  p.session_id = result.session_id;
  p.cipher_suite = result.cipher_suite;
  p.reversed_extension_order = profile.reversed_extension_order;
  p.key_share_group = ChooseServerKeyShareGroup(result.key_share_groups, key_share_policy);
  return p;
}

size_t ServerHelloFixedSize(uint16_t group) {
  return kServerHelloRecordBase + ServerKeyShareSize(group) + kCcsAndAppHeadSize;
}

void WriteServerHello(const ServerHelloParams& params, ByteSpan key_share,
                      ByteSpan encrypted_data, MutableByteSpan out) {
  const size_t e = encrypted_data.size();
  const size_t k = key_share.size();
  const size_t fixed = ServerHelloFixedSize(params.key_share_group);
  assert(k == ServerKeyShareSize(params.key_share_group));
  assert(e <= 65535 && out.size() == fixed + e);
  uint8_t* o = out.data();
  // The fake data first: it may alias the tail of `out`.
  if (e > 0) std::memmove(o + fixed, encrypted_data.data(), e);

  const size_t record_end = kServerHelloRecordBase + k;
  o[0] = kTlsHandshake;
  o[1] = 0x03;
  o[2] = 0x03;
  StoreBe16(o + 3, static_cast<uint16_t>(record_end - kTlsRecordHeaderSize));
  o[5] = 0x02;  // ServerHello, 24-bit length
  o[6] = 0x00;
  StoreBe16(o + 7, static_cast<uint16_t>(record_end - kTlsRecordHeaderSize - 4));
  o[9] = 0x03;  // legacy version
  o[10] = 0x03;
  std::memset(o + kServerRandomOffset, 0, 32);
  o[43] = 0x20;
  std::memcpy(o + 44, params.session_id.data(), 32);
  o[76] = 0x13;
  o[77] = params.cipher_suite;
  o[78] = 0x00;  // compression
  StoreBe16(o + 79, static_cast<uint16_t>(record_end - kExtensionsOffset));
  uint8_t* ext = o + kExtensionsOffset;
  auto put_key_share = [&] {
    StoreBe16(ext, 0x0033);
    StoreBe16(ext + 2, static_cast<uint16_t>(4 + k));
    StoreBe16(ext + 4, params.key_share_group);
    StoreBe16(ext + 6, static_cast<uint16_t>(k));
    std::memcpy(ext + 8, key_share.data(), k);
    ext += 8 + k;
  };
  auto put_versions = [&] {
    std::memcpy(ext, kSupportedVersions, sizeof(kSupportedVersions));
    ext += sizeof(kSupportedVersions);
  };
  if (params.reversed_extension_order) {
    put_versions();
    put_key_share();
  } else {
    put_key_share();
    put_versions();
  }
  assert(ext == o + record_end);
  std::memcpy(o + record_end, kCcsAndAppHead, sizeof(kCcsAndAppHead));
  StoreBe16(o + record_end + sizeof(kCcsAndAppHead), static_cast<uint16_t>(e));

  const Sha256Digest server_random =
      HmacSha256(params.secret, {ByteSpan(params.client_random), ByteSpan(out)});
  std::memcpy(o + kServerRandomOffset, server_random.data(), server_random.size());
}

void WriteServerHello(const ServerHelloParams& params, const X25519PublicKey& public_key,
                      ByteSpan encrypted_data, MutableByteSpan out) {
  assert(params.key_share_group == kGroupX25519);
  WriteServerHello(params, ByteSpan(public_key), encrypted_data, out);
}

void WriteServerHelloFresh(const ServerHelloParams& params, MutableByteSpan out) {
  ServerHelloParams p = params;
  // A caller that sized `out` for an x25519 answer (ServerHelloSize(E)) too small for the
  // chosen group's share still gets a well-formed response: x25519, as before groups were
  // chosen. Never reached with ServerHelloSize(params, E).
  if (out.size() < ServerHelloFixedSize(p.key_share_group)) p.key_share_group = kGroupX25519;
  const size_t fixed = ServerHelloFixedSize(p.key_share_group);
  assert(out.size() >= fixed);
  MutableByteSpan data = out.subspan(fixed);
  SecureRandom(data);
  std::array<uint8_t, kMaxServerKeyShareSize> share;
  const MutableByteSpan key_share(share.data(), ServerKeyShareSize(p.key_share_group));
  WriteServerKeyShare(p.key_share_group, key_share);
  WriteServerHello(p, key_share, data, out);
}

X25519PublicKey GenerateX25519PublicKey() {
  // One keygen context per thread, fetched and initialised once.
  struct KeygenCtx {
    KeygenCtx() : ctx(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr)) {
      if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) != 1) std::abort();
    }
    ~KeygenCtx() { EVP_PKEY_CTX_free(ctx); }
    EVP_PKEY_CTX* ctx;
  };
  thread_local KeygenCtx keygen;
  EVP_PKEY_CTX* ctx = keygen.ctx;
  EVP_PKEY* pkey = nullptr;
  X25519PublicKey key{};
  size_t len = key.size();
  // Keygen only fails on allocation or CSPRNG failure: no safe way to continue.
  if (EVP_PKEY_keygen(ctx, &pkey) != 1 ||
      EVP_PKEY_get_raw_public_key(pkey, key.data(), &len) != 1 || len != key.size()) {
    std::abort();
  }
  EVP_PKEY_free(pkey);
  return key;
}

}  // namespace mtp
