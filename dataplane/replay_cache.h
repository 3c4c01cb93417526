// SharedReplayCache: the process-wide, bounded, lock-free fake-TLS ClientHello replay filter
// that every shard checks, so a replayed hello is refused whichever shard it lands on.
//
// Thread ownership: created by the control thread before the shards start and destroyed after
// they stop; CheckAndInsert, OldestEntryTime and stats() are safe from any number of threads
// at once. Used only on the handshake path (one call per ClientHello), never on the relay path.
//
// Layout. A fixed table of 64-bit atomic slots grouped in 64-byte buckets of 8 (one cache
// line each). A key (the 16-byte client-random digest) is hashed with SipHash-2-4 under a
// per-process random key into two candidate buckets and a 42-bit fingerprint; a slot holds
// fingerprint << 22 | (insertion second mod 2^22), 0 = empty. Lookup reads both buckets
// (two cache lines); insertion claims one slot with a single compare-and-swap.
//
// Bounds (all fixed at construction):
//   memory     = 8 bytes x `slots` (default 2^20 slots = 8 MiB) + the time ring (64 KiB for
//                2 days, below), never grows;
//   time       = an entry counts for `retention_s` seconds (default 2 days, the reference's
//                MAX_CLIENT_RANDOM_CACHE_TIME), then its slot is free for reuse;
//   size       = when both buckets of a new key are full of live entries, the oldest of those
//                16 entries is evicted (two-choice placement keeps buckets evenly filled, so
//                the victim is close to the globally oldest entry).
// The timestamp window follows the reference exactly while nothing is evicted:
// OldestEntryTime() is the insertion second of the oldest entry still remembered (newer than
// newest now - retention_s), found in a ring of per-second "something was inserted" bits (one
// 64-bit word per 32 seconds: 32-bit epoch tag | 32 bits, 64 KiB for 2 days; set with a
// compare-and-swap, never cleared: a stale epoch tag reads as empty). After an eviction it is
// at least the newest evicted entry's time, so the codec's IsAllowedTimestamp rejects every
// hello whose original could have been evicted, except those younger than 600 s (the
// reference's fixed window).
// A replay therefore escapes only if its original was evicted less than ~600 s after it was
// inserted: that needs more than roughly `slots` hellos in 10 minutes (about 1700/s with the
// default size) and is counted in Stats::young_evictions.
//
// Errors. False negatives (a replay accepted): only through young evictions (above).
// False positives (a fresh hello refused as a replay): a 42-bit fingerprint collision with a
// live entry of the same two buckets (probability < 16 / 2^42 per hello, and not steerable by
// a peer: the hash key is secret); two identical hellos racing on two shards may both be
// refused (each sees the other's slot), which is right for at least one of them; a compare-and-
// swap lost kMaxAttempts times in a row (never seen outside a contrived stress) refuses the
// hello rather than risk accepting a replay (Stats::contended).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "proto/fake_tls_replay_cache.h"
#include "crypto/siphash.h"

namespace mtp {

struct SharedReplayCacheOptions {
  // Number of entries; rounded up to a power of two, at least 16 (two buckets).
  size_t slots = size_t{1} << 20;
  // Seconds an entry is remembered; 1 .. 2^21 - 1.
  int64_t retention_s = kReplayRetentionS;
};

class SharedReplayCache final : public ReplayCache {
 public:
  // Slot fields: fingerprint bits and time bits of one 64-bit slot.
  static constexpr int kTimeBits = 22;
  static constexpr int kFingerprintBits = 64 - kTimeBits;
  static constexpr size_t kBucketSlots = 8;
  // Compare-and-swap attempts before a hello is refused as contended.
  static constexpr int kMaxAttempts = 16;
  // Evicting an entry younger than this may let its replay through (the reference accepts any
  // timestamp newer than now - 600 whatever the cache holds).
  static constexpr int64_t kYoungAgeS = 600 + 3;

