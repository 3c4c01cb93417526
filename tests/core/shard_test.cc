// Shard runtime tests (both backends): messages, timers, stop protocol, and an echo server
// with 200 concurrent loopback clients.
#include "core/shard.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "core/cpu_set.h"
#include "tests/core/engine_test_util.h"

namespace mtp {
namespace {

using ::mtp::testing::Listener;

class ShardTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == IoBackend::kIoUring && !ProbeIoUring().ok()) {
      GTEST_SKIP() << "io_uring unavailable: " << ProbeIoUring().status();
    }
  }
  ShardOptions Options() {
    ShardOptions options;
    options.backend = GetParam();
    options.engine.queue_depth = 512;
    options.engine.buffer_count = 1024;
    options.engine.buffer_size = 4096;
    options.engine.recv_ring_count = 512;
    options.timer_capacity = 64;
    options.control_waker = &control_waker_;
    return options;
  }
  // Waits (bounded) for the shard to post a message to control.
  bool AwaitFromShard(Shard& shard, ShardMessage& out) {
    for (int i = 0; i < 1000; ++i) {
      if (shard.TakeFromShard(out)) return true;
      pollfd p{control_waker_.fd(), POLLIN, 0};
      poll(&p, 1, 10);
      control_waker_.Consume();
    }
    return false;
  }
  EventFdWaker control_waker_;
};

// Echoes messages back, fires timers into the outbox, and can delay its stop.
class PingHandler : public ShardHandler {
 public:
  explicit PingHandler(Shard& shard) : shard_(shard) {}
  void OnCompletion(const IoCompletion&) override {}
  void OnTimer(uint64_t payload) override {
    shard_.PostToControl(ShardMessage{2, payload, nullptr});
  }
  void OnMessage(ShardMessage& message) override {
    if (message.kind == 1) {  // ping: reply with the payload's value + 1
      auto value = std::static_pointer_cast<int>(message.payload);
      shard_.PostToControl(ShardMessage{1, message.value, std::make_shared<int>(*value + 1)});
    } else if (message.kind == 3) {  // schedule a timer after `value` ms
      shard_.ScheduleTimer(message.value, message.value);
    } else if (message.kind == 4) {  // refuse to stop until told; acknowledged
      hold_stop_ = true;
      shard_.PostToControl(ShardMessage{4, 0, nullptr});
    } else if (message.kind == 5) {
      hold_stop_ = false;
    }
  }
  bool OnStop() override {
    if (!stop_seen_) shard_.PostToControl(ShardMessage{6, 0, nullptr});
    stop_seen_ = true;
    return !hold_stop_;
  }

 private:
  Shard& shard_;
  bool hold_stop_ = false;
  bool stop_seen_ = false;
};

TEST_P(ShardTest, MessagesTimersAndStop) {
  Shard shard(Options());
  ASSERT_TRUE(shard.Start([](Shard& s) -> absl::StatusOr<std::unique_ptr<ShardHandler>> {
                return std::make_unique<PingHandler>(s);
              }).ok());
  EXPECT_EQ(shard.backend_name(), GetParam() == IoBackend::kIoUring ? "io_uring" : "epoll");

  ASSERT_TRUE(shard.Post(ShardMessage{1, 42, std::make_shared<int>(9)}));
  ShardMessage reply;
  ASSERT_TRUE(AwaitFromShard(shard, reply));
  EXPECT_EQ(reply.kind, 1u);
  EXPECT_EQ(reply.value, 42u);
  EXPECT_EQ(*std::static_pointer_cast<int>(reply.payload), 10);

  // Timers fire in deadline order, through a sleeping loop.
  ASSERT_TRUE(shard.Post(ShardMessage{3, 30, nullptr}));
  ASSERT_TRUE(shard.Post(ShardMessage{3, 5, nullptr}));
  ShardMessage t1, t2;
  ASSERT_TRUE(AwaitFromShard(shard, t1));
  ASSERT_TRUE(AwaitFromShard(shard, t2));
  EXPECT_EQ(t1.kind, 2u);
  EXPECT_EQ(t1.value, 5u);
  EXPECT_EQ(t2.value, 30u);

  // Graceful stop waits for the handler.
  ASSERT_TRUE(shard.Post(ShardMessage{4, 0, nullptr}));
  ShardMessage ack;
  ASSERT_TRUE(AwaitFromShard(shard, ack));
  EXPECT_EQ(ack.kind, 4u);
  shard.RequestStop();
  ShardMessage stop_seen;
  ASSERT_TRUE(AwaitFromShard(shard, stop_seen));
  EXPECT_EQ(stop_seen.kind, 6u);
  // Still serving while the handler holds the stop.
  ASSERT_TRUE(shard.Post(ShardMessage{1, 7, std::make_shared<int>(1)}));
  ASSERT_TRUE(AwaitFromShard(shard, reply));
  EXPECT_EQ(reply.value, 7u);
  ASSERT_TRUE(shard.Post(ShardMessage{5, 0, nullptr}));  // now let it go
  shard.Join();
  EXPECT_GT(shard.loop_iterations(), 0u);
}

