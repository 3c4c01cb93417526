#include "dataplane/snapshot_mailbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mtp {
namespace {

struct Value {
  int n = 0;
};

TEST(SnapshotMailboxTest, PollSeesEachNewGenerationOnce) {
  SnapshotMailbox<Value> box(2);
  uint64_t seen = 0;
  EXPECT_EQ(box.Poll(&seen), nullptr);
  EXPECT_EQ(box.Publish(std::make_shared<const Value>(Value{1})), 1u);
  auto got = box.Poll(&seen);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->n, 1);
  EXPECT_EQ(seen, 1u);
  EXPECT_EQ(box.Poll(&seen), nullptr);
  // Two publications between polls: the shard sees only the newest.
  box.Publish(std::make_shared<const Value>(Value{2}));
  box.Publish(std::make_shared<const Value>(Value{3}));
  got = box.Poll(&seen);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->n, 3);
  EXPECT_EQ(seen, 3u);
}

TEST(SnapshotMailboxTest, AdoptedGenerationIsTheSlowestShard) {
  SnapshotMailbox<Value> box(3);
  box.Publish(std::make_shared<const Value>(Value{1}));
  EXPECT_EQ(box.AdoptedGeneration(), 0u);
  box.Ack(0, 1);
  box.Ack(2, 1);
  EXPECT_EQ(box.AdoptedGeneration(), 0u);
  box.Ack(1, 1);
  EXPECT_EQ(box.AdoptedGeneration(), 1u);
  EXPECT_EQ(box.AdoptedGeneration(1), 1u);
}

TEST(SnapshotMailboxTest, OldSnapshotLivesWhileAShardHoldsIt) {
  SnapshotMailbox<Value> box(1);
  std::weak_ptr<const Value> first_weak;
  uint64_t seen = 0;
  std::shared_ptr<const Value> held;
  {
    auto first = std::make_shared<const Value>(Value{1});
    first_weak = first;
    box.Publish(std::move(first));
    held = box.Poll(&seen);
  }
  box.Publish(std::make_shared<const Value>(Value{2}));
  EXPECT_FALSE(first_weak.expired());  // the shard has not adopted the new one yet
  held = box.Poll(&seen);
  EXPECT_TRUE(first_weak.expired());
  EXPECT_EQ(held->n, 2);
}

TEST(SnapshotMailboxTest, ConcurrentShardsConvergeOnTheLastGeneration) {
  constexpr int kShards = 4;
  constexpr int kPublications = 200;
  SnapshotMailbox<Value> box(kShards);
  std::atomic<bool> done{false};
  std::vector<std::thread> shards;
  for (int i = 0; i < kShards; ++i) {
    shards.emplace_back([&, i] {
      uint64_t seen = 0;
      int last = 0;
      for (;;) {
        bool finished = done.load();
        if (auto s = box.Poll(&seen)) {
          EXPECT_GE(s->n, last);  // never goes back in time
          last = s->n;
          box.Ack(static_cast<size_t>(i), seen);
        }
        if (finished && seen == box.published_generation()) break;
        std::this_thread::yield();
      }
    });
  }
  for (int n = 1; n <= kPublications; ++n) box.Publish(std::make_shared<const Value>(Value{n}));
  done.store(true);
  for (std::thread& t : shards) t.join();
  EXPECT_EQ(box.AdoptedGeneration(), static_cast<uint64_t>(kPublications));
}

}  // namespace
}  // namespace mtp
