// SharedReplayCache: cost of one ClientHello check (fresh key, replayed key) on one thread and
// with several threads hammering the same table, plus SipHash-2-4 of a 16-byte key.
#include <benchmark/benchmark.h>

#include "core/bytes.h"
#include "crypto/siphash.h"
#include "dataplane/replay_cache.h"

namespace mtp {
namespace {

ReplayKey KeyOf(uint64_t n, uint64_t salt) {
  ReplayKey key{};
  StoreLe64(key.data(), n * 0x9e3779b97f4a7c15ull);
  StoreLe64(key.data() + 8, salt);
  return key;
}

void BM_SipHash16(benchmark::State& state) {
  SipHashKey k{};
  ReplayKey key = KeyOf(1, 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(SipHash24(k, ByteSpan(key)));
    key[0]++;
  }
}
BENCHMARK(BM_SipHash16);

SharedReplayCache& Cache() {
  static SharedReplayCache* cache = new SharedReplayCache(SharedReplayCacheOptions{});
  return *cache;
}

// Fresh keys: every call inserts (the table fills and then evicts, as in a long run).
void BM_CheckAndInsertFresh(benchmark::State& state) {
  uint64_t n = 0;
  const uint64_t salt = static_cast<uint64_t>(state.thread_index()) + 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Cache().CheckAndInsert(KeyOf(n++, salt), 1700000000));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckAndInsertFresh)->Threads(1)->Threads(2)->UseRealTime();

// The same key again and again: every call is a replay (read-only path).
void BM_CheckReplay(benchmark::State& state) {
  const ReplayKey key = KeyOf(42, 1000 + static_cast<uint64_t>(state.thread_index()));
  Cache().CheckAndInsert(key, 1700000000);
  for (auto _ : state) benchmark::DoNotOptimize(Cache().CheckAndInsert(key, 1700000000));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckReplay)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