TEST_P(ShardTest, StartReportsHandlerFailure) {
  Shard shard(Options());
  absl::Status status = shard.Start([](Shard&) -> absl::StatusOr<std::unique_ptr<ShardHandler>> {
    return absl::InvalidArgumentError("no listeners");
  });
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no listeners"), std::string_view::npos);
}

TEST_P(ShardTest, StartReportsEngineFailure) {
  ShardOptions options = Options();
  options.engine.buffer_count = 3;  // invalid
  Shard shard(options);
  absl::Status status = shard.Start([](Shard& s) -> absl::StatusOr<std::unique_ptr<ShardHandler>> {
    return std::make_unique<PingHandler>(s);
  });
  EXPECT_FALSE(status.ok());
}

TEST_P(ShardTest, PinsToRequestedCpu) {
  ShardOptions options = Options();
  auto cpus = ProcessAffinityCpus();
  ASSERT_TRUE(cpus.ok());
  options.cpu = cpus->back();
  Shard shard(options);
  std::atomic<int> seen_cpu{-2};
  class CpuHandler : public ShardHandler {
   public:
    explicit CpuHandler(std::atomic<int>* out) : out_(out) {}
    void OnCompletion(const IoCompletion&) override {}
    void OnTimer(uint64_t) override {}
    void OnMessage(ShardMessage&) override {
      cpu_set_t set;
      CPU_ZERO(&set);
      sched_getaffinity(0, sizeof(set), &set);
      out_->store(CPU_COUNT(&set) == 1 ? sched_getcpu() : -1);
    }
    std::atomic<int>* out_;
  };
  ASSERT_TRUE(shard.Start([&](Shard&) -> absl::StatusOr<std::unique_ptr<ShardHandler>> {
                return std::make_unique<CpuHandler>(&seen_cpu);
              }).ok());
  ASSERT_TRUE(shard.Post(ShardMessage{}));
  for (int i = 0; i < 1000 && seen_cpu.load() == -2; ++i) usleep(1000);
  EXPECT_EQ(seen_cpu.load(), options.cpu);
}

// ---- Echo server on a shard -------------------------------------------------------------

enum EchoOp : uint64_t { kAcceptOp = 1, kRecvOp = 2, kSendOp = 3 };
uint64_t Tag(int fd, EchoOp op) { return (static_cast<uint64_t>(fd) << 8) | op; }

// Echoes every byte back: received buffers queue on their connection and are sent in order
// (one send in flight per connection); a connection closes after EOF once its queue drained.
class EchoHandler : public ShardHandler {
 public:
  EchoHandler(Shard& shard, int listen_fd) : shard_(shard), listen_fd_(listen_fd) {
    shard_.engine().Accept(listen_fd_, Tag(listen_fd_, kAcceptOp));
    accept_armed_ = true;
  }

