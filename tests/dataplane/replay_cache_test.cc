// SharedReplayCache: replay detection, expiry, eviction by size, the reported oldest time and
// its effect on the timestamp window, cross-thread visibility and concurrent inserts.
#include "dataplane/replay_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proto/fake_tls.h"

namespace mtp {
namespace {

constexpr int64_t kNow = 1700000000;

ReplayKey KeyOf(uint64_t n, uint64_t salt = 0) {
  ReplayKey key{};
  StoreLe64(key.data(), n);
  StoreLe64(key.data() + 8, salt ^ 0x9e3779b97f4a7c15ull);
  return key;
}

SipHashKey FixedHashKey() {
  SipHashKey k;
  for (int i = 0; i < 16; ++i) k[i] = static_cast<uint8_t>(0x40 + i);
  return k;
}

TEST(SharedReplayCache, SecondInsertIsAReplay) {
  SharedReplayCache cache;
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), kNow));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow + 100));
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(2), kNow));
  const auto s = cache.stats();
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_EQ(s.replays, 2u);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(SharedReplayCache, SizeIsBoundedAndRoundedUp) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1000, .retention_s = 60});
  EXPECT_EQ(cache.capacity(), 1024u);
  EXPECT_EQ(cache.memory_bytes(), 8192u + 8 * 8u);  // + 8 ring words (256 s)
  EXPECT_EQ(cache.bucket_count(), 128u);
  // Default: 8 MiB of slots and 64 KiB of time ring for 2 days.
  EXPECT_EQ(SharedReplayCache().memory_bytes(), (size_t{8} << 20) + (size_t{64} << 10));
  SharedReplayCache tiny(SharedReplayCacheOptions{.slots = 1});
  EXPECT_EQ(tiny.capacity(), 16u);  // two buckets minimum
  const auto [b0, b1] = tiny.BucketsOf(KeyOf(7));
  EXPECT_NE(b0, b1);
}

TEST(SharedReplayCache, EntriesExpireAfterRetention) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024, .retention_s = 100});
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), kNow));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow + 99));
  // At now - retention the entry is gone (the reference drops time <= now - retention).
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), kNow + 100));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow + 101));
}

TEST(SharedReplayCache, DefaultRetentionIsTwoDays) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024});
  EXPECT_EQ(cache.retention_s(), kReplayRetentionS);
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(5), kNow));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(5), kNow + kReplayRetentionS - 1));
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(5), kNow + kReplayRetentionS));
}

TEST(SharedReplayCache, ToleratesShardClocksOutOfStep) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024, .retention_s = 100});
  // Inserted by a shard whose clock is 2 s ahead: still a replay for one lagging behind.
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), kNow + 2));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow));
}

TEST(SharedReplayCache, TimeFieldWrapsWithoutLosingEntries) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024, .retention_s = 100});
  const int64_t wrap = int64_t{1} << SharedReplayCache::kTimeBits;
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), 5 * wrap - 3));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), 5 * wrap + 10));
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), 5 * wrap + 97));
}

TEST(SharedReplayCache, OldestEntryTimeFollowsInsertionsAndRetention) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024, .retention_s = 1000});
  EXPECT_EQ(cache.OldestEntryTime(), std::nullopt);
  cache.CheckAndInsert(KeyOf(1), kNow);
  EXPECT_EQ(cache.OldestEntryTime(), kNow);
  cache.CheckAndInsert(KeyOf(2), kNow + 500);
  EXPECT_EQ(cache.OldestEntryTime(), kNow);
  cache.CheckAndInsert(KeyOf(3), kNow + 1200);
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 500);  // kNow is <= now - retention: forgotten
  // A replay check also moves the clock on (but inserts nothing).
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(3), kNow + 1600));
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 1200);
  // Exactly retention seconds later the entry is forgotten, as the reference's purge does.
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(4), kNow + 2200));
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 2200);
}

// The reference's oldest entry after a quiet spell: whatever was inserted more than 2 days
// before the last hello is gone, so the window is back to 600 s, not "now - 2 days".
TEST(SharedReplayCache, TimestampWindowAfterAQuietSpellIsTheReferences) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024});
  constexpr int64_t kDay = 86400;
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1), kNow));
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(2), kNow + 3 * kDay));
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 3 * kDay);
  const int64_t now = kNow + 3 * kDay;
  EXPECT_FALSE(IsAllowedTimestamp(static_cast<int32_t>(now - 600), now, cache.OldestEntryTime()));
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(now - 599), now, cache.OldestEntryTime()));
  EXPECT_FALSE(IsAllowedTimestamp(static_cast<int32_t>(now - kDay), now, cache.OldestEntryTime()));
  // One hello a day later: the window reaches back to the first of the last 2 days.
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(3), now + kDay));
  EXPECT_EQ(cache.OldestEntryTime(), now);
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(now + 4), now + kDay,
                                 cache.OldestEntryTime()));
  EXPECT_FALSE(IsAllowedTimestamp(static_cast<int32_t>(now + 3), now + kDay,
                                  cache.OldestEntryTime()));
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(4), now + 2 * kDay + 5));
  EXPECT_EQ(cache.OldestEntryTime(), now + kDay);
}

