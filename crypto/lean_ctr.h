// LeanAesCtr: an AES-256-CTR stream that keeps its 32-byte key instead of the 240 bytes of
// round keys (88 bytes in all, against AesCtr's 280), and CtrKeyCache, the per-shard cache that
// holds the expanded round keys of the streams in use. A client session keeps two streams for
// its whole life, mostly idle: at 10,000 idle connections the round keys were 4.8 MB of the
// shard's memory, while only the streams of connections that move data need them.
//
// Thread ownership: a cache and the streams applied through it belong to one thread (a
// shard); a stream must always be applied through the cache it was created with (its id
// is unique in that cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/aes.h"
#include "crypto/aes_ni.h"

namespace mtp {

class CtrKeyCache {
 public:
  // `sets` (a power of two) sets of two entries; each entry holds one stream's round keys.
  explicit CtrKeyCache(size_t sets = 1024);
  CtrKeyCache(const CtrKeyCache&) = delete;
  CtrKeyCache& operator=(const CtrKeyCache&) = delete;

  // A fresh stream id (never 0, never reused by this cache).
  uint64_t NewId() { return ++last_id_; }
  // The round keys of stream `id`, expanded from `key` into the set's older entry on a miss.
  const uint8_t* RoundKeys(uint64_t id, const uint8_t key[32]) {
    Set& set = sets_[id & mask_];
    if (set.way[0].id == id) {
      set.older = 1;
      return set.way[0].round_keys;
    }
    if (set.way[1].id == id) {
      set.older = 0;
      return set.way[1].round_keys;
    }
    return Miss(set, id, key);
  }
  uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    uint64_t id = 0;
    alignas(16) uint8_t round_keys[kAes256RoundKeyBytes];
  };
  struct Set {
    Entry way[2];
    uint8_t older = 0;  // the way a miss replaces (least recently used)
  };
  const uint8_t* Miss(Set& set, uint64_t id, const uint8_t key[32]);

  std::vector<Set> sets_;
  uint64_t mask_;
  uint64_t last_id_ = 0;
  uint64_t misses_ = 0;
};

class LeanAesCtr {
 public:
  // A stream at keystream offset 0. Without AES-NI the stream wraps an OpenSSL AesCtr on the
  // heap and the cache is not used.
  static absl::StatusOr<LeanAesCtr> Create(CtrKeyCache& cache, AesKey key, AesIv iv);

  LeanAesCtr() = default;
  LeanAesCtr(LeanAesCtr&& other) noexcept { MoveFrom(other); }
  LeanAesCtr& operator=(LeanAesCtr&& other) noexcept;
  LeanAesCtr(const LeanAesCtr&) = delete;
  LeanAesCtr& operator=(const LeanAesCtr&) = delete;
  ~LeanAesCtr() { Reset(); }

  bool valid() const { return id_ != 0 || fallback_ != nullptr; }

  // XORs the keystream into in -> out (in == out allowed), advancing the stream by n.
  void Apply(CtrKeyCache& cache, const uint8_t* in, uint8_t* out, size_t n);
  void Apply(CtrKeyCache& cache, MutableByteSpan data) {
    Apply(cache, data.data(), data.data(), data.size());
  }

 private:
  void MoveFrom(LeanAesCtr& other);
  void Reset();

  uint8_t key_[32] = {};
  uint64_t id_ = 0;             // in the cache; 0 on the OpenSSL path or when invalid
  AesCtr* fallback_ = nullptr;  // the OpenSSL path (owned)
  uint64_t counter_hi_ = 0;     // next counter block, as a 128-bit big-endian number
  uint64_t counter_lo_ = 0;
  uint8_t keystream_[16] = {};  // of the block before the counter
  uint8_t used_ = 16;           // keystream bytes already consumed
};

}  // namespace mtp
