// AES streams: explicit fetch of the cipher implementations once (OpenSSL 3 implicit fetch
// per init is slow), contexts created per stream.
#include "crypto/aes.h"

#include <cassert>
#include <climits>

#include "absl/status/status.h"

namespace mtp {
namespace {

const EVP_CIPHER* Ctr256() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr);
  return cipher;
}

const EVP_CIPHER* Cbc256() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

// Processes in chunks below INT_MAX because EVP lengths are int.
void Update(EVP_CIPHER_CTX* ctx, const uint8_t* in, uint8_t* out, size_t n) {
  while (n > 0) {
    int chunk = n > (1u << 30) ? (1 << 30) : static_cast<int>(n);
    int outl = 0;
    int ok = EVP_CipherUpdate(ctx, out, &outl, in, chunk);
    assert(ok == 1 && outl == chunk);
    (void)ok;
    in += chunk;
    out += chunk;
    n -= static_cast<size_t>(chunk);
  }
}

}  // namespace

absl::StatusOr<AesCtr> AesCtr::Create(AesKey key, AesIv iv) {
  const EVP_CIPHER* cipher = Ctr256();
  if (cipher == nullptr) return absl::InternalError("AES-256-CTR not available in OpenSSL");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_CIPHER_CTX_new failed");
  if (EVP_CipherInit_ex2(ctx, cipher, key.data(), iv.data(), 1, nullptr) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return absl::InternalError("AES-256-CTR init failed");
  }
  return AesCtr(ctx);
}

AesCtr& AesCtr::operator=(AesCtr&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

AesCtr::~AesCtr() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
}

void AesCtr::Apply(const uint8_t* in, uint8_t* out, size_t n) {
  assert(ctx_ != nullptr);
  Update(ctx_, in, out, n);
}

absl::StatusOr<AesCbc> AesCbc::Create(AesKey key, AesIv iv, Direction direction) {
  const EVP_CIPHER* cipher = Cbc256();
  if (cipher == nullptr) return absl::InternalError("AES-256-CBC not available in OpenSSL");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_CIPHER_CTX_new failed");
  int enc = direction == Direction::kEncrypt ? 1 : 0;
  if (EVP_CipherInit_ex2(ctx, cipher, key.data(), iv.data(), enc, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return absl::InternalError("AES-256-CBC init failed");
  }
  return AesCbc(ctx);
}

AesCbc& AesCbc::operator=(AesCbc&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

AesCbc::~AesCbc() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
}

void AesCbc::Process(const uint8_t* in, uint8_t* out, size_t n) {
  assert(ctx_ != nullptr);
  assert(n % 16 == 0);
  Update(ctx_, in, out, n);
}

}  // namespace mtp