// The per-second ring is reused cyclically: stale words from earlier laps read as empty, and
// a shard whose clock lags a little still lowers the oldest time.
TEST(SharedReplayCache, OldestTimeOverManyLapsOfTheRingAndLaggingClocks) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 4096, .retention_s = 100});
  for (int64_t t = kNow; t < kNow + 5000; t += 37) {
    EXPECT_FALSE(cache.CheckAndInsert(KeyOf(static_cast<uint64_t>(t)), t));
    // The oldest entry newer than t - 100 is the first multiple of 37 past it.
    int64_t expected = t;
    while (expected - 37 > t - 100 && expected - 37 >= kNow) expected -= 37;
    EXPECT_EQ(cache.OldestEntryTime(), expected) << t - kNow;
  }
  SharedReplayCache lag(SharedReplayCacheOptions{.slots = 1024, .retention_s = 100});
  lag.CheckAndInsert(KeyOf(1), kNow + 50);
  EXPECT_EQ(lag.OldestEntryTime(), kNow + 50);
  lag.CheckAndInsert(KeyOf(2), kNow + 47);  // a shard 3 s behind
  EXPECT_EQ(lag.OldestEntryTime(), kNow + 47);
}

// The smallest table has exactly two buckets, so every key competes for the same 16 slots.
TEST(SharedReplayCache, FullTableEvictsTheOldestAndReportsIt) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 16, .retention_s = 100000},
                          FixedHashKey());
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(cache.CheckAndInsert(KeyOf(i), kNow + i));
  EXPECT_EQ(cache.stats().evictions, 0u);
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(cache.CheckAndInsert(KeyOf(i), kNow + 16));

  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(100), kNow + 16));  // evicts key 0 (time kNow)
  auto s = cache.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.young_evictions, 1u);
  EXPECT_EQ(cache.OldestEntryTime(), kNow);
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1), kNow + 16));  // key 1 survived

  // Key 0 was forgotten: it is accepted again and evicts key 1 in turn.
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(0), kNow + 17));
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 1);
  for (int i = 2; i < 16; ++i) EXPECT_TRUE(cache.CheckAndInsert(KeyOf(i), kNow + 17));

  // An old eviction is not "young".
  const int64_t later = kNow + 5000;
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(200), later));
  s = cache.stats();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.young_evictions, 2u);
  EXPECT_EQ(cache.OldestEntryTime(), kNow + 2);
}

TEST(SharedReplayCache, ExpiredSlotsAreReusedBeforeEvicting) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 16, .retention_s = 10},
                          FixedHashKey());
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(cache.CheckAndInsert(KeyOf(i), kNow));
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(cache.CheckAndInsert(KeyOf(100 + i), kNow + 10));
  EXPECT_EQ(cache.stats().evictions, 0u);
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(cache.CheckAndInsert(KeyOf(100 + i), kNow + 11));
}

// After an eviction the timestamp rule tightens: a hello stamped before the evicted entry's
// time is refused unless it is within the reference's fixed 600 s window.
TEST(SharedReplayCache, EvictionNarrowsTheTimestampWindow) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 16, .retention_s = 100000},
                          FixedHashKey());
  const int64_t t0 = kNow - 50000;
  for (int i = 0; i < 16; ++i) cache.CheckAndInsert(KeyOf(i), t0 + 1000 * i);
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(t0 + 10), kNow, cache.OldestEntryTime()));
  cache.CheckAndInsert(KeyOf(99), kNow);  // evicts the entry stamped t0
  cache.CheckAndInsert(KeyOf(98), kNow);  // evicts the entry stamped t0 + 1000
  EXPECT_EQ(cache.OldestEntryTime(), t0 + 1000);
  EXPECT_FALSE(IsAllowedTimestamp(static_cast<int32_t>(t0 + 10), kNow, cache.OldestEntryTime()));
  EXPECT_FALSE(
      IsAllowedTimestamp(static_cast<int32_t>(t0 + 1003), kNow, cache.OldestEntryTime()));
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(t0 + 1004), kNow, cache.OldestEntryTime()));
  EXPECT_TRUE(IsAllowedTimestamp(static_cast<int32_t>(kNow - 599), kNow, cache.OldestEntryTime()));
}