  struct Stats {
    uint64_t inserts = 0;          // fresh hellos recorded
    uint64_t replays = 0;          // hellos refused as replays (incl. racing duplicates)
    uint64_t evictions = 0;        // live entries overwritten because both buckets were full
    uint64_t young_evictions = 0;  // of those, younger than kYoungAgeS
    uint64_t contended = 0;        // refused after kMaxAttempts lost compare-and-swaps
  };

  explicit SharedReplayCache(const SharedReplayCacheOptions& options = {});
  // Deterministic hash key, for tests that need to aim keys at one bucket.
  SharedReplayCache(const SharedReplayCacheOptions& options, const SipHashKey& hash_key);
  ~SharedReplayCache() override;
  SharedReplayCache(const SharedReplayCache&) = delete;
  SharedReplayCache& operator=(const SharedReplayCache&) = delete;

  // ReplayCache: true (and nothing changes) if `key` was inserted less than retention_s ago;
  // otherwise records it stamped `now_s` and returns false. Lock-free.
  bool CheckAndInsert(const ReplayKey& key, int64_t now_s) override;
  // See the header comment; nullopt before the first insertion.
  std::optional<int64_t> OldestEntryTime() const override;

  Stats stats() const;
  size_t capacity() const { return bucket_count_ * kBucketSlots; }
  int64_t retention_s() const { return retention_s_; }
  // The slot table plus the time ring.
  size_t memory_bytes() const { return (capacity() + ring_words_) * sizeof(uint64_t); }

  // The two buckets a key maps to (exposed for tests).
  std::pair<size_t, size_t> BucketsOf(const ReplayKey& key) const;
  size_t bucket_count() const { return bucket_count_; }

 private:
  struct alignas(64) Bucket {
    std::atomic<uint64_t> slots[kBucketSlots];
  };
  struct Hashed {
    size_t bucket[2];
    uint64_t fingerprint;  // non-zero, < 2^kFingerprintBits
  };

  Hashed Hash(const ReplayKey& key) const;
  // Signed age in seconds of a slot word's time at `now_s` (negative: stamped by a shard
  // whose clock is ahead).
  static int64_t AgeOf(uint64_t word, int64_t now_s);
  static void AtomicMax(std::atomic<int64_t>& target, int64_t value);
  // Records that an entry was inserted at second `now_s` (time ring).
  void MarkInsertSecond(int64_t now_s);
  // The first second in [from_s, to_s] with a mark, or nullopt.
  std::optional<int64_t> FirstMarkedSecond(int64_t from_s, int64_t to_s) const;
  bool Live(uint64_t word, int64_t now_s) const {
    return word != 0 && AgeOf(word, now_s) < retention_s_;
  }

  const int64_t retention_s_;
  SipHashKey hash_key_[2];
  size_t bucket_count_ = 0;  // power of two, >= 2
  std::unique_ptr<Bucket[]> buckets_;

  // Time ring: word (t / 32) % ring_words_ holds (uint32(t / 32) << 32) | bit (t % 32).
  static constexpr int64_t kRingWordSeconds = 32;
  // Shards' clocks may disagree by this much: marks this far beyond the newest `now` count.
  static constexpr int64_t kClockSkewS = 8;
  size_t ring_words_ = 0;  // power of two covering retention_s + 2 * kClockSkewS + 64
  std::unique_ptr<std::atomic<uint64_t>[]> time_ring_;
  mutable std::atomic<int64_t> oldest_hint_s_{INT64_MIN};  // where the last scan found one

  static constexpr int64_t kUnset = INT64_MIN;
  std::atomic<int64_t> evicted_horizon_s_{kUnset};  // newest time of any evicted live entry
  std::atomic<int64_t> last_now_s_{kUnset};         // newest `now_s` seen

  // Relaxed counters: one increment per hello, on the handshake path only.
  alignas(64) std::atomic<uint64_t> inserts_{0};
  std::atomic<uint64_t> replays_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> young_evictions_{0};
  std::atomic<uint64_t> contended_{0};
};

}  // namespace mtp
