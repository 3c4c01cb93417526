// AES-256-CTR and AES-256-CBC (no padding) stream objects: AES-NI kernels (crypto/aes_ni.h) when
// the CPU has them, OpenSSL EVP otherwise. Each stream owns one small heap state (about 300
// bytes on the AES-NI path: round keys, counter or IV) and is move-only. A stream is used by
// exactly one thread (its shard).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
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
  AesCtr(AesCtr&& other) noexcept : state_(other.state_) { other.state_ = nullptr; }
  AesCtr& operator=(AesCtr&& other) noexcept;
  AesCtr(const AesCtr&) = delete;
  AesCtr& operator=(const AesCtr&) = delete;
  ~AesCtr();

  bool valid() const { return state_ != nullptr; }

  // XORs the keystream into `data` in place, advancing the stream by data.size().
  void Apply(MutableByteSpan data) { Apply(data.data(), data.data(), data.size()); }
  void Apply(const uint8_t* in, uint8_t* out, size_t n);

 private:
  struct State;
  explicit AesCtr(State* state) : state_(state) {}
  State* state_ = nullptr;
};

class AesCbc {
 public:
  enum class Direction { kEncrypt, kDecrypt };
  // One continuous CBC chain: the IV is used once, chaining continues across calls.
  static absl::StatusOr<AesCbc> Create(AesKey key, AesIv iv, Direction direction);

  AesCbc() = default;
  AesCbc(AesCbc&& other) noexcept : state_(other.state_) { other.state_ = nullptr; }
  AesCbc& operator=(AesCbc&& other) noexcept;
  AesCbc(const AesCbc&) = delete;
  AesCbc& operator=(const AesCbc&) = delete;
  ~AesCbc();

  bool valid() const { return state_ != nullptr; }

  // `n` must be a multiple of 16 (asserted). In place is allowed (in == out).
  void Process(const uint8_t* in, uint8_t* out, size_t n);
  void Process(MutableByteSpan data) { Process(data.data(), data.data(), data.size()); }

  // One Process() call of a batch.
  struct Job {
    AesCbc* cbc;
    const uint8_t* in;
    uint8_t* out;
    size_t n;  // multiple of 16
  };
  // Same result as Process() on each job in order, but the chains of distinct encrypting
  // streams advance together (up to 16 at a time on VAES-512, 8 on AES-NI; longest job
  // first, a lane refilled as soon as its job ends), which is several times faster than one
  // after another. One chain's encryption stays serial: a single long job runs at one lane's
  // speed. Decrypting jobs (parallel within the chain: 16 blocks at a time on VAES-512) run as
  // they come. Each stream appears at most once in `jobs`.
  static void ProcessBatch(std::span<Job> jobs);
  // How many encrypting chains ProcessBatch advances together on this CPU (16 on VAES, 8 on
  // AES-NI, 1 on OpenSSL): a batch with fewer busy streams leaves lanes idle, so this is the
  // number of ME links a shard needs with data to keep CBC encryption at full rate.
  static size_t BatchLanes();

 private:
  struct State;
  explicit AesCbc(State* state) : state_(state) {}
  State* state_ = nullptr;
};

// Tests only: streams created while this is true use OpenSSL even when AES-NI is present.
void SetAesForceOpenSslForTesting(bool force);
// True if streams created now use the AES-NI kernels.
bool AesUsesAesNi();

}  // namespace mtp
