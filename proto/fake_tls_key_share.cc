// key_share parsing, the server's group choice and fake server shares (OpenSSL keygen).
#include "proto/fake_tls_key_share.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>

#include "crypto/random.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_server_hello.h"

namespace mtp {
namespace {

constexpr uint16_t kKeyShareExtension = 0x0033;

// Bounds-checked reader over the hello.
struct Cursor {
  ByteSpan data;
  size_t pos = 0;
  bool ok = true;

  bool Has(size_t n) const { return ok && pos <= data.size() && n <= data.size() - pos; }
  size_t U8() {
    if (!Has(1)) {
      ok = false;
      return 0;
    }
    return data[pos++];
  }
  size_t U16() {
    if (!Has(2)) {
      ok = false;
      return 0;
    }
    const size_t v = LoadBe16(data.data() + pos);
    pos += 2;
    return v;
  }
  void Skip(size_t n) {
    if (!Has(n)) ok = false;
    else pos += n;
  }
};

// A genuine uncompressed P-256 public key (65 bytes) from a fresh key pair.
void WriteSecp256r1Share(MutableByteSpan out) {
  assert(out.size() == kSecp256r1ShareSize);
  struct KeygenCtx {
    KeygenCtx() : ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)) {
      if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) != 1 ||
          EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1) {
        std::abort();
      }
    }
    ~KeygenCtx() { EVP_PKEY_CTX_free(ctx); }
    EVP_PKEY_CTX* ctx;
  };
  thread_local KeygenCtx keygen;
  EVP_PKEY* pkey = nullptr;
  size_t len = 0;
  // Keygen only fails on allocation or CSPRNG failure: no safe way to continue.
  if (EVP_PKEY_keygen(keygen.ctx, &pkey) != 1 ||
      EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out.data(),
                                      out.size(), &len) != 1 ||
      len != kSecp256r1ShareSize || out[0] != 0x04) {
    std::abort();
  }
  EVP_PKEY_free(pkey);
}

// The KeyShareGroupBit of a well-formed share (0 for other groups and sizes).
uint8_t UsableBit(const KeyShareOffer& offer) {
  switch (offer.group) {
    case kGroupX25519:
      return offer.length == kX25519ShareSize ? kKeyShareX25519 : 0;
    case kGroupSecp256r1:
      return offer.length == kSecp256r1ShareSize ? kKeyShareSecp256r1 : 0;
    case kGroupX25519MlKem768:
      return offer.length == kX25519MlKem768ClientShareSize ? kKeyShareX25519MlKem768 : 0;
    default:
      return 0;
  }
}

}  // namespace

KeyShareOffers ParseKeyShares(ByteSpan hello) {
  KeyShareOffers offers;
  Cursor c{hello, kHelloSessionIdOffset - 1};
  c.Skip(c.U8());    // legacy_session_id
  c.Skip(c.U16());   // cipher_suites
  c.Skip(c.U8());    // legacy_compression_methods
  const size_t extensions_length = c.U16();
  if (!c.ok) return offers;
  const size_t end = std::min(hello.size(), c.pos + extensions_length);
  while (c.ok && c.pos + 4 <= end) {
    const size_t type = c.U16();
    const size_t length = c.U16();
    if (type != kKeyShareExtension) {
      c.Skip(length);
      continue;
    }
    offers.present = true;
    if (!c.Has(length) || length < 2) {
      offers.malformed = true;
      return offers;
    }
    Cursor shares{hello.first(c.pos + length), c.pos};
    const size_t list_length = shares.U16();
    if (list_length != length - 2) offers.malformed = true;
    const size_t list_end = std::min(shares.data.size(), shares.pos + list_length);
    while (shares.pos < list_end) {
      if (shares.pos + 4 > list_end) {
        offers.malformed = true;
        break;
      }
      KeyShareOffer offer;
      offer.group = static_cast<uint16_t>(shares.U16());
      offer.length = static_cast<uint16_t>(shares.U16());
      if (shares.pos + offer.length > list_end) {
        offers.malformed = true;
        break;
      }
      shares.Skip(offer.length);
      offers.usable |= UsableBit(offer);
      if (offers.count < offers.entries.size()) offers.entries[offers.count++] = offer;
      ++offers.total;
    }
    return offers;
  }
  return offers;
}

uint16_t ChooseServerKeyShareGroup(uint8_t usable, const KeySharePolicy& policy) {
  if (policy.post_quantum && (usable & kKeyShareX25519MlKem768) != 0) {
    return kGroupX25519MlKem768;
  }
  if ((usable & kKeyShareX25519) != 0) return kGroupX25519;
  if ((usable & kKeyShareSecp256r1) != 0) return kGroupSecp256r1;
  return kGroupX25519;
}

size_t ServerKeyShareSize(uint16_t group) {
  switch (group) {
    case kGroupSecp256r1:
      return kSecp256r1ShareSize;
    case kGroupX25519MlKem768:
      return kX25519MlKem768ServerShareSize;
    default:
      return kX25519ShareSize;
  }
}

void WriteServerKeyShare(uint16_t group, MutableByteSpan out) {
  assert(out.size() == ServerKeyShareSize(group));
  switch (group) {
    case kGroupSecp256r1:
      WriteSecp256r1Share(out);
      return;
    case kGroupX25519MlKem768: {
      const size_t ciphertext = kX25519MlKem768ServerShareSize - kX25519ShareSize;
      SecureRandom(out.first(ciphertext));
      const X25519PublicKey key = GenerateX25519PublicKey();
      std::copy(key.begin(), key.end(), out.begin() + ciphertext);
      return;
    }
    default: {
      const X25519PublicKey key = GenerateX25519PublicKey();
      std::copy(key.begin(), key.end(), out.begin());
      return;
    }
  }
}

}  // namespace mtp
