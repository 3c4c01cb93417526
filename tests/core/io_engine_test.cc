// IoEngine contract tests, run against both backends.
#include "core/io_engine.h"
#include "core/uring_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "tests/core/engine_test_util.h"

namespace mtp {
namespace {

using ::mtp::testing::CountFinal;
using ::mtp::testing::Listener;
using ::mtp::testing::PollUntil;
using ::mtp::testing::TcpPair;

class IoEngineTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  IoEngineOptions SmallOptions() {
    IoEngineOptions options;
    options.queue_depth = 256;
    options.buffer_count = 64;
    options.buffer_size = 4096;
    options.recv_ring_count = 32;
    return options;
  }
};

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

TEST_P(IoEngineTest, NameMatchesBackend) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  EXPECT_EQ(engine->name(), GetParam() == IoBackend::kIoUring ? "io_uring" : "epoll");
  EXPECT_EQ(engine->buffers().in_use(), 0u);
  EXPECT_EQ(engine->buffers().recv_available(), 32u);
}

TEST_P(IoEngineTest, MultishotAcceptTakesManyConnections) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  ASSERT_GE(listener.fd, 0);
  constexpr uint64_t kAcceptTag = 77;
  engine->Accept(listener.fd, kAcceptTag);
  constexpr int kClients = 40;
  std::vector<int> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(mtp::testing::ConnectBlocking(listener.address));
    ASSERT_GE(clients.back(), 0);
  }
  auto all = PollUntil(*engine, [&](const auto& v) { return v.size() >= kClients; });
  ASSERT_EQ(all.size(), static_cast<size_t>(kClients));
  for (const IoCompletion& c : all) {
    EXPECT_EQ(c.user_data, kAcceptTag);
    ASSERT_GE(c.result, 0);
    EXPECT_TRUE(c.more);  // still armed
    EXPECT_EQ(c.buffer_id, -1);
    int flags = fcntl(c.result, F_GETFL);
    EXPECT_TRUE(flags & O_NONBLOCK);
    EXPECT_TRUE(fcntl(c.result, F_GETFD) & FD_CLOEXEC);
    close(c.result);
  }
  // One more connection is still accepted by the same op.
  int late = mtp::testing::ConnectBlocking(listener.address);
  auto more = PollUntil(*engine, [&](const auto& v) { return !v.empty(); });
  ASSERT_EQ(more.size(), 1u);
  EXPECT_GE(more[0].result, 0);
  close(more[0].result);
  close(late);
  for (int fd : clients) close(fd);

  engine->CancelAll(listener.fd);
  auto cancelled = PollUntil(*engine, [&](const auto& v) { return CountFinal(v, kAcceptTag); });
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].result, -ECANCELED);
  EXPECT_FALSE(cancelled[0].more);
}

