// Micro-benchmarks for the core layer: timer wheel operations and SPSC mailbox throughput.
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/mailbox.h"
#include "core/timer_wheel.h"

namespace mtp {
namespace {

// Schedule + cancel of an idle-timeout-like timer (the common session pattern).
void BM_TimerScheduleCancel(benchmark::State& state) {
  TimerWheel wheel(1 << 16, 0);
  // Background population so slots are not trivially empty.
  for (uint32_t i = 0; i < static_cast<uint32_t>(state.range(0)); ++i) {
    wheel.ScheduleAfter(1000 + i * 7 % 300000, i);
  }
  uint64_t payload = 0;
  for (auto _ : state) {
    TimerHandle h = wheel.ScheduleAfter(30000 + (payload & 1023), payload);
    benchmark::DoNotOptimize(h);
    wheel.Cancel(h);
    ++payload;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerScheduleCancel)->Arg(0)->Arg(10000)->Arg(60000);

// Steady state: every ms some timers expire and as many are re-armed.
void BM_TimerAdvanceFire(benchmark::State& state) {
  const uint32_t live = static_cast<uint32_t>(state.range(0));
  TimerWheel wheel(live + 1024, 0);
  for (uint32_t i = 0; i < live; ++i) wheel.ScheduleAfter(1 + i % 10000, i);
  uint64_t now = 0;
  uint64_t fired_total = 0;
  for (auto _ : state) {
    ++now;
    fired_total += wheel.Advance(now, 1 << 20, [&](uint64_t p) {
      wheel.ScheduleAfter(10000, p);  // re-arm, like a keepalive
    });
  }
  state.SetItemsProcessed(static_cast<int64_t>(fired_total));
  state.counters["fired_per_tick"] =
      benchmark::Counter(static_cast<double>(fired_total) / static_cast<double>(now));
}
BENCHMARK(BM_TimerAdvanceFire)->Arg(10000)->Arg(100000);

// Advance across a long idle gap with timers far in the future (bitmap skipping).
void BM_TimerIdleJump(benchmark::State& state) {
  TimerWheel wheel(1024, 0);
  for (uint32_t i = 0; i < 1000; ++i) wheel.ScheduleAfter(uint64_t{1} << 34, i);
  uint64_t now = 0;
  for (auto _ : state) {
    now += 5000;
    benchmark::DoNotOptimize(wheel.Advance(now, 1024, [](uint64_t) {}));
    benchmark::DoNotOptimize(wheel.TimeoutMs(now));
  }
}
BENCHMARK(BM_TimerIdleJump);

// Messages per second through one SPSC mailbox between two threads.
void BM_SpscThroughput(benchmark::State& state) {
  constexpr uint64_t kBatch = 1 << 16;
  for (auto _ : state) {
    SpscQueue<uint64_t> queue(1024);
    std::thread producer([&] {
      for (uint64_t i = 0; i < kBatch;) {
        if (queue.TryPush(i)) {
          ++i;
        } else {
          std::this_thread::yield();  // full: on an oversubscribed machine, let the consumer run
        }
      }
    });
    uint64_t received = 0;
    uint64_t value;
    while (received < kBatch) {
      if (queue.TryPop(value)) {
        ++received;
      } else {
        std::this_thread::yield();
      }
    }
    producer.join();
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
BENCHMARK(BM_SpscThroughput)->UseRealTime()->Unit(benchmark::kMillisecond);

// Single-threaded push+pop cost (no contention): the floor of the mailbox.
void BM_SpscPushPop(benchmark::State& state) {
  SpscQueue<uint64_t> queue(1024);
  uint64_t value = 0;
  for (auto _ : state) {
    queue.TryPush(value);
    queue.TryPop(value);
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpscPushPop);

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
