#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace mtp {
namespace {

struct Fired {
  uint64_t payload;
  uint64_t at_ms;
};

// Advances one millisecond at a time, recording when each payload fired.
std::vector<Fired> StepTo(TimerWheel& wheel, uint64_t from, uint64_t to) {
  std::vector<Fired> fired;
  for (uint64_t t = from; t <= to; ++t) {
    wheel.Advance(t, 1u << 30, [&](uint64_t p) { fired.push_back({p, t}); });
  }
  return fired;
}

TEST(TimerWheelTest, FiresAtDeadlineNotBefore) {
  TimerWheel wheel(16, 1000);
  TimerHandle h = wheel.ScheduleAfter(10, 7);
  ASSERT_NE(h, kInvalidTimer);
  EXPECT_TRUE(wheel.IsPending(h));
  auto early = StepTo(wheel, 1000, 1009);
  EXPECT_TRUE(early.empty());
  auto due = StepTo(wheel, 1010, 1010);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].payload, 7u);
  EXPECT_FALSE(wheel.IsPending(h));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, ExactAcrossAllLevelsWithSparseAdvances) {
  // Deadlines in every level, checked both by stepping and by one big jump.
  const std::vector<uint64_t> delays = {0,      1,       63,        64,        65,
                                        4095,   4096,    4097,      262143,    262144,
                                        300001, 16777215, 16777216, 123456789, 1ull << 33};
  for (bool jump : {false, true}) {
    TimerWheel wheel(64, 5);
    for (size_t i = 0; i < delays.size(); ++i) wheel.ScheduleAfter(delays[i], i);
    std::map<uint64_t, uint64_t> fired_at;
    uint64_t now = 5;
    while (wheel.size() > 0) {
      // Sleep until the next work point like a shard would, or jump far ahead.
      uint64_t next = wheel.NextWorkMs();
      ASSERT_NE(next, TimerWheel::kNoWork);
      now = jump ? std::max(now, next) : next;
      wheel.Advance(now, 1000, [&](uint64_t p) { fired_at[p] = now; });
    }
    ASSERT_EQ(fired_at.size(), delays.size());
    for (size_t i = 0; i < delays.size(); ++i) {
      EXPECT_EQ(fired_at[i], 5 + delays[i]) << "delay " << delays[i] << " jump " << jump;
    }
  }
}

TEST(TimerWheelTest, LateAdvanceFiresEverythingDue) {
  TimerWheel wheel(16, 0);
  wheel.ScheduleAt(100, 1);
  wheel.ScheduleAt(5000, 2);
  wheel.ScheduleAt(70000, 3);
  wheel.ScheduleAt(70001, 4);
  std::vector<uint64_t> fired;
  wheel.Advance(70000, 100, [&](uint64_t p) { fired.push_back(p); });
  EXPECT_EQ(fired, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.NextWorkMs(), 70001u);
  EXPECT_EQ(wheel.TimeoutMs(70000), 1);
}

TEST(TimerWheelTest, CancelByHandleAndStaleHandles) {
  TimerWheel wheel(4, 0);
  TimerHandle a = wheel.ScheduleAfter(5, 1);
  TimerHandle b = wheel.ScheduleAfter(5, 2);
  EXPECT_TRUE(wheel.Cancel(a));
  EXPECT_FALSE(wheel.Cancel(a));  // already cancelled
  EXPECT_FALSE(wheel.IsPending(a));
  EXPECT_FALSE(wheel.Cancel(kInvalidTimer));
  EXPECT_FALSE(wheel.Cancel(0xdead00000099ull));  // index out of range
  // The slot is reused with a new generation: the old handle must not cancel the new timer.
  TimerHandle c = wheel.ScheduleAfter(5, 3);
  EXPECT_NE(c, a);
  EXPECT_FALSE(wheel.Cancel(a));
  std::vector<uint64_t> fired;
  wheel.Advance(5, 10, [&](uint64_t p) { fired.push_back(p); });
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<uint64_t>{2, 3}));
  EXPECT_FALSE(wheel.Cancel(b));  // fired handles are stale
}

TEST(TimerWheelTest, BoundedCapacity) {
  TimerWheel wheel(3, 0);
  EXPECT_NE(wheel.ScheduleAfter(1, 1), kInvalidTimer);
  EXPECT_NE(wheel.ScheduleAfter(1, 2), kInvalidTimer);
  TimerHandle third = wheel.ScheduleAfter(1, 3);
  EXPECT_NE(third, kInvalidTimer);
  EXPECT_EQ(wheel.ScheduleAfter(1, 4), kInvalidTimer);  // full
  wheel.Cancel(third);
  EXPECT_NE(wheel.ScheduleAfter(1, 5), kInvalidTimer);
  EXPECT_EQ(wheel.capacity(), 3u);
}

