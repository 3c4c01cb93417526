// AES-256-CTR and AES-256-CBC (no padding) stream objects: AES-NI kernels (crypto/aes_ni.h) when
// the CPU has them, OpenSSL EVP otherwise. A CTR stream holds its state inline (280 bytes: round
// keys, counter, keystream); a CBC stream owns one small heap state (about 300 bytes on the
// AES-NI path: round keys, IV). Both are move-only. A stream is used by exactly one thread (its
// shard).
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "core/bytes.h"

namespace mtp {

using AesKey = std::span<const uint8_t, 32>;
using AesIv = std::span<const uint8_t, 16>;

// The IV of the CTR stream that starts `blocks` 16-byte blocks into the one `iv` starts: the
// 128-bit big-endian counter plus `blocks`, as OpenSSL's CTR counts. A stream that begins past
// bytes it never sees (obfuscated2's 64-byte header) starts there at no keystream cost.
std::array<uint8_t, 16> CtrIvAfterBlocks(AesIv iv, uint64_t blocks);

class AesCtr {
 public:
  // Both directions of CTR are "encrypt"; Apply() both encrypts and decrypts.
  static absl::StatusOr<AesCtr> Create(AesKey key, AesIv iv);

  AesCtr() = default;
  // Moving copies the state (280 bytes) and leaves `other` invalid.
  AesCtr(AesCtr&& other) noexcept { MoveFrom(other); }
  AesCtr& operator=(AesCtr&& other) noexcept;
  AesCtr(const AesCtr&) = delete;
  AesCtr& operator=(const AesCtr&) = delete;
  ~AesCtr() { Reset(); }

  bool valid() const { return mode_ != Mode::kNone; }

  // XORs the keystream into `data` in place, advancing the stream by data.size().
  void Apply(MutableByteSpan data) { Apply(data.data(), data.data(), data.size()); }
  void Apply(const uint8_t* in, uint8_t* out, size_t n);

 private:
  enum class Mode : uint8_t { kNone, kAesNi, kOpenSsl };
  void MoveFrom(AesCtr& other);
  void Reset();

  // The state lives inline, not behind a pointer: a client session embeds its two streams,
  // and an idle connection then costs no heap block (malloc's header and rounding were
  // about 40 bytes a stream). The OpenSSL path keeps its context pointer where the AES-NI
  // path keeps its round keys.
  union {
    uint8_t round_keys_[240];  // AES-NI: the 15 encryption round keys (kAes256RoundKeyBytes)
    EVP_CIPHER_CTX* evp_;      // OpenSSL
  };
  uint64_t counter_hi_ = 0;  // next counter block, as a 128-bit big-endian number
  uint64_t counter_lo_ = 0;
  uint8_t keystream_[16] = {};  // of the block before the counter
  uint8_t used_ = 16;           // keystream bytes already consumed
  Mode mode_ = Mode::kNone;
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