TEST_P(IoEngineTest, MultishotRecvDeliversDataInBuffersThenEof) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  constexpr uint64_t kRecvTag = 5;
  engine->Recv(pair.server, kRecvTag);
  std::vector<uint8_t> sent = Pattern(100000, 1);
  std::vector<uint8_t> got;
  BufferPool& pool = engine->buffers();
  std::thread writer([&] {
    size_t off = 0;
    while (off < sent.size()) {
      ssize_t w = write(pair.client, sent.data() + off, std::min<size_t>(7000, sent.size() - off));
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    shutdown(pair.client, SHUT_WR);
  });
  bool eof = false;
  PollUntil(
      *engine, [&](const auto&) { return eof; }, std::chrono::seconds(10),
      [&](const IoCompletion& c) {
        ASSERT_EQ(c.user_data, kRecvTag);
        if (c.result > 0) {
          ASSERT_TRUE(c.more);
          ASSERT_GE(c.buffer_id, 0);
          ASSERT_LE(static_cast<uint32_t>(c.result), pool.buffer_size());
          const uint8_t* data = pool.Data(c.buffer_id);
          got.insert(got.end(), data, data + c.result);
          pool.Release(c.buffer_id);
        } else {
          EXPECT_EQ(c.result, 0);  // EOF ends the op
          EXPECT_FALSE(c.more);
          EXPECT_EQ(c.buffer_id, -1);
          eof = true;
        }
      });
  writer.join();
  EXPECT_TRUE(eof);
  EXPECT_EQ(got, sent);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST_P(IoEngineTest, BufferExhaustionEndsRecvWithEnobufsThenRearmResumes) {
  IoEngineOptions options = SmallOptions();
  options.buffer_count = 8;
  options.recv_ring_count = 4;
  options.buffer_size = 1024;
  MTP_ENGINE_OR_SKIP(engine, GetParam(), options);
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  std::vector<uint8_t> sent = Pattern(20000, 2);
  ASSERT_EQ(write(pair.client, sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));
  shutdown(pair.client, SHUT_WR);

  BufferPool& pool = engine->buffers();
  constexpr uint64_t kRecvTag = 9;
  std::vector<uint8_t> got;
  int enobufs = 0;
  bool eof = false;
  while (!eof && enobufs < 100) {
    engine->Recv(pair.server, kRecvTag);
    std::vector<int32_t> held;  // hold every buffer until the op ends: the ring runs dry
    bool ended = false;
    PollUntil(
        *engine, [&](const auto&) { return ended; }, std::chrono::seconds(10),
        [&](const IoCompletion& c) {
          if (c.result > 0) {
            ASSERT_GE(c.buffer_id, 0);
            got.insert(got.end(), pool.Data(c.buffer_id), pool.Data(c.buffer_id) + c.result);
            held.push_back(c.buffer_id);
          } else if (c.result == -ENOBUFS) {
            ++enobufs;
          } else {
            ASSERT_EQ(c.result, 0);
            eof = true;
          }
          if (!c.more) ended = true;
        });
    ASSERT_TRUE(ended);
    if (!eof) {
      // The receive set is restocked from the free list as buffers leave it. epoll takes one
      // buffer per recv(2), so its op ends only once the whole pool is held; io_uring's kernel
      // can empty the 4-entry ring before the completions are reaped, but the ring is full
      // again while the caller still holds every buffer it got.
      EXPECT_GE(held.size(), 4u);
      if (held.size() < 8u) {
        EXPECT_GT(pool.recv_available(), 0u) << "held buffers left the receive set empty";
      } else {
        EXPECT_EQ(pool.recv_available(), 0u);
      }
    }
    for (int32_t id : held) pool.Release(id);
    EXPECT_EQ(pool.recv_available(), 4u);
  }
  EXPECT_TRUE(eof);
  EXPECT_GE(enobufs, 2);  // 20000 bytes through 8 x 1024-byte buffers per round
  EXPECT_EQ(got, sent);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST_P(IoEngineTest, LargeSendCompletesShortAndIsReassembled) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  int small = 16384;
  setsockopt(pair.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(pair.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

  const std::vector<uint8_t> sent = Pattern(4 << 20, 3);
  constexpr uint64_t kSendTag = 11;
  size_t offset = 0;
  int completions = 0;
  int first_result = -1;
  engine->Send(pair.server, sent.data(), static_cast<uint32_t>(sent.size()), kSendTag);
  // Nobody reads until the first completion: it must be short (socket buffers are small).
  auto first = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
  ASSERT_EQ(first.size(), 1u);
  ASSERT_GT(first[0].result, 0);
  first_result = first[0].result;
  EXPECT_LT(static_cast<size_t>(first_result), sent.size());
  offset += static_cast<size_t>(first_result);
  ++completions;

  std::vector<uint8_t> got;
  std::thread reader([&] {
    std::vector<uint8_t> buf(65536);
    while (got.size() < sent.size()) {
      ssize_t r = read(pair.client, buf.data(), buf.size());
      if (r <= 0) break;
      got.insert(got.end(), buf.data(), buf.data() + r);
    }
  });
  while (offset < sent.size()) {
    engine->Send(pair.server, sent.data() + offset, static_cast<uint32_t>(sent.size() - offset),
                 kSendTag);
    auto c = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
    ASSERT_EQ(c.size(), 1u);
    ASSERT_GT(c[0].result, 0) << strerror(-c[0].result);
    EXPECT_FALSE(c[0].more);
    offset += static_cast<size_t>(c[0].result);
    ++completions;
  }
  reader.join();
  EXPECT_GT(completions, 1);
  EXPECT_EQ(got, sent);
}

TEST_P(IoEngineTest, SendMsgGathersIovecsAndResumesAfterShortSends) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  int small = 16384;
  setsockopt(pair.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(pair.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  // Three pieces in separate vectors; the bytes on the wire are their concatenation, in order,
  // whatever the short sends.
  const std::vector<uint8_t> a = Pattern(5, 1), b = Pattern(1 << 20, 2), c = Pattern(777, 3);
  std::vector<uint8_t> sent(a.size() + b.size() + c.size());
  std::memcpy(sent.data(), a.data(), a.size());
  std::memcpy(sent.data() + a.size(), b.data(), b.size());
  std::memcpy(sent.data() + a.size() + b.size(), c.data(), c.size());
  std::vector<uint8_t> got;
  std::thread reader([&] {
    std::vector<uint8_t> buf(65536);
    while (got.size() < sent.size()) {
      ssize_t r = read(pair.client, buf.data(), buf.size());
      if (r <= 0) break;
      got.insert(got.end(), buf.data(), buf.data() + r);
    }
  });
  size_t offset = 0;
  int completions = 0;
  while (offset < sent.size()) {
    // Rebuild the vector for what is left (the dataplane does the same from its queue).
    iovec iov[3];
    int n = 0;
    size_t skip = offset;
    for (const std::vector<uint8_t>* piece : {&a, &b, &c}) {
      if (skip >= piece->size()) {
        skip -= piece->size();
        continue;
      }
      iov[n].iov_base = const_cast<uint8_t*>(piece->data() + skip);
      iov[n].iov_len = piece->size() - skip;
      skip = 0;
      ++n;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    engine->SendMsg(pair.server, &msg, 12);
    auto done = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
    ASSERT_EQ(done.size(), 1u);
    ASSERT_EQ(done[0].user_data, 12u);
    ASSERT_GT(done[0].result, 0) << strerror(-done[0].result);
    offset += static_cast<size_t>(done[0].result);
    ++completions;
  }
  reader.join();
  EXPECT_EQ(offset, sent.size());
  EXPECT_EQ(got, sent);
  EXPECT_GT(completions, 1);
}

TEST_P(IoEngineTest, ConnectSucceedsAndIsRefused) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  auto ok_fd = CreateOutboundSocket(AF_INET, OutboundOptions{});
  ASSERT_TRUE(ok_fd.ok());
  engine->Connect(*ok_fd, listener.address.sockaddr_ptr(), listener.address.length(), 1);

  // A bound socket that does not listen refuses connections (and keeps the port ours).
  int closed = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SocketAddress any = SocketAddress::FromIpv4(0x7f000001, 0);
  ASSERT_EQ(bind(closed, any.sockaddr_ptr(), any.length()), 0);
  SocketAddress refused = LocalAddress(closed).value();
  auto bad_fd = CreateOutboundSocket(AF_INET, OutboundOptions{});
  ASSERT_TRUE(bad_fd.ok());
  {
    // The address must be copied at submission: pass a temporary that dies right away.
    SocketAddress temp = refused;
    engine->Connect(*bad_fd, temp.sockaddr_ptr(), temp.length(), 2);
    std::memset(temp.mutable_sockaddr(), 0, sizeof(sockaddr_in));
  }
  auto all = PollUntil(*engine, [](const auto& v) { return v.size() >= 2; });
  ASSERT_EQ(all.size(), 2u);
  for (const IoCompletion& c : all) {
    EXPECT_FALSE(c.more);
    if (c.user_data == 1) {
      EXPECT_EQ(c.result, 0);
    } else {
      EXPECT_EQ(c.user_data, 2u);
      EXPECT_EQ(c.result, -ECONNREFUSED);
    }
  }
  auto peer = PeerAddress(*ok_fd);
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(*peer, listener.address);
  close(*ok_fd);
  close(*bad_fd);
  close(closed);
}

TEST_P(IoEngineTest, CancelOpPausesRecvAndRearmResumes) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  constexpr uint64_t kRecvTag = 21;
  engine->Recv(pair.server, kRecvTag);
  engine->Poll({}, 0);  // let it arm
  engine->CancelOp(pair.server, kRecvTag);
  auto cancelled = PollUntil(*engine, [&](const auto& v) { return CountFinal(v, kRecvTag); });
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].result, -ECANCELED);
  EXPECT_FALSE(cancelled[0].more);

  // Paused: data waits in the socket, no completion, no buffer taken.
  ASSERT_EQ(write(pair.client, "paused", 6), 6);
  auto nothing = PollUntil(*engine, [](const auto&) { return false; },
                           std::chrono::milliseconds(100));
  EXPECT_TRUE(nothing.empty());
  EXPECT_EQ(engine->buffers().in_use(), 0u);

  engine->Recv(pair.server, kRecvTag);
  auto resumed = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
  ASSERT_EQ(resumed.size(), 1u);
  ASSERT_EQ(resumed[0].result, 6);
  EXPECT_TRUE(resumed[0].more);
  EXPECT_EQ(std::memcmp(engine->buffers().Data(resumed[0].buffer_id), "paused", 6), 0);
  engine->buffers().Release(resumed[0].buffer_id);
  engine->CancelAll(pair.server);
  auto done = PollUntil(*engine, [&](const auto& v) { return CountFinal(v, kRecvTag); });
  EXPECT_EQ(CountFinal(done, kRecvTag), 1u);
}

TEST_P(IoEngineTest, CancelAllReportsEveryOpBeforeClose) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  int small = 16384;
  setsockopt(pair.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(pair.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  const std::vector<uint8_t> big = Pattern(2 << 20, 4);
  // Fill the socket until a send stays pending in the kernel (nobody reads the client).
  std::set<uint64_t> outstanding;  // ops submitted whose final completion has not been seen
  for (uint64_t tag = 100; tag < 200 && outstanding.empty(); ++tag) {
    engine->Send(pair.server, big.data(), static_cast<uint32_t>(big.size()), tag);
    auto c = PollUntil(*engine, [](const auto& v) { return !v.empty(); },
                       std::chrono::milliseconds(100));
    if (c.empty()) outstanding.insert(tag);
  }
  ASSERT_FALSE(outstanding.empty());
  engine->Recv(pair.server, 31);
  engine->Send(pair.server, big.data(), static_cast<uint32_t>(big.size()), 33);
  outstanding.insert(31);
  outstanding.insert(33);

  engine->CancelAll(pair.server);
  // Every op reports exactly one final completion. The receive has no data, so it must be
  // cancelled; a send may still win the race and report bytes written.
  std::vector<IoCompletion> all = PollUntil(*engine, [&](const auto& v) {
    size_t finals = 0;
    for (const IoCompletion& c : v) finals += c.more ? 0 : 1;
    return finals >= outstanding.size();
  });
  std::map<uint64_t, int> finals;
  for (const IoCompletion& c : all) {
    EXPECT_FALSE(c.more);
    EXPECT_TRUE(outstanding.count(c.user_data)) << c.user_data;
    ++finals[c.user_data];
    if (c.user_data == 31) {
      EXPECT_EQ(c.result, -ECANCELED);
    } else {
      EXPECT_TRUE(c.result == -ECANCELED || c.result > 0) << c.result;
    }
  }
  for (uint64_t tag : outstanding) EXPECT_EQ(finals[tag], 1) << tag;
  // Nothing else arrives for the fd afterwards: safe to close.
  auto after = PollUntil(*engine, [](const auto&) { return false; },
                         std::chrono::milliseconds(50));
  EXPECT_TRUE(after.empty());
  EXPECT_EQ(engine->buffers().in_use(), 0u);
}

// Sessions close fds after their ops are accounted for; the kernel then reuses the number for
// the next socket. The engine must treat it as a new file (epoll: re-register it).
TEST_P(IoEngineTest, FdNumberReuseAfterClose) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  std::set<int> used_before;
  int reused = 0;
  for (int round = 0; round < 6; ++round) {
    // Alternate an outbound socket (connected by the engine) and an accepted one.
    int client = -1;
    int server = -1;
    if (round % 2 == 0) {
      auto fd = CreateOutboundSocket(AF_INET, OutboundOptions{});
      ASSERT_TRUE(fd.ok());
      server = *fd;
      engine->Connect(server, listener.address.sockaddr_ptr(), listener.address.length(), 40);
      auto c = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
      ASSERT_EQ(c.size(), 1u);
      ASSERT_EQ(c[0].result, 0);
      for (int i = 0; i < 2000 && client < 0; ++i) {
        client = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) usleep(1000);
      }
    } else {
      engine->Accept(listener.fd, 41);
      client = mtp::testing::ConnectBlocking(listener.address);
      auto c = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
      ASSERT_EQ(c.size(), 1u);
      server = c[0].result;
      ASSERT_GE(server, 0);
      engine->CancelAll(listener.fd);
      ASSERT_EQ(CountFinal(PollUntil(*engine, [](const auto& v) { return CountFinal(v, 41); }), 41),
                1u);
    }
    ASSERT_GE(client, 0);
    reused += used_before.count(server) ? 1 : 0;
    used_before.insert(server);
    used_before.insert(client);
    engine->Recv(server, 42);
    ASSERT_EQ(write(client, "ping", 4), 4);
    auto got = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].result, 4) << "round " << round;
    engine->buffers().Release(got[0].buffer_id);
    engine->Send(server, reinterpret_cast<const uint8_t*>("pong"), 4, 43);
    auto sent = PollUntil(*engine, [](const auto& v) { return !v.empty(); });
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].result, 4);
    char reply[4];
    ASSERT_EQ(read(client, reply, 4), 4);
    EXPECT_EQ(std::memcmp(reply, "pong", 4), 0);
    engine->CancelAll(server);
    EXPECT_EQ(CountFinal(PollUntil(*engine, [](const auto& v) { return CountFinal(v, 42); }), 42),
              1u);
    close(server);
    close(client);
  }
  EXPECT_GT(reused, 0);  // the kernel hands out the lowest free number: reuse happened
}

