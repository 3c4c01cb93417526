// AES streams: AES-NI state (round keys + counter/IV) when the CPU allows, else an OpenSSL
// EVP context with the cipher fetched once per process (OpenSSL 3 implicit fetch per init is
// slow). On the AES-NI path a CTR stream allocates nothing (its state is inline) and a CBC
// stream one ~300-byte state; nothing in OpenSSL.
#include "crypto/aes.h"

#include <atomic>
#include <cassert>
#include <climits>
#include <cstring>
#include <new>

#include "absl/status/status.h"
#include "crypto/aes_ni.h"

namespace mtp {
namespace {

std::atomic<bool> force_openssl{false};

bool UseAesNi() { return !force_openssl.load(std::memory_order_relaxed) && AesNiAvailable(); }

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

absl::StatusOr<EVP_CIPHER_CTX*> NewEvp(const EVP_CIPHER* cipher, AesKey key, AesIv iv, int enc) {
  if (cipher == nullptr) return absl::InternalError("AES-256 cipher not available in OpenSSL");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_CIPHER_CTX_new failed");
  if (EVP_CipherInit_ex2(ctx, cipher, key.data(), iv.data(), enc, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return absl::InternalError("AES-256 init failed");
  }
  return ctx;
}

}  // namespace

void SetAesForceOpenSslForTesting(bool force) {
  force_openssl.store(force, std::memory_order_relaxed);
}

bool AesUsesAesNi() { return UseAesNi(); }

// ---- CTR -----------------------------------------------------------------------------------

std::array<uint8_t, 16> CtrIvAfterBlocks(AesIv iv, uint64_t blocks) {
  const uint64_t lo = LoadBe64(iv.data() + 8) + blocks;
  const uint64_t hi = LoadBe64(iv.data()) + (lo < blocks ? 1 : 0);  // carry
  std::array<uint8_t, 16> out;
  StoreBe64(out.data(), hi);
  StoreBe64(out.data() + 8, lo);
  return out;
}

absl::StatusOr<AesCtr> AesCtr::Create(AesKey key, AesIv iv) {
  static_assert(sizeof(AesCtr::round_keys_) == kAes256RoundKeyBytes);
  static_assert(sizeof(AesCtr::keystream_) == kAesBlockBytes);
  AesCtr ctr;
  if (UseAesNi()) {
    AesNiExpandKey256(key.data(), ctr.round_keys_);
    ctr.counter_hi_ = LoadBe64(iv.data());
    ctr.counter_lo_ = LoadBe64(iv.data() + 8);
    ctr.mode_ = Mode::kAesNi;
    return ctr;
  }
  auto evp = NewEvp(Ctr256(), key, iv, 1);
  if (!evp.ok()) return evp.status();
  ctr.evp_ = *evp;
  ctr.mode_ = Mode::kOpenSsl;
  return ctr;
}

void AesCtr::MoveFrom(AesCtr& other) {
  if (other.mode_ == Mode::kAesNi) {
    std::memcpy(round_keys_, other.round_keys_, sizeof(round_keys_));
  } else if (other.mode_ == Mode::kOpenSsl) {
    evp_ = other.evp_;
  }
  counter_hi_ = other.counter_hi_;
  counter_lo_ = other.counter_lo_;
  std::memcpy(keystream_, other.keystream_, sizeof(keystream_));
  used_ = other.used_;
  mode_ = other.mode_;
  other.mode_ = Mode::kNone;
}

void AesCtr::Reset() {
  if (mode_ == Mode::kOpenSsl) EVP_CIPHER_CTX_free(evp_);
  mode_ = Mode::kNone;
}

AesCtr& AesCtr::operator=(AesCtr&& other) noexcept {
  if (this != &other) {
    Reset();
    MoveFrom(other);
  }
  return *this;
}

void AesCtr::Apply(const uint8_t* in, uint8_t* out, size_t n) {
  assert(mode_ != Mode::kNone);
  if (mode_ == Mode::kOpenSsl) {
    Update(evp_, in, out, n);
    return;
  }
  AesNiCtrApply(round_keys_, &counter_hi_, &counter_lo_, keystream_, &used_, in, out, n);
}

// ---- CBC -----------------------------------------------------------------------------------

struct AesCbc::State {
  // AES-NI path: encryption round keys, or the decryption ones for a decrypting stream.
  alignas(16) uint8_t round_keys[kAes256RoundKeyBytes];
  uint8_t iv[kAesBlockBytes];     // last ciphertext block
  bool decrypt = false;
  EVP_CIPHER_CTX* evp = nullptr;  // the OpenSSL path

  ~State() {
    if (evp != nullptr) EVP_CIPHER_CTX_free(evp);
  }
};

absl::StatusOr<AesCbc> AesCbc::Create(AesKey key, AesIv iv, Direction direction) {
  State* state = new (std::nothrow) State;
  if (state == nullptr) return absl::ResourceExhaustedError("out of memory for an AES stream");
  if (UseAesNi()) {
    AesNiExpandKey256(key.data(), state->round_keys);
    if (direction == Direction::kDecrypt) {
      uint8_t enc[kAes256RoundKeyBytes];
      std::memcpy(enc, state->round_keys, sizeof(enc));
      AesNiDecryptKeys256(enc, state->round_keys);
      state->decrypt = true;
    }
    std::memcpy(state->iv, iv.data(), kAesBlockBytes);
    return AesCbc(state);
  }
  auto evp = NewEvp(Cbc256(), key, iv, direction == Direction::kEncrypt ? 1 : 0);
  if (!evp.ok()) {
    delete state;
    return evp.status();
  }
  state->evp = *evp;
  return AesCbc(state);
}

AesCbc& AesCbc::operator=(AesCbc&& other) noexcept {
  if (this != &other) {
    delete state_;
    state_ = other.state_;
    other.state_ = nullptr;
  }
  return *this;
}

AesCbc::~AesCbc() { delete state_; }

void AesCbc::Process(const uint8_t* in, uint8_t* out, size_t n) {
  Job job{this, in, out, n};
  ProcessBatch(std::span<Job>(&job, 1));
}

size_t AesCbc::BatchLanes() {
  if (!UseAesNi()) return 1;
  return AesNiBestWidth() == AesNiWidth::k128 ? kAesNiMaxCbcLanes128 : kAesNiMaxCbcLanes;
}

void AesCbc::ProcessBatch(std::span<Job> jobs) {
  // Every encrypting job of the batch goes to one AesNiCbcEncrypt call (up to kLanes at a
  // time), which schedules them longest first over its interleaved lanes. Decryption is
  // parallel within one chain and runs at once.
  constexpr size_t kLanes = 64;
  AesNiCbcLane lanes[kLanes];
  size_t count = 0;
  for (const Job& job : jobs) {
    assert(job.cbc != nullptr && job.cbc->state_ != nullptr);
    assert(job.n % kAesBlockBytes == 0);
    State& s = *job.cbc->state_;
    if (s.evp != nullptr) {
      Update(s.evp, job.in, job.out, job.n);
      continue;
    }
    if (s.decrypt) {
      AesNiCbcDecrypt(s.round_keys, s.iv, job.in, job.out, job.n / kAesBlockBytes);
      continue;
    }
    if (count == kLanes) {
      AesNiCbcEncrypt(lanes, count);
      count = 0;
    }
    lanes[count++] = AesNiCbcLane{s.round_keys, s.iv, job.in, job.out, job.n / kAesBlockBytes};
  }
  if (count > 0) AesNiCbcEncrypt(lanes, count);
}

}  // namespace mtp