// Through the codec: a ClientHello validated once is refused as a replay the second time.
TEST(SharedReplayCache, RefusesAReplayedClientHello) {
  const std::vector<ClientSecret> secrets = {ClientSecret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                          12, 13, 14, 15, 16}};
  const std::vector<std::string> domains = {"example.com"};
  const ClientHelloConfig config{secrets, domains};
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024});
  const auto hello = BuildClientHello(secrets[0], domains[0], static_cast<int32_t>(kNow),
                                      ClientHelloLayout::kModern)
                         .value();
  EXPECT_EQ(ValidateClientHello(ByteSpan(hello), config, 443, kNow, cache).status,
            ClientHelloStatus::kAccept);
  EXPECT_EQ(ValidateClientHello(ByteSpan(hello), config, 443, kNow + 1, cache).status,
            ClientHelloStatus::kReplay);
  EXPECT_EQ(cache.stats().replays, 1u);
}

// A key inserted on one thread is a replay on another (the cross-shard case).
TEST(SharedReplayCache, InsertOnOneThreadIsSeenOnAnother) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1 << 14});
  constexpr int kKeys = 2000;
  std::atomic<int> published{0};
  std::thread writer([&] {
    for (int i = 0; i < kKeys; ++i) {
      EXPECT_FALSE(cache.CheckAndInsert(KeyOf(i, 77), kNow));
      published.store(i + 1, std::memory_order_release);
    }
  });
  int seen_replays = 0;
  std::thread reader([&] {
    for (int i = 0; i < kKeys; ++i) {
      while (published.load(std::memory_order_acquire) <= i) std::this_thread::yield();
      if (cache.CheckAndInsert(KeyOf(i, 77), kNow + 1)) ++seen_replays;
    }
  });
  writer.join();
  reader.join();
  EXPECT_EQ(seen_replays, kKeys);
  EXPECT_EQ(cache.stats().inserts, static_cast<uint64_t>(kKeys));
  EXPECT_EQ(cache.stats().replays, static_cast<uint64_t>(kKeys));
}

// Several threads race to insert the same keys: at most one of them may accept each key.
TEST(SharedReplayCache, RacingDuplicatesAreAcceptedAtMostOnce) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1 << 15});
  constexpr int kThreads = 4;
  constexpr int kKeys = 3000;
  std::vector<std::atomic<int>> accepted(kKeys);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kKeys; ++i) {
        if (!cache.CheckAndInsert(KeyOf(i, 5), kNow)) accepted[i].fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  int accepted_total = 0;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_LE(accepted[i].load(), 1) << "key " << i;
    accepted_total += accepted[i].load();
    EXPECT_TRUE(cache.CheckAndInsert(KeyOf(i, 5), kNow)) << "key " << i;
  }
  const auto s = cache.stats();
  EXPECT_EQ(s.inserts, static_cast<uint64_t>(accepted_total));
  EXPECT_EQ(s.inserts + s.replays + s.contended, static_cast<uint64_t>(kThreads * kKeys + kKeys));
}

// Distinct keys from many threads into a table that must evict: no key is ever mistaken for a
// replay, every call is accounted for, and the table never grows.
TEST(SharedReplayCache, ConcurrentDistinctKeysUnderEviction) {
  SharedReplayCache cache(SharedReplayCacheOptions{.slots = 1024, .retention_s = 100000});
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 20000;
  std::atomic<int> false_replays{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kKeysPerThread; ++i) {
        if (cache.CheckAndInsert(KeyOf(i, 1000 + t), kNow + i / 1000)) false_replays.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(false_replays.load(), 0);
  const auto s = cache.stats();
  EXPECT_EQ(s.inserts, static_cast<uint64_t>(kThreads * kKeysPerThread));
  EXPECT_EQ(s.replays, 0u);
  EXPECT_EQ(s.contended, 0u);
  EXPECT_GE(s.evictions, static_cast<uint64_t>(kThreads * kKeysPerThread) - cache.capacity());
  EXPECT_EQ(cache.capacity(), 1024u);
  // Still a working filter afterwards.
  EXPECT_FALSE(cache.CheckAndInsert(KeyOf(1, 2), kNow + 30));
  EXPECT_TRUE(cache.CheckAndInsert(KeyOf(1, 2), kNow + 30));
}

}  // namespace
}  // namespace mtp
