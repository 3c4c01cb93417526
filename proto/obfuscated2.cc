// Obfuscated2 key derivation, server-side secret trial and client-side header construction.
#include "proto/obfuscated2.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr size_t kKeyOffset = 8;
constexpr size_t kIvOffset = 40;
constexpr size_t kTagOffset = 56;
constexpr size_t kDcOffset = 60;
constexpr size_t kAesBlockBytes = 16;
// The tag and DC id live in the 4th keystream block (bytes 48..63).
constexpr size_t kTagBlockIndex = kTagOffset / kAesBlockBytes;
constexpr size_t kTagInBlock = kTagOffset % kAesBlockBytes;
constexpr size_t kDcInBlock = kDcOffset % kAesBlockBytes;

// A per-thread AES-256-ECB context used to compute single keystream blocks while trying
// secrets: re-keying one context is much cheaper than building a CTR stream per secret.
class BlockCipher {
 public:
  BlockCipher() {
    static EVP_CIPHER* ecb = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
    cipher_ = ecb;
    ctx_ = EVP_CIPHER_CTX_new();
  }
  ~BlockCipher() { EVP_CIPHER_CTX_free(ctx_); }
  BlockCipher(const BlockCipher&) = delete;
  BlockCipher& operator=(const BlockCipher&) = delete;

  // out = AES-256(key, in). False if OpenSSL failed.
  bool Encrypt(const uint8_t* key, const uint8_t* in, uint8_t* out) {
    if (cipher_ == nullptr || ctx_ == nullptr) return false;
    if (EVP_EncryptInit_ex2(ctx_, cipher_, key, nullptr, nullptr) != 1) return false;
    EVP_CIPHER_CTX_set_padding(ctx_, 0);
    int outl = 0;
    return EVP_EncryptUpdate(ctx_, out, &outl, in, kAesBlockBytes) == 1 &&
           outl == static_cast<int>(kAesBlockBytes);
  }