TEST_P(IoEngineTest, CancelOfUnknownOpIsHarmless) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  TcpPair pair(listener);
  engine->CancelOp(pair.server, 12345);
  engine->CancelAll(pair.server);
  auto none = PollUntil(*engine, [](const auto&) { return false; },
                        std::chrono::milliseconds(50));
  EXPECT_TRUE(none.empty());
}

// Wake() must make a Poll blocked forever return. A watchdog connects to a listener with an
// armed Accept after 5 s; if Wake were broken, Poll would return that accept instead.
TEST_P(IoEngineTest, WakeFromAnotherThreadInterruptsPoll) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  engine->Accept(listener.fd, 1);
  IoCompletion out[8];
  ASSERT_EQ(engine->Poll(out, 0), 0);

  std::atomic<bool> stop{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 500 && !stop.load(); ++i) usleep(10000);
    if (!stop.load()) close(mtp::testing::ConnectBlocking(listener.address));
  });
  std::thread waker([&] {
    usleep(20000);
    engine->Wake();
  });
  int n = engine->Poll(out, -1);
  waker.join();
  EXPECT_EQ(n, 0);

  // A Wake before Poll is not lost, and bursts coalesce.
  for (int i = 0; i < 1000; ++i) engine->Wake();
  EXPECT_EQ(engine->Poll(out, -1), 0);
  stop.store(true);
  watchdog.join();
  engine->CancelAll(listener.fd);
  auto done = PollUntil(*engine, [](const auto& v) { return CountFinal(v, 1); });
  EXPECT_EQ(CountFinal(done, 1), 1u);
  for (const IoCompletion& c : done) {
    if (c.more) close(c.result);  // the watchdog's connection, if the machine was very slow
  }
}

