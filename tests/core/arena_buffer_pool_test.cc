#include "core/arena_buffer_pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>
#include <set>

#include "core/uring_engine.h"

namespace mtp {
namespace {

std::unique_ptr<ArenaBufferPool> MakePool(uint32_t count, uint32_t size, uint32_t recv) {
  ArenaBufferPoolOptions options;
  options.buffer_count = count;
  options.buffer_size = size;
  options.recv_target = recv;
  auto pool = ArenaBufferPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

TEST(ArenaBufferPoolTest, RejectsBadGeometry) {
  ArenaBufferPoolOptions options;
  options.buffer_count = 100;  // not a power of two
  EXPECT_FALSE(ArenaBufferPool::Create(options).ok());
  options.buffer_count = 131072;  // ids would not fit in 16 bits
  EXPECT_FALSE(ArenaBufferPool::Create(options).ok());
  options = ArenaBufferPoolOptions{};
  options.buffer_size = 1000;  // not a multiple of 64
  EXPECT_FALSE(ArenaBufferPool::Create(options).ok());
  options = ArenaBufferPoolOptions{};
  options.buffer_count = 16;
  options.recv_target = 32;  // more than the pool
  EXPECT_FALSE(ArenaBufferPool::Create(options).ok());
  options.recv_target = 12;  // not a power of two
  EXPECT_FALSE(ArenaBufferPool::Create(options).ok());
}

TEST(ArenaBufferPoolTest, SplitsBetweenFreeListAndReceiveSet) {
  auto pool = MakePool(16, 256, 4);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->buffer_count(), 16u);
  EXPECT_EQ(pool->buffer_size(), 256u);
  EXPECT_EQ(pool->in_use(), 0u);
  EXPECT_EQ(pool->recv_available(), 4u);
  EXPECT_EQ(pool->free_count(), 12u);
}

TEST(ArenaBufferPoolTest, BuffersAreDistinctAndDisjoint) {
  auto pool = MakePool(16, 256, 4);
  ASSERT_NE(pool, nullptr);
  std::set<int32_t> ids;
  for (int i = 0; i < 12; ++i) {
    int32_t id = pool->Acquire();
    ASSERT_GE(id, 0);
    ids.insert(id);
    std::memset(pool->Data(id), id, 256);  // whole buffer writable
  }
  for (int i = 0; i < 4; ++i) {
    int32_t id = pool->TakeRecv();
    ASSERT_GE(id, 0);
    ids.insert(id);
    std::memset(pool->Data(id), id, 256);
  }
  EXPECT_EQ(ids.size(), 16u);
  for (int32_t id : ids) {
    for (int b = 0; b < 256; ++b) ASSERT_EQ(pool->Data(id)[b], static_cast<uint8_t>(id));
  }
  EXPECT_EQ(pool->in_use(), 16u);
  EXPECT_EQ(pool->Acquire(), -1);
  EXPECT_EQ(pool->TakeRecv(), -1);
}

TEST(ArenaBufferPoolTest, ReceiveSetIsRestockedFromTheFreeList) {
  // Buffers parked in sessions (taken, never released) must not starve receives while free
  // buffers exist: the set is refilled from the free list as buffers leave it.
  auto pool = MakePool(8, 64, 2);
  ASSERT_NE(pool, nullptr);
  std::vector<int32_t> parked;
  for (int i = 0; i < 6; ++i) {
    int32_t id = pool->TakeRecv();
    ASSERT_GE(id, 0) << "receive " << i << " found the set dry with free buffers left";
    parked.push_back(id);
  }
  EXPECT_EQ(pool->recv_available(), 2u);
  EXPECT_EQ(pool->free_count(), 0u);
  EXPECT_EQ(pool->in_use(), 6u);
  EXPECT_GE(pool->TakeRecv(), 0);
  EXPECT_GE(pool->TakeRecv(), 0);
  EXPECT_EQ(pool->TakeRecv(), -1);  // only now is the whole pool in use
  EXPECT_EQ(pool->in_use(), 8u);
  for (int32_t id : parked) pool->Release(id);
  EXPECT_EQ(pool->recv_available(), 2u);  // refilled first
  EXPECT_EQ(pool->free_count(), 4u);
}

TEST(ArenaBufferPoolTest, RestockLeavesTheFreeReserve) {
  auto pool = MakePool(8, 64, 2);
  ASSERT_NE(pool, nullptr);
  pool->SetFreeReserve(4);
  int32_t r1 = pool->TakeRecv();
  int32_t r2 = pool->TakeRecv();
  ASSERT_GE(r1, 0);
  ASSERT_GE(r2, 0);
  EXPECT_EQ(pool->recv_available(), 2u);  // restocked from 6 free down to 4
  EXPECT_EQ(pool->free_count(), 4u);
  EXPECT_GE(pool->TakeRecv(), 0);
  EXPECT_GE(pool->TakeRecv(), 0);
  EXPECT_EQ(pool->TakeRecv(), -1);  // the reserve is for Acquire(), not for receives
  EXPECT_EQ(pool->free_count(), 4u);
  int32_t a = pool->Acquire();
  ASSERT_GE(a, 0);
  pool->Release(a);  // the set is below target: refilled first
  EXPECT_EQ(pool->recv_available(), 1u);
  EXPECT_EQ(pool->free_count(), 3u);
  pool->Release(r1);
  pool->Release(r2);
  EXPECT_EQ(pool->recv_available(), 2u);
  EXPECT_EQ(pool->free_count(), 4u);
}

TEST(ArenaBufferPoolTest, DoubleReleaseIsCaughtAndIgnored) {
  auto pool = MakePool(8, 64, 2);
  ASSERT_NE(pool, nullptr);
  int32_t a = pool->Acquire();
  pool->Release(a);
  EXPECT_DEBUG_DEATH(pool->Release(a), "not in use");
#ifdef NDEBUG
  EXPECT_EQ(pool->bad_releases(), 1u);
  EXPECT_EQ(pool->in_use(), 0u);
  EXPECT_EQ(pool->free_count() + pool->recv_available(), 8u);
#endif
  EXPECT_DEBUG_DEATH(pool->Release(1000), "not in use");
}

TEST(ArenaBufferPoolTest, ProvidedBufferRingAccounting) {
  if (!ProbeIoUring().ok()) GTEST_SKIP() << "io_uring unavailable: " << ProbeIoUring().status();
  io_uring ring;
  ASSERT_EQ(io_uring_queue_init(8, &ring, 0), 0);
  {
    auto pool = MakePool(16, 256, 8);
    ASSERT_NE(pool, nullptr);
    int32_t held = pool->Acquire();
    ASSERT_TRUE(pool->AttachRing(&ring, 3).ok());
    EXPECT_TRUE(pool->ring_attached());
    EXPECT_EQ(pool->recv_available(), 8u);
    EXPECT_EQ(pool->in_use(), 1u);
    // The engine reports kernel-picked buffers; ids outside the ring are refused.
    EXPECT_FALSE(pool->OnRingConsumed(held));
    EXPECT_TRUE(pool->OnRingConsumed(0));
    EXPECT_FALSE(pool->OnRingConsumed(0));
    EXPECT_EQ(pool->recv_available(), 8u);  // restocked from the free list at once
    EXPECT_EQ(pool->in_use(), 2u);
    pool->Release(0);  // ring at target: free list
    EXPECT_EQ(pool->recv_available(), 8u);
    pool->Release(held);
    EXPECT_EQ(pool->in_use(), 0u);
    pool->DetachRing();
    EXPECT_EQ(pool->recv_available(), 8u);
    EXPECT_GE(pool->TakeRecv(), 0);  // stack mode again
  }
  io_uring_queue_exit(&ring);
}

}  // namespace
}  // namespace mtp
