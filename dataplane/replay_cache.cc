// SharedReplayCache: two-choice bucketed table of atomic fingerprint+time slots.
#include "dataplane/replay_cache.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint64_t kTimeMask = (uint64_t{1} << SharedReplayCache::kTimeBits) - 1;
constexpr int64_t kMaxRetentionS = (int64_t{1} << (SharedReplayCache::kTimeBits - 1)) - 1;

SipHashKey RandomHashKey() {
  SipHashKey key;
  SecureRandom(MutableByteSpan(key));
  return key;
}

}  // namespace

SharedReplayCache::SharedReplayCache(const SharedReplayCacheOptions& options)
    : SharedReplayCache(options, RandomHashKey()) {}

SharedReplayCache::SharedReplayCache(const SharedReplayCacheOptions& options,
                                     const SipHashKey& hash_key)
    : retention_s_(std::clamp<int64_t>(options.retention_s, 1, kMaxRetentionS)) {
  hash_key_[0] = hash_key;
  hash_key_[1] = hash_key;
  for (uint8_t& b : hash_key_[1]) b ^= 0x5c;
  const size_t slots = std::bit_ceil(std::max<size_t>(options.slots, 2 * kBucketSlots));
  bucket_count_ = slots / kBucketSlots;
  // Bucket indexes come from 32-bit halves of the first hash.
  assert(bucket_count_ <= (size_t{1} << 32));
  buckets_ = std::make_unique<Bucket[]>(bucket_count_);
  for (size_t b = 0; b < bucket_count_; ++b) {
    for (auto& slot : buckets_[b].slots) slot.store(0, std::memory_order_relaxed);
  }
  ring_words_ = std::bit_ceil(
      static_cast<size_t>((retention_s_ + 2 * kClockSkewS + 64) / kRingWordSeconds + 2));
  time_ring_ = std::make_unique<std::atomic<uint64_t>[]>(ring_words_);
  for (size_t i = 0; i < ring_words_; ++i) time_ring_[i].store(0, std::memory_order_relaxed);
}

void SharedReplayCache::MarkInsertSecond(int64_t now_s) {
  const uint64_t epoch = static_cast<uint64_t>(now_s) / kRingWordSeconds;
  const uint64_t tag = epoch & 0xffffffffu;
  const uint64_t bit = uint64_t{1} << (static_cast<uint64_t>(now_s) % kRingWordSeconds);
  std::atomic<uint64_t>& word = time_ring_[epoch & (ring_words_ - 1)];
  uint64_t seen = word.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next;
    if ((seen >> 32) == tag) {
      if ((seen & bit) != 0) return;
      next = seen | bit;
    } else {
      // A newer epoch owns the word: this second is older than the ring, long expired.
      if (static_cast<int32_t>(static_cast<uint32_t>((seen >> 32) - tag)) > 0) return;
      next = (tag << 32) | bit;  // a stale epoch: start the word afresh
    }
    if (word.compare_exchange_weak(seen, next, std::memory_order_release,
                                   std::memory_order_relaxed)) {
      return;
    }
  }
}

std::optional<int64_t> SharedReplayCache::FirstMarkedSecond(int64_t from_s, int64_t to_s) const {
  if (from_s < 0) from_s = 0;
  for (int64_t epoch = from_s / kRingWordSeconds; epoch <= to_s / kRingWordSeconds; ++epoch) {
    const uint64_t word =
        time_ring_[static_cast<uint64_t>(epoch) & (ring_words_ - 1)].load(
            std::memory_order_acquire);
    if ((word >> 32) != (static_cast<uint64_t>(epoch) & 0xffffffffu)) continue;
    uint32_t bits = static_cast<uint32_t>(word);
    const int64_t base = epoch * kRingWordSeconds;
    if (from_s > base) bits &= ~uint32_t{0} << (from_s - base);
    if (to_s < base + kRingWordSeconds - 1) bits &= ~(~uint32_t{0} << (to_s - base + 1));
    if (bits != 0) return base + std::countr_zero(bits);
  }
  return std::nullopt;
}

SharedReplayCache::~SharedReplayCache() = default;

SharedReplayCache::Hashed SharedReplayCache::Hash(const ReplayKey& key) const {
  const uint64_t h0 = SipHash24(hash_key_[0], ByteSpan(key));
  const uint64_t h1 = SipHash24(hash_key_[1], ByteSpan(key));
  const size_t mask = bucket_count_ - 1;
  Hashed h;
  h.bucket[0] = static_cast<size_t>(h0) & mask;
  h.bucket[1] = static_cast<size_t>(h0 >> 32) & mask;
  if (h.bucket[1] == h.bucket[0]) h.bucket[1] = h.bucket[0] ^ 1;  // always two distinct lines
  h.fingerprint = h1 >> kTimeBits;
  if (h.fingerprint == 0) h.fingerprint = 1;  // 0 marks an empty slot
  return h;
}

std::pair<size_t, size_t> SharedReplayCache::BucketsOf(const ReplayKey& key) const {
  const Hashed h = Hash(key);
  return {h.bucket[0], h.bucket[1]};
}

