// LeanAesCtr and CtrKeyCache: the CTR state without its round keys, which live in a per-shard
// two-way cache and are expanded again (about 15 ns) when a stream comes back after eviction.
#include "crypto/lean_ctr.h"

#include <cassert>
#include <cstring>
#include <new>
#include <utility>

#include "core/bytes.h"

namespace mtp {

CtrKeyCache::CtrKeyCache(size_t sets) : sets_(sets), mask_(sets - 1) {
  assert(sets > 0 && (sets & (sets - 1)) == 0);
}

const uint8_t* CtrKeyCache::Miss(Set& set, uint64_t id, const uint8_t key[32]) {
  ++misses_;
  const uint8_t way = set.older;
  Entry& e = set.way[way];
  AesNiExpandKey256(key, e.round_keys);
  e.id = id;
  set.older = way ^ 1;
  return e.round_keys;
}

absl::StatusOr<LeanAesCtr> LeanAesCtr::Create(CtrKeyCache& cache, AesKey key, AesIv iv) {
  LeanAesCtr ctr;
  if (!AesUsesAesNi()) {
    absl::StatusOr<AesCtr> full = AesCtr::Create(key, iv);
    if (!full.ok()) return full.status();
    ctr.fallback_ = new (std::nothrow) AesCtr(std::move(*full));
    if (ctr.fallback_ == nullptr) return absl::ResourceExhaustedError("out of memory for AES");
    return ctr;
  }
  std::memcpy(ctr.key_, key.data(), sizeof(ctr.key_));
  ctr.counter_hi_ = LoadBe64(iv.data());
  ctr.counter_lo_ = LoadBe64(iv.data() + 8);
  ctr.id_ = cache.NewId();
  return ctr;
}

void LeanAesCtr::Apply(CtrKeyCache& cache, const uint8_t* in, uint8_t* out, size_t n) {
  assert(valid());
  if (fallback_ != nullptr) {
    fallback_->Apply(in, out, n);
    return;
  }
  // Bytes left of the keystream block need no round keys (a lookup may expand them).
  if (n == 0) return;
  if (n <= static_cast<size_t>(sizeof(keystream_) - used_)) {
    for (size_t i = 0; i < n; ++i) out[i] = in[i] ^ keystream_[used_++];
    return;
  }
  AesNiCtrApply(cache.RoundKeys(id_, key_), &counter_hi_, &counter_lo_, keystream_, &used_, in,
                out, n);
}

void LeanAesCtr::MoveFrom(LeanAesCtr& other) {
  std::memcpy(key_, other.key_, sizeof(key_));
  id_ = other.id_;
  fallback_ = other.fallback_;
  counter_hi_ = other.counter_hi_;
  counter_lo_ = other.counter_lo_;
  std::memcpy(keystream_, other.keystream_, sizeof(keystream_));
  used_ = other.used_;
  other.id_ = 0;
  other.fallback_ = nullptr;
  std::memset(other.key_, 0, sizeof(other.key_));
}

void LeanAesCtr::Reset() {
  delete fallback_;
  fallback_ = nullptr;
  id_ = 0;
  // The key is secret: it does not outlive the stream in the slot.
  std::memset(key_, 0, sizeof(key_));
}

LeanAesCtr& LeanAesCtr::operator=(LeanAesCtr&& other) noexcept {
  if (this != &other) {
    Reset();
    MoveFrom(other);
  }
  return *this;
}

}  // namespace mtp