TEST_P(IoEngineTest, PollTimesOutWithoutCompletions) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  IoCompletion out[4];
  EXPECT_EQ(engine->Poll(out, 1000), 0);
  EXPECT_EQ(engine->Poll(out, 0), 0);
}

TEST_P(IoEngineTest, PollReturnsAtMostOutSize) {
  MTP_ENGINE_OR_SKIP(engine, GetParam(), SmallOptions());
  Listener listener;
  engine->Accept(listener.fd, 3);
  std::vector<int> clients;
  for (int i = 0; i < 10; ++i) clients.push_back(mtp::testing::ConnectBlocking(listener.address));
  std::vector<IoCompletion> all;
  IoCompletion out[3];
  for (int i = 0; i < 1000 && all.size() < 10; ++i) {
    int n = engine->Poll(out, 10'000);
    ASSERT_LE(n, 3);
    all.insert(all.end(), out, out + n);
  }
  ASSERT_EQ(all.size(), 10u);
  for (const IoCompletion& c : all) close(c.result);
  for (int fd : clients) close(fd);
  engine->CancelAll(listener.fd);
  PollUntil(*engine, [](const auto& v) { return CountFinal(v, 3); });
}

TEST(IoEngineAutoTest, AutoPicksAWorkingBackend) {
  auto engine = CreateIoEngine(IoBackend::kAuto, IoEngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->name(), ProbeIoUring().ok() ? "io_uring" : "epoll");
}

// The fallback path, in a fresh process (the probe result is cached per process).
TEST(IoEngineAutoDeathTest, AutoFallsBackToEpollAndSaysWhy) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("MTP_IO_URING", "0", 1);
        auto engine = CreateIoEngine(IoBackend::kAuto, IoEngineOptions{});
        bool epoll = engine.ok() && (*engine)->name() == "epoll";
        bool uring_refused = !CreateIoEngine(IoBackend::kIoUring, IoEngineOptions{}).ok();
        _exit(epoll && uring_refused ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "io_uring unavailable \\(disabled by MTP_IO_URING=0\\)");
}