int64_t SharedReplayCache::AgeOf(uint64_t word, int64_t now_s) {
  const uint64_t diff = (static_cast<uint64_t>(now_s) - word) & kTimeMask;
  // Sign-extend the 22-bit difference: shards' clocks may disagree by a second or two.
  constexpr uint64_t kSign = uint64_t{1} << (kTimeBits - 1);
  return static_cast<int64_t>(diff ^ kSign) - static_cast<int64_t>(kSign);
}

void SharedReplayCache::AtomicMax(std::atomic<int64_t>& target, int64_t value) {
  int64_t seen = target.load(std::memory_order_relaxed);
  while (seen < value &&
         !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

bool SharedReplayCache::CheckAndInsert(const ReplayKey& key, int64_t now_s) {
  const Hashed h = Hash(key);
  const uint64_t fresh = (h.fingerprint << kTimeBits) | (static_cast<uint64_t>(now_s) & kTimeMask);
  AtomicMax(last_now_s_, now_s);
  std::atomic<uint64_t>* slots[2 * kBucketSlots];
  for (size_t i = 0; i < kBucketSlots; ++i) {
    slots[i] = &buckets_[h.bucket[0]].slots[i];
    slots[kBucketSlots + i] = &buckets_[h.bucket[1]].slots[i];
  }
  auto is_match = [&](uint64_t word) {
    return (word >> kTimeBits) == h.fingerprint && Live(word, now_s);
  };

  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // Read every candidate slot before claiming one: the key may sit in either bucket, behind
    // slots that were free when it was inserted.
    uint64_t words[2 * kBucketSlots];
    int live_in_bucket[2] = {0, 0};
    for (size_t i = 0; i < 2 * kBucketSlots; ++i) {
      words[i] = slots[i]->load(std::memory_order_seq_cst);
      if (is_match(words[i])) {
        replays_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      if (Live(words[i], now_s)) ++live_in_bucket[i / kBucketSlots];
    }
    // Victim: a free (empty or expired) slot of the less loaded bucket, else the oldest live
    // entry of the 16 (two-choice placement).
    int victim = -1;
    int64_t victim_rank = INT64_MIN;  // higher = better victim
    for (size_t i = 0; i < 2 * kBucketSlots; ++i) {
      const int64_t rank = Live(words[i], now_s)
                               ? AgeOf(words[i], now_s)
                               : INT64_MAX - live_in_bucket[i / kBucketSlots];
      if (rank > victim_rank) {
        victim = static_cast<int>(i);
        victim_rank = rank;
      }
    }
    uint64_t victim_word = words[victim];
    if (!slots[victim]->compare_exchange_strong(victim_word, fresh, std::memory_order_seq_cst)) {
      continue;  // someone changed that slot since the scan: look again
    }
    if (victim_word != 0 && Live(victim_word, now_s)) {
      const int64_t age = AgeOf(victim_word, now_s);
      AtomicMax(evicted_horizon_s_, now_s - age);
      evictions_.fetch_add(1, std::memory_order_relaxed);
      if (age < kYoungAgeS) young_evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    // Two shards inserting the same key at once claim different slots; whichever looks
    // second sees the other's slot (claims are totally ordered) and reports the replay.
    for (int i = 0; i < static_cast<int>(2 * kBucketSlots); ++i) {
      if (i == victim) continue;
      if (is_match(slots[i]->load(std::memory_order_seq_cst))) {
        replays_.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
    }
    MarkInsertSecond(now_s);
    inserts_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  contended_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::optional<int64_t> SharedReplayCache::OldestEntryTime() const {
  const int64_t last_now = last_now_s_.load(std::memory_order_relaxed);
  if (last_now == kUnset) return std::nullopt;
  // The reference forgets entries stamped <= now - retention and keeps the rest: the oldest
  // entry is the first marked second after that. Entries only arrive at `now` (give or take
  // the shards' clock skew), so the scan starts where the last one found the oldest.
  const int64_t from = last_now - retention_s_ + 1;
  const int64_t hint = oldest_hint_s_.load(std::memory_order_relaxed);
  const int64_t start = hint == INT64_MIN ? from : std::max(from, hint - kClockSkewS);
  std::optional<int64_t> oldest = FirstMarkedSecond(start, last_now + kClockSkewS);
  if (!oldest) {
    if (inserts_.load(std::memory_order_relaxed) == 0) return std::nullopt;
    oldest = last_now;  // everything expired (only replays seen since): as fresh as it gets
  } else {
    oldest_hint_s_.store(*oldest, std::memory_order_relaxed);
  }
  const int64_t horizon = evicted_horizon_s_.load(std::memory_order_relaxed);
  if (horizon != kUnset) oldest = std::max(*oldest, horizon);
  return oldest;
}

SharedReplayCache::Stats SharedReplayCache::stats() const {
  Stats s;
  s.inserts = inserts_.load(std::memory_order_relaxed);
  s.replays = replays_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.young_evictions = young_evictions_.load(std::memory_order_relaxed);
  s.contended = contended_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace mtp
