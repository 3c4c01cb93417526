#include "core/mailbox.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace mtp {
namespace {

TEST(SpscQueueTest, FifoAndBounded) {
  SpscQueue<int> q(3);  // rounded up to 4
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.TryPush(i));
  EXPECT_FALSE(q.TryPush(99));
  EXPECT_EQ(q.SizeApprox(), 4u);
  int v = -1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.TryPop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.TryPop(v));
  EXPECT_TRUE(q.EmptyApprox());
  // Wraps around many times.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(q.TryPush(i));
    ASSERT_TRUE(q.TryPop(v));
    ASSERT_EQ(v, i);
  }
}

TEST(SpscQueueTest, IndicesLiveOnSeparateCacheLines) {
  // The layout is the point of the class: producer and consumer never share a line.
  EXPECT_GE(sizeof(SpscQueue<int>), 3 * kCacheLineBytes);
  EXPECT_EQ(alignof(SpscQueue<int>), kCacheLineBytes);
}

TEST(SpscQueueTest, ReleasesPayloadOnPop) {
  SpscQueue<std::shared_ptr<int>> q(4);
  auto p = std::make_shared<int>(5);
  std::weak_ptr<int> weak = p;
  ASSERT_TRUE(q.TryPush(std::move(p)));
  std::shared_ptr<int> out;
  ASSERT_TRUE(q.TryPop(out));
  out.reset();
  EXPECT_TRUE(weak.expired());  // the queue slot holds no copy
}

TEST(SpscQueueTest, TwoThreadsTransferEverythingInOrder) {
  SpscQueue<uint64_t> q(64);
  constexpr uint64_t kCount = 200000;
  std::thread producer([&] {
    for (uint64_t i = 1; i <= kCount;) {
      if (q.TryPush(i)) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  uint64_t expected = 1;
  uint64_t sum = 0;
  while (expected <= kCount) {
    uint64_t v;
    if (q.TryPop(v)) {
      ASSERT_EQ(v, expected);
      sum += v;
      ++expected;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_EQ(sum, kCount * (kCount + 1) / 2);
}

class CountingWaker : public Waker {
 public:
  void Wake() override { count.fetch_add(1); }
  std::atomic<int> count{0};
};

TEST(MailboxTest, SendWakesConsumerAndRespectsBound) {
  CountingWaker waker;
  Mailbox<std::string> box(2);
  EXPECT_TRUE(box.Send("before waker"));  // no waker yet: just queued
  box.set_waker(&waker);
  EXPECT_TRUE(box.Send("a"));
  EXPECT_FALSE(box.Send("overflow"));  // full: no wake either
  EXPECT_EQ(waker.count.load(), 1);
  std::string out;
  ASSERT_TRUE(box.Receive(out));
  EXPECT_EQ(out, "before waker");
  ASSERT_TRUE(box.Receive(out));
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(box.Receive(out));
}

TEST(MailboxTest, EventFdWakerWakesAPollingThread) {
  EventFdWaker waker;
  ASSERT_TRUE(waker.ok());
  Mailbox<int> box(16, &waker);
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) {
      while (!box.Send(int{i})) std::this_thread::yield();
    }
  });
  int received = 0;
  while (received < 10) {
    pollfd p{waker.fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1);  // bounded: fails instead of hanging
    EXPECT_TRUE(waker.Consume());
    int v;
    while (box.Receive(v)) {
      EXPECT_EQ(v, received);
      ++received;
    }
  }
  producer.join();
}

}  // namespace
}  // namespace mtp
