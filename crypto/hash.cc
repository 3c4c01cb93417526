// Hashes on OpenSSL EVP: algorithm objects fetched once per process, one reusable context
// per thread (hashes run on the handshake path of every shard).
#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cassert>

namespace mtp {
namespace {

const EVP_MD* FetchedMd(int which) {
  static EVP_MD* const kMds[3] = {
      EVP_MD_fetch(nullptr, "SHA256", nullptr),
      EVP_MD_fetch(nullptr, "SHA1", nullptr),
      EVP_MD_fetch(nullptr, "MD5", nullptr),
  };
  return kMds[which];
}

template <size_t N>
std::array<uint8_t, N> Digest(int which, std::initializer_list<ByteSpan> parts) {
  // Freed when the thread exits (threads of the tools and tests come and go).
  struct Holder {
    ~Holder() { EVP_MD_CTX_free(ctx); }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  };
  thread_local Holder holder;
  EVP_MD_CTX* ctx = holder.ctx;
  std::array<uint8_t, N> out{};
  int ok = EVP_DigestInit_ex2(ctx, FetchedMd(which), nullptr);
  for (ByteSpan p : parts) ok &= EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned int len = 0;
  ok &= EVP_DigestFinal_ex(ctx, out.data(), &len);
  assert(ok == 1 && len == N);
  (void)ok;
  return out;
}

EVP_MAC* HmacAlgorithm() {
  static EVP_MAC* const kMac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return kMac;
}

}  // namespace

Sha256Digest Sha256(std::initializer_list<ByteSpan> parts) { return Digest<32>(0, parts); }
Sha1Digest Sha1(std::initializer_list<ByteSpan> parts) { return Digest<20>(1, parts); }
Md5Digest Md5(std::initializer_list<ByteSpan> parts) { return Digest<16>(2, parts); }

Sha256Digest HmacSha256(ByteSpan key, std::initializer_list<ByteSpan> parts) {
  struct Holder {
    ~Holder() { EVP_MAC_CTX_free(ctx); }
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacAlgorithm());
  };
  thread_local Holder holder;
  EVP_MAC_CTX* ctx = holder.ctx;
  static char kDigestName[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, kDigestName, 0),
      OSSL_PARAM_construct_end(),
  };
  Sha256Digest out{};
  // A zero-length key is legal for HMAC but OpenSSL wants a non-null pointer.
  static const uint8_t kEmpty[1] = {0};
  const uint8_t* key_ptr = key.empty() ? kEmpty : key.data();
  int ok = EVP_MAC_init(ctx, key_ptr, key.size(), params);
  for (ByteSpan p : parts) ok &= EVP_MAC_update(ctx, p.data(), p.size());
  size_t len = 0;
  ok &= EVP_MAC_final(ctx, out.data(), &len, out.size());
  assert(ok == 1 && len == 32);
  (void)ok;
  return out;
}

}  // namespace mtp
