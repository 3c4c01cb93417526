// AES-256-CTR and AES-256-CBC (no padding) stream objects on OpenSSL EVP.
// Cipher objects are fetched once per process; each stream owns one EVP context and is
// move-only. A stream is used by exactly one thread (its shard).
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "core/bytes.h"

namespace mtp {

using AesKey = std::span<const uint8_t, 32>;
using AesIv = std::span<const uint8_t, 16>;

class AesCtr {
 public:
  // Both directions of CTR are "encrypt"; Apply() both encrypts and decrypts.
  static absl::StatusOr<AesCtr> Create(AesKey key, AesIv iv);

  AesCtr() = default;
  AesCtr(AesCtr&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }
  AesCtr& operator=(AesCtr&& other) noexcept;
  AesCtr(const AesCtr&) = delete;
  AesCtr& operator=(const AesCtr&) = delete;
  ~AesCtr();

  bool valid() const { return ctx_ != nullptr; }

  // XORs the keystream into `data` in place, advancing the stream by data.size().
  void Apply(MutableByteSpan data) { Apply(data.data(), data.data(), data.size()); }
  void Apply(const uint8_t* in, uint8_t* out, size_t n);

 private:
  explicit AesCtr(EVP_CIPHER_CTX* ctx) : ctx_(ctx) {}
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

class AesCbc {
 public:
  enum class Direction { kEncrypt, kDecrypt };
  // One continuous CBC chain: the IV is used once, chaining continues across calls.
  static absl::StatusOr<AesCbc> Create(AesKey key, AesIv iv, Direction direction);

  AesCbc() = default;
  AesCbc(AesCbc&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }
  AesCbc& operator=(AesCbc&& other) noexcept;
  AesCbc(const AesCbc&) = delete;
  AesCbc& operator=(const AesCbc&) = delete;
  ~AesCbc();

  bool valid() const { return ctx_ != nullptr; }

  // `n` must be a multiple of 16 (asserted). In place is allowed (in == out).
  void Process(const uint8_t* in, uint8_t* out, size_t n);
  void Process(MutableByteSpan data) { Process(data.data(), data.data(), data.size()); }

 private:
  explicit AesCbc(EVP_CIPHER_CTX* ctx) : ctx_(ctx) {}
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

}  // namespace mtp
