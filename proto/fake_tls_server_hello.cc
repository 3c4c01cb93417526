// ServerHello construction (spec §6.6) and X25519 public keys from OpenSSL.
#include "proto/fake_tls_server_hello.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint8_t kHandshakeHead[11] = {0x16, 0x03, 0x03, 0x00, 0x7a,  // record, length 122
                                        0x02, 0x00, 0x00, 0x76,        // ServerHello, 118
                                        0x03, 0x03};                   // legacy version
constexpr uint8_t kKeyShareHead[8] = {0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};
constexpr uint8_t kSupportedVersions[6] = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};
constexpr uint8_t kCcsAndAppHead[9] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03};
constexpr size_t kServerRandomOffset = 11;
constexpr size_t kExtensionsOffset = 81;

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
                                        const TlsDomainProfile& profile) {
  assert(result.accepted());
  ServerHelloParams p;
  p.secret = secret;
  p.client_random = result.client_random;
  p.session_id = result.session_id;
  p.cipher_suite = result.cipher_suite;
  p.reversed_extension_order = profile.reversed_extension_order;
  return p;
}

void WriteServerHello(const ServerHelloParams& params, const X25519PublicKey& public_key,
                      ByteSpan encrypted_data, MutableByteSpan out) {
  const size_t e = encrypted_data.size();
  assert(e <= 65535 && out.size() == ServerHelloSize(e));
  uint8_t* o = out.data();
  // The fake data first: it may alias the tail of `out`.
  if (e > 0) std::memmove(o + kServerHelloFixedSize, encrypted_data.data(), e);

  std::memcpy(o, kHandshakeHead, sizeof(kHandshakeHead));
  std::memset(o + kServerRandomOffset, 0, 32);
  o[43] = 0x20;
  std::memcpy(o + 44, params.session_id.data(), 32);
  o[76] = 0x13;
  o[77] = params.cipher_suite;
  o[78] = 0x00;  // compression
  o[79] = 0x00;  // extensions length 46
  o[80] = 0x2e;
  uint8_t* ext = o + kExtensionsOffset;
  auto put_key_share = [&] {
    std::memcpy(ext, kKeyShareHead, sizeof(kKeyShareHead));
    std::memcpy(ext + sizeof(kKeyShareHead), public_key.data(), public_key.size());
    ext += sizeof(kKeyShareHead) + public_key.size();
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
  assert(ext == o + 127);
  std::memcpy(o + 127, kCcsAndAppHead, sizeof(kCcsAndAppHead));
  StoreBe16(o + 136, static_cast<uint16_t>(e));

  const Sha256Digest server_random =
      HmacSha256(params.secret, {ByteSpan(params.client_random), ByteSpan(out)});
  std::memcpy(o + kServerRandomOffset, server_random.data(), server_random.size());
}

void WriteServerHelloFresh(const ServerHelloParams& params, MutableByteSpan out) {
  assert(out.size() >= kServerHelloFixedSize);
  MutableByteSpan data = out.subspan(kServerHelloFixedSize);
  SecureRandom(data);
  WriteServerHello(params, GenerateX25519PublicKey(), data, out);
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