 private:
  const EVP_CIPHER* cipher_ = nullptr;
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

// OpenSSL's CTR counter: the whole 16-byte IV is one big-endian integer.
void AddToCounter(uint8_t counter[kAesBlockBytes], uint32_t value) {
  uint32_t carry = value;
  for (int i = kAesBlockBytes - 1; i >= 0 && carry != 0; --i) {
    uint32_t sum = counter[i] + (carry & 0xff);
    counter[i] = static_cast<uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
}

void DeriveReadKey(Obfuscated2HeaderView header, const ClientSecret* secret,
                   std::array<uint8_t, 32>* key) {
  ByteSpan material = header.subspan(kKeyOffset, 32);
  if (secret == nullptr) {
    std::copy(material.begin(), material.end(), key->begin());
  } else {
    *key = Sha256({material, ByteSpan(*secret)});
  }
}

absl::StatusOr<Obfuscated2ClientHandshake> BuildFrom(Obfuscated2Header header,
                                                     const ClientSecret* secret,
                                                     Transport transport, int16_t dc_id) {
  StoreLe32(header.data() + kTagOffset, TransportTag(transport));
  StoreLe16(header.data() + kDcOffset, static_cast<uint16_t>(dc_id));
  Obfuscated2Keys keys = DeriveObfuscated2Keys(header, secret);
  absl::StatusOr<AesCtr> encrypt = AesCtr::Create(keys.read_key, keys.read_iv);
  if (!encrypt.ok()) return encrypt.status();
  absl::StatusOr<AesCtr> decrypt = AesCtr::Create(keys.write_key, keys.write_iv);
  if (!decrypt.ok()) return decrypt.status();
  // The client encrypts all 64 bytes but only the last 8 ciphertext bytes replace plaintext.
  Obfuscated2Header encrypted = header;
  encrypt->Apply(encrypted);
  std::copy(encrypted.begin() + kTagOffset, encrypted.end(), header.begin() + kTagOffset);
  return Obfuscated2ClientHandshake{header, std::move(*encrypt), std::move(*decrypt), keys};
}

}  // namespace

Obfuscated2Keys DeriveObfuscated2Keys(Obfuscated2HeaderView header, const ClientSecret* secret) {
  Obfuscated2Keys keys;
  DeriveReadKey(header, secret, &keys.read_key);
  std::copy_n(header.begin() + kIvOffset, keys.read_iv.size(), keys.read_iv.begin());
  // R = reverse(header[8..56)): R[0..32) = header[55..24], R[32..48) = header[23..8].
  std::array<uint8_t, 48> reversed;
  std::reverse_copy(header.begin() + kKeyOffset, header.begin() + kTagOffset, reversed.begin());
  if (secret == nullptr) {
    std::copy_n(reversed.begin(), 32, keys.write_key.begin());
  } else {
    keys.write_key = Sha256({ByteSpan(reversed.data(), 32), ByteSpan(*secret)});
  }
  std::copy_n(reversed.begin() + 32, 16, keys.write_iv.begin());
  return keys;
}

Obfuscated2Match MatchObfuscated2(Obfuscated2HeaderView header,
                                  std::span<const ClientSecret> secrets) {
  thread_local BlockCipher block_cipher;
  Obfuscated2Match match;

  // Counter block for keystream bytes 48..63 is IV + 3; the same for every secret.
  uint8_t counter[kAesBlockBytes];
  std::memcpy(counter, header.data() + kIvOffset, kAesBlockBytes);
  AddToCounter(counter, kTagBlockIndex);

  size_t passes = secrets.empty() ? 1 : secrets.size();
  for (size_t i = 0; i < passes; ++i) {
    const ClientSecret* secret = secrets.empty() ? nullptr : &secrets[i];
    std::array<uint8_t, 32> read_key;
    DeriveReadKey(header, secret, &read_key);
    uint8_t keystream[kAesBlockBytes];
    if (!block_cipher.Encrypt(read_key.data(), counter, keystream)) {
      match.status = Obfuscated2Status::kCryptoFailure;
      return match;
    }
    uint8_t plain[8];
    for (size_t j = 0; j < sizeof(plain); ++j) {
      plain[j] = header[kTagOffset + j] ^ keystream[kTagInBlock + j];
    }
    std::optional<Transport> transport = TransportFromTag(LoadLe32(plain));
    if (!transport.has_value()) continue;
    match.status = Obfuscated2Status::kAccepted;
    match.secret_index = secret == nullptr ? -1 : static_cast<int>(i);
    match.transport = *transport;
    match.dc_id = static_cast<int16_t>(LoadLe16(plain + (kDcInBlock - kTagInBlock)));
    match.keys = DeriveObfuscated2Keys(header, secret);
    return match;
  }
  match.status = Obfuscated2Status::kNoMatch;
  return match;
}

Obfuscated2ServerResult AcceptObfuscated2(Obfuscated2HeaderView header,
                                          std::span<const ClientSecret> secrets) {
  Obfuscated2ServerResult result;
  const Obfuscated2Match match = MatchObfuscated2(header, secrets);
  result.status = match.status;
  if (match.status != Obfuscated2Status::kAccepted) return result;
  // The read stream starts after the header.
  absl::StatusOr<AesCtr> decrypt =
      AesCtr::Create(match.keys.read_key, Obfuscated2ReadIvAfterHeader(match.keys));
  absl::StatusOr<AesCtr> encrypt = AesCtr::Create(match.keys.write_key, match.keys.write_iv);
  if (!decrypt.ok() || !encrypt.ok()) {
    result.status = Obfuscated2Status::kCryptoFailure;
    return result;
  }
  static_cast<Obfuscated2Verdict&>(result) = match;
  result.decrypt = std::move(*decrypt);
  result.encrypt = std::move(*encrypt);
  return result;
}

bool IsForbiddenObfuscated2Start(Obfuscated2HeaderView random) {
  if (random[0] == 0xef) return true;
  switch (LoadLe32(random.data())) {
    case 0x44414548u:  // "HEAD"
    case 0x54534f50u:  // "POST"
    case 0x20544547u:  // "GET "
    case 0x4954504fu:  // "OPTI"
    case kPaddedTag:
    case kIntermediateTag:
    case 0x02010316u:  // 16 03 01 02: fake-TLS ClientHello record prefix
      return true;
    default:
      break;
  }
  return LoadLe32(random.data() + 4) == 0;
}

absl::StatusOr<Obfuscated2ClientHandshake> BuildObfuscated2ClientHeader(
    const ClientSecret* secret, Transport transport, int16_t dc_id) {
  Obfuscated2Header random;
  do {
    SecureRandom(random);
  } while (IsForbiddenObfuscated2Start(random));
  return BuildFrom(random, secret, transport, dc_id);
}

absl::StatusOr<Obfuscated2ClientHandshake> BuildObfuscated2ClientHeaderFrom(
    Obfuscated2HeaderView random, const ClientSecret* secret, Transport transport,
    int16_t dc_id) {
  Obfuscated2Header header;
  std::copy(random.begin(), random.end(), header.begin());
  return BuildFrom(header, secret, transport, dc_id);
}

}  // namespace mtp