TEST(TimerWheelTest, AdvanceRespectsFireBudget) {
  TimerWheel wheel(100, 0);
  for (int i = 0; i < 50; ++i) wheel.ScheduleAfter(10, i);
  int fired = 0;
  EXPECT_EQ(wheel.Advance(10, 20, [&](uint64_t) { ++fired; }), 20u);
  EXPECT_EQ(wheel.TimeoutMs(10), 0);  // more due right now
  EXPECT_EQ(wheel.Advance(10, 100, [&](uint64_t) { ++fired; }), 30u);
  EXPECT_EQ(fired, 50);
  EXPECT_EQ(wheel.TimeoutMs(10), -1);
}

TEST(TimerWheelTest, CallbacksMayScheduleAndCancel) {
  TimerWheel wheel(8, 0);
  TimerHandle victim = wheel.ScheduleAfter(20, 99);
  std::vector<std::pair<uint64_t, uint64_t>> log;
  uint64_t now = 0;
  auto on_fire = [&](uint64_t p) {
    log.push_back({p, now});
    if (p == 1) {
      wheel.ScheduleAfter(0, 2);   // due immediately: fires within this Advance
      wheel.ScheduleAfter(15, 3);  // relative to the Advance() time
      EXPECT_TRUE(wheel.Cancel(victim));
    }
  };
  wheel.ScheduleAfter(10, 1);
  for (now = 0; now <= 40; ++now) wheel.Advance(now, 100, on_fire);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], std::make_pair(uint64_t{1}, uint64_t{10}));
  EXPECT_EQ(log[1], std::make_pair(uint64_t{2}, uint64_t{10}));
  EXPECT_EQ(log[2].first, 3u);
  EXPECT_EQ(log[2].second, 25u);
}

TEST(TimerWheelTest, PastDeadlinesAndClampedDelays) {
  TimerWheel wheel(4, 1000);
  wheel.ScheduleAt(10, 1);  // in the past
  EXPECT_EQ(wheel.TimeoutMs(1000), 0);
  TimerHandle far = wheel.ScheduleAfter(~uint64_t{0} / 2, 2);
  EXPECT_TRUE(wheel.IsPending(far));
  std::vector<uint64_t> fired;
  wheel.Advance(1000, 10, [&](uint64_t p) { fired.push_back(p); });
  EXPECT_EQ(fired, (std::vector<uint64_t>{1}));
  EXPECT_LE(wheel.NextWorkMs(), 1000 + TimerWheel::kMaxDelayMs);
}

TEST(TimerWheelTest, RandomisedAgainstReferenceModel) {
  std::mt19937_64 rng(12345);
  TimerWheel wheel(512, 0);
  std::map<TimerHandle, std::pair<uint64_t, uint64_t>> live;  // handle -> (deadline, payload)
  std::map<uint64_t, TimerHandle> by_payload;
  uint64_t now = 0;
  uint64_t next_payload = 1;
  for (int step = 0; step < 20000; ++step) {
    int action = static_cast<int>(rng() % 10);
    if (action < 5 && live.size() < 512) {
      uint64_t range = (rng() % 4 == 0) ? 300000 : 200;
      uint64_t deadline = now + rng() % range;
      TimerHandle h = wheel.ScheduleAt(deadline, next_payload);
      ASSERT_NE(h, kInvalidTimer);
      live[h] = {deadline, next_payload};
      by_payload[next_payload] = h;
      ++next_payload;
    } else if (action < 7 && !live.empty()) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_TRUE(wheel.Cancel(it->first));
      by_payload.erase(it->second.second);
      live.erase(it);
    } else {
      now += rng() % 50 + ((rng() % 100 == 0) ? 100000 : 0);
      wheel.Advance(now, 1u << 30, [&](uint64_t p) {
        auto h = by_payload.find(p);
        ASSERT_NE(h, by_payload.end());
        auto& [deadline, payload] = live[h->second];
        ASSERT_LE(deadline, now);  // never early
        live.erase(h->second);
        by_payload.erase(h);
      });
      for (const auto& [h, v] : live) ASSERT_GT(v.first, now) << "late timer";
    }
    ASSERT_EQ(wheel.size(), live.size());
  }
}

}  // namespace
}  // namespace mtp