// A cancel that finds no free submission entry must not be lost: its op would stay armed and
// the session that waits for the op's final completion would keep its fd and slot forever.
TEST(UringEngineTest, CancelWithoutAFreeSqeIsRetriedNotDropped) {
  if (!ProbeIoUring().ok()) GTEST_SKIP() << "io_uring unavailable";
  auto created = UringEngine::Create(IoEngineOptions{});
  ASSERT_TRUE(created.ok()) << created.status();
  UringEngine& engine = **created;
  Listener listener;
  TcpPair pair(listener);
  ASSERT_GE(pair.server, 0);
  constexpr uint64_t kRecvTag = 31;
  engine.Recv(pair.server, kRecvTag);
  engine.Poll({}, 0);  // armed
  engine.FailNextSqesForTesting(1);
  engine.CancelAll(pair.server);
  auto done = PollUntil(engine, [&](const auto& v) { return CountFinal(v, kRecvTag); },
                        std::chrono::milliseconds(2000));
  ASSERT_EQ(CountFinal(done, kRecvTag), 1u) << "the cancel was dropped: the recv is still armed";
  EXPECT_EQ(done.back().result, -ECANCELED);
}

TEST(IoEngineAutoTest, RejectsBadOptions) {
  IoEngineOptions options;
  options.buffer_count = 1000;
  EXPECT_FALSE(CreateEpollEngine(options).ok());
  EXPECT_FALSE(CreateIoEngine(IoBackend::kAuto, options).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, IoEngineTest,
                         ::testing::Values(IoBackend::kIoUring, IoBackend::kEpoll),
                         mtp::testing::BackendName);

}  // namespace
}  // namespace mtp