  void OnCompletion(const IoCompletion& c) override {
    int fd = static_cast<int>(c.user_data >> 8);
    switch (static_cast<EchoOp>(c.user_data & 0xff)) {
      case kAcceptOp:
        if (!c.more) accept_armed_ = false;
        if (c.result >= 0) {
          Conn& conn = Get(c.result);
          conn = Conn{};
          conn.open = true;
          ++open_;
          ArmRecv(c.result, conn);
        } else if (c.more == false && !stopping_) {
          shard_.engine().Accept(listen_fd_, Tag(listen_fd_, kAcceptOp));
          accept_armed_ = true;
        }
        return;
      case kRecvOp: {
        Conn& conn = Get(fd);
        if (!c.more) {
          conn.recv_armed = false;
          --conn.inflight;
        }
        if (c.result > 0) {
          conn.queue.push_back({c.buffer_id, 0, static_cast<uint32_t>(c.result)});
          MaybeSend(fd, conn);
        } else if (c.result == 0) {
          conn.eof = true;
        } else if (c.result == -ENOBUFS) {
          paused_.push_back(fd);
        } else {
          conn.eof = true;  // error: treat as EOF after draining
        }
        MaybeClose(fd, conn);
        return;
      }
      case kSendOp: {
        Conn& conn = Get(fd);
        conn.sending = false;
        --conn.inflight;
        if (c.result < 0) {
          conn.eof = true;
          for (auto& q : conn.queue) shard_.engine().buffers().Release(q.buffer_id);
          conn.queue.clear();
        } else {
          Pending& head = conn.queue.front();
          head.offset += static_cast<uint32_t>(c.result);
          if (head.offset == head.length) {
            shard_.engine().buffers().Release(head.buffer_id);
            conn.queue.pop_front();
          }
          MaybeSend(fd, conn);
        }
        MaybeClose(fd, conn);
        return;
      }
    }
  }

  void OnLoopEnd() override {
    // Re-arm receives that ran out of buffers once the pool has some again.
    while (!paused_.empty() && shard_.engine().buffers().recv_available() > 0) {
      int fd = paused_.back();
      paused_.pop_back();
      Conn& conn = Get(fd);
      if (conn.open && !conn.eof && !conn.recv_armed) ArmRecv(fd, conn);
    }
  }

  void OnTimer(uint64_t) override {}
  void OnMessage(ShardMessage&) override {}

  bool OnStop() override {
    if (!stopping_) {
      stopping_ = true;
      if (accept_armed_) shard_.engine().CancelAll(listen_fd_);
    }
    if (accept_armed_ || open_ > 0) return false;
    // Report the pool state: every buffer must be back.
    shard_.PostToControl(ShardMessage{7, shard_.engine().buffers().in_use(), nullptr});
    return true;
  }

  ~EchoHandler() override {
    for (size_t fd = 0; fd < conns_.size(); ++fd) {
      if (conns_[fd].open) close(static_cast<int>(fd));
    }
  }

 private:
  struct Pending {
    int32_t buffer_id;
    uint32_t offset;
    uint32_t length;
  };
  struct Conn {
    bool open = false;
    bool recv_armed = false;
    bool sending = false;
    bool eof = false;
    int inflight = 0;
    std::deque<Pending> queue;
  };

  Conn& Get(int fd) {
    if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 64);
    return conns_[fd];
  }
  void ArmRecv(int fd, Conn& conn) {
    shard_.engine().Recv(fd, Tag(fd, kRecvOp));
    conn.recv_armed = true;
    ++conn.inflight;
  }
  void MaybeSend(int fd, Conn& conn) {
    if (conn.sending || conn.queue.empty()) return;
    Pending& head = conn.queue.front();
    shard_.engine().Send(fd, shard_.engine().buffers().Data(head.buffer_id) + head.offset,
                         head.length - head.offset, Tag(fd, kSendOp));
    conn.sending = true;
    ++conn.inflight;
  }
  void MaybeClose(int fd, Conn& conn) {
    if (!conn.eof || !conn.queue.empty() || conn.inflight > 0 || !conn.open) return;
    close(fd);
    conn.open = false;
    --open_;
  }

  Shard& shard_;
  int listen_fd_;
  bool accept_armed_ = false;
  bool stopping_ = false;
  int open_ = 0;
  std::vector<Conn> conns_;
  std::vector<int> paused_;
};

