#include "dataplane/buffer_chain.h"

#include <gtest/gtest.h>

#include <sys/uio.h>

#include <algorithm>
#include <numeric>
#include <span>
#include <vector>

#include "tests/dataplane/fake_buffer_pool.h"

namespace mtp {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + seed);
  return v;
}

std::vector<uint8_t> Drain(BufferChains& chains, BufferChain& chain) {
  std::vector<uint8_t> out;
  while (!chain.empty()) {
    ByteSpan f = chains.Front(chain);
    out.insert(out.end(), f.begin(), f.end());
    chains.Consume(chain, f.size());
  }
  return out;
}

TEST(BufferChainTest, AppendCopySpansBuffersAndDrainsInOrder) {
  FakeBufferPool pool(16, 64);
  BufferChains chains(pool, 16);
  BufferChain c;
  auto data = Pattern(200);
  ASSERT_TRUE(chains.AppendCopy(c, data));
  EXPECT_EQ(c.bytes, 200u);
  EXPECT_EQ(chains.CountBuffers(c), 4u);
  EXPECT_EQ(chains.held(), 4u);
  EXPECT_EQ(Drain(chains, c), data);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(chains.held(), 0u);
  EXPECT_EQ(pool.in_use(), 0u);
}

// The gathered-send loop: describe the front as iovecs (capped in segments and bytes), "send" a
// short count that may end inside any segment, consume exactly that, repeat. The bytes come out
// in order, and the segments a gather describes are the chain's own.
TEST(BufferChainTest, GatherFrontCapsSegmentsAndBytesAndResumesAfterPartialConsumes) {
  FakeBufferPool pool(32, 64);
  BufferChains chains(pool, 32);
  BufferChain c;
  auto data = Pattern(1000, 5);  // 16 buffers, the last one 40 bytes
  ASSERT_TRUE(chains.AppendCopy(c, data));
  iovec iov[4];
  BufferChains::Gathered g = chains.GatherFront(c, iov, 1u << 20);
  EXPECT_EQ(g.count, 4);
  EXPECT_EQ(g.bytes, 256u);
  g = chains.GatherFront(c, iov, 100);  // cut inside the second buffer
  ASSERT_EQ(g.count, 2);
  EXPECT_EQ(g.bytes, 100u);
  EXPECT_EQ(iov[0].iov_len, 64u);
  EXPECT_EQ(iov[1].iov_len, 36u);
  g = chains.GatherFront(c, std::span(iov, 1), 1u << 20);
  EXPECT_EQ(g.count, 1);
  EXPECT_EQ(g.bytes, 64u);

  std::vector<uint8_t> out;
  const size_t shorts[] = {1, 63, 64, 100, 7, 250, 0, 3};
  size_t round = 0;
  while (!c.empty()) {
    g = chains.GatherFront(c, iov, 200);
    ASSERT_GT(g.count, 0);
    size_t sent = std::min<size_t>(g.bytes, shorts[round++ % 8]);
    if (sent == 0) sent = g.bytes;
    size_t left = sent;
    for (int i = 0; i < g.count && left > 0; ++i) {
      const size_t take = std::min(left, iov[i].iov_len);
      const uint8_t* p = static_cast<const uint8_t*>(iov[i].iov_base);
      out.insert(out.end(), p, p + take);
      left -= take;
    }
    chains.Consume(c, sent);
    EXPECT_EQ(c.bytes, data.size() - out.size());
  }
  EXPECT_EQ(out, data);
  EXPECT_EQ(chains.held(), 0u);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(BufferChainTest, GatherFrontSkipsAReservedButEmptyTail) {
  FakeBufferPool pool(8, 64);
  BufferChains chains(pool, 8);
  BufferChain c;
  auto data = Pattern(64, 9);
  ASSERT_TRUE(chains.AppendCopy(c, data));  // exactly one full buffer
  ASSERT_FALSE(chains.Reserve(c).empty());  // a second buffer, nothing committed
  iovec iov[4];
  BufferChains::Gathered g = chains.GatherFront(c, iov, 1u << 20);
  EXPECT_EQ(g.count, 1);
  EXPECT_EQ(g.bytes, 64u);
  chains.Clear(c);
  g = chains.GatherFront(c, iov, 1u << 20);
  EXPECT_EQ(g.count, 0);
  EXPECT_EQ(g.bytes, 0u);
}

TEST(BufferChainTest, PartialConsumeAndCopyOutAtOffsets) {
  FakeBufferPool pool(16, 64);
  BufferChains chains(pool, 16);
  BufferChain c;
  auto data = Pattern(150, 3);
  ASSERT_TRUE(chains.AppendCopy(c, data));
  chains.Consume(c, 10);
  std::vector<uint8_t> peek(100);
  ASSERT_EQ(chains.CopyOut(c, 50, peek), 90u);  // only 140 bytes remain
  EXPECT_TRUE(std::equal(peek.begin(), peek.begin() + 90, data.begin() + 60));
  chains.Consume(c, 54);  // crosses the first buffer boundary exactly
  EXPECT_EQ(c.bytes, 86u);
  EXPECT_EQ(chains.CountBuffers(c), 2u);
  auto rest = Drain(chains, c);
  EXPECT_TRUE(std::equal(rest.begin(), rest.end(), data.begin() + 64));
}

TEST(BufferChainTest, SmallReceivedBuffersAreCompactedIntoTheTail) {
  FakeBufferPool pool(8, 64);
  BufferChains chains(pool, 8);
  BufferChain c;
  std::vector<uint8_t> expect;
  for (int i = 0; i < 5; ++i) {
    int32_t id = pool.Acquire();
    auto bytes = Pattern(10, static_cast<uint8_t>(i));
    std::copy(bytes.begin(), bytes.end(), pool.Data(id));
    chains.AppendBuffer(c, id, 10);
    expect.insert(expect.end(), bytes.begin(), bytes.end());
  }
  // 50 bytes fit in the first buffer: the other four were copied and released.
  EXPECT_EQ(chains.CountBuffers(c), 1u);
  EXPECT_EQ(pool.in_use(), 1u);
  // A full buffer does not fit and is linked as is.
  int32_t big = pool.Acquire();
  auto bytes = Pattern(64, 9);
  std::copy(bytes.begin(), bytes.end(), pool.Data(big));
  chains.AppendBuffer(c, big, 64);
  expect.insert(expect.end(), bytes.begin(), bytes.end());
  EXPECT_EQ(chains.CountBuffers(c), 2u);
  EXPECT_EQ(Drain(chains, c), expect);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(BufferChainTest, ReserveCommitAndForEachSegment) {
  FakeBufferPool pool(8, 64);
  BufferChains chains(pool, 8);
  BufferChain c;
  MutableByteSpan s = chains.Reserve(c);
  ASSERT_EQ(s.size(), 64u);
  std::fill(s.begin(), s.begin() + 40, 1);
  chains.Commit(c, 40);
  s = chains.Reserve(c);
  ASSERT_EQ(s.size(), 24u);
  std::fill(s.begin(), s.end(), 2);
  chains.Commit(c, 24);
  s = chains.Reserve(c);  // tail full: a new buffer
  ASSERT_EQ(s.size(), 64u);
  std::fill(s.begin(), s.begin() + 16, 3);
  chains.Commit(c, 16);
  std::vector<size_t> sizes;
  size_t sum = 0;
  chains.ForEachSegment(c, 30, 40, [&](MutableByteSpan seg) {
    sizes.push_back(seg.size());
    for (uint8_t& b : seg) sum += b;
    for (uint8_t& b : seg) b = 9;
  });
  ASSERT_EQ(sizes, (std::vector<size_t>{34, 6}));
  EXPECT_EQ(sum, 10u * 1 + 24u * 2 + 6u * 3);
  auto all = Drain(chains, c);
  ASSERT_EQ(all.size(), 80u);
  EXPECT_EQ(all[29], 1);
  EXPECT_EQ(all[30], 9);
  EXPECT_EQ(all[69], 9);
  EXPECT_EQ(all[70], 3);
}

TEST(BufferChainTest, BudgetAndDryPool) {
  FakeBufferPool pool(2, 64);
  BufferChains chains(pool, 2);
  BufferChain c;
  EXPECT_TRUE(chains.CanTake(128));
  EXPECT_FALSE(chains.CanTake(129));
  EXPECT_FALSE(chains.AppendCopy(c, Pattern(200)));  // pool dry half-way
  EXPECT_EQ(c.bytes, 128u);
  EXPECT_EQ(chains.pressure_1024(), 1024u);
  chains.Clear(c);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(chains.held(), 0u);
}

}  // namespace
}  // namespace mtp