struct EchoClient {
  int fd = -1;
  std::vector<uint8_t> out;
  size_t sent = 0;
  std::vector<uint8_t> in;
  bool write_closed = false;
  bool eof = false;
};

std::vector<uint8_t> ClientPattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2246822519u + 7;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v[i] = static_cast<uint8_t>(x);
  }
  return v;
}

TEST_P(ShardTest, EchoServerWith200ConcurrentClients) {
  Listener listener;
  ASSERT_GE(listener.fd, 0);
  ShardOptions options = Options();
  options.engine.buffer_count = 256;  // small pool: exercises -ENOBUFS pause/resume too
  options.engine.recv_ring_count = 128;
  Shard shard(options);
  int listen_fd = listener.fd;
  ASSERT_TRUE(shard.Start([listen_fd](Shard& s) -> absl::StatusOr<std::unique_ptr<ShardHandler>> {
                return std::make_unique<EchoHandler>(s, listen_fd);
              }).ok());

  constexpr int kClients = 200;
  std::vector<EchoClient> clients(kClients);
  for (int i = 0; i < kClients; ++i) {
    EchoClient& c = clients[i];
    c.out = ClientPattern(1000 + (static_cast<size_t>(i) * 7919) % 60000, i);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(c.fd, 0);
    int rc = connect(c.fd, listener.address.sockaddr_ptr(), listener.address.length());
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int done = 0;
  std::vector<pollfd> fds(kClients);
  std::vector<uint8_t> buf(65536);
  while (done < kClients && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < kClients; ++i) {
      fds[i].fd = clients[i].eof ? -1 : clients[i].fd;
      fds[i].events = static_cast<short>(
          POLLIN | (clients[i].sent < clients[i].out.size() ? POLLOUT : 0));
      fds[i].revents = 0;
    }
    poll(fds.data(), fds.size(), 100);
    for (int i = 0; i < kClients; ++i) {
      EchoClient& c = clients[i];
      if (fds[i].revents & POLLOUT) {
        size_t chunk = std::min<size_t>(16384, c.out.size() - c.sent);
        ssize_t w = send(c.fd, c.out.data() + c.sent, chunk, MSG_NOSIGNAL);
        if (w > 0) c.sent += static_cast<size_t>(w);
        if (c.sent == c.out.size() && !c.write_closed) {
          shutdown(c.fd, SHUT_WR);
          c.write_closed = true;
        }
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        while (true) {
          ssize_t r = recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
          if (r > 0) {
            c.in.insert(c.in.end(), buf.data(), buf.data() + r);
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            c.eof = true;
            ++done;
          }
          break;
        }
      }
    }
  }
  ASSERT_EQ(done, kClients) << "timed out";
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(clients[i].in.size(), clients[i].out.size()) << "client " << i;
    EXPECT_TRUE(clients[i].in == clients[i].out) << "client " << i;
    close(clients[i].fd);
  }
  shard.RequestStop();
  shard.Join();
  ShardMessage report;
  bool found = false;
  while (shard.TakeFromShard(report)) {
    if (report.kind == 7) {
      found = true;
      EXPECT_EQ(report.value, 0u) << "buffers leaked";
    }
  }
  EXPECT_TRUE(found);
  EXPECT_GT(shard.completions_dispatched(), static_cast<uint64_t>(kClients));
}

INSTANTIATE_TEST_SUITE_P(Backends, ShardTest,
                         ::testing::Values(IoBackend::kIoUring, IoBackend::kEpoll),
                         mtp::testing::BackendName);

}  // namespace
}  // namespace mtp
