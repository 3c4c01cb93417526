// Helpers for the reactor tests: backend parameterisation, loopback sockets, bounded polling.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/io_engine.h"
#include "core/socket_address.h"
#include "core/socket_util.h"
#include "core/uring_engine.h"

namespace mtp::testing {

inline std::string BackendName(const ::testing::TestParamInfo<IoBackend>& info) {
  return info.param == IoBackend::kIoUring ? "IoUring" : "Epoll";
}

// Creates an engine for `backend`, or skips the test if io_uring is unavailable here.
inline std::unique_ptr<IoEngine> MakeEngineOrSkip(IoBackend backend,
                                                  const IoEngineOptions& options) {
  if (backend == IoBackend::kIoUring && !ProbeIoUring().ok()) return nullptr;
  auto engine = CreateIoEngine(backend, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

#define MTP_ENGINE_OR_SKIP(var, backend, options)                                     \
  auto var = ::mtp::testing::MakeEngineOrSkip(backend, options);                       \
  if (var == nullptr) {                                                                \
    if ((backend) == ::mtp::IoBackend::kIoUring && !::mtp::ProbeIoUring().ok())        \
      GTEST_SKIP() << "io_uring unavailable: " << ::mtp::ProbeIoUring().status();      \
    FAIL() << "engine creation failed";                                                \
  }

// A loopback listener on an ephemeral port.
struct Listener {
  int fd = -1;
  SocketAddress address;
  Listener() {
    ListenOptions options;
    options.address = SocketAddress::FromIpv4(0x7f000001, 0);
    options.reuse_port = false;
    auto l = CreateListenSocket(options);
    EXPECT_TRUE(l.ok()) << l.status();
    if (!l.ok()) return;
    fd = *l;
    address = LocalAddress(fd).value();
  }
  ~Listener() {
    if (fd >= 0) close(fd);
  }
};

// Blocking client connected to `address` (loopback connects complete in the backlog).
inline int ConnectBlocking(const SocketAddress& address) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A connected pair: `client` blocking, `server` non-blocking (as accepted by the engine).
struct TcpPair {
  int client = -1;
  int server = -1;
  explicit TcpPair(const Listener& listener) {
    client = ConnectBlocking(listener.address);
    for (int i = 0; i < 2000 && server < 0; ++i) {
      server = accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (server < 0) usleep(1000);
    }
  }
  ~TcpPair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

// Polls until `done` holds for the collected completions or `limit` passes (then the
// caller's assertions fail rather than the test hanging).
inline std::vector<IoCompletion> PollUntil(
    IoEngine& engine, const std::function<bool(const std::vector<IoCompletion>&)>& done,
    std::chrono::milliseconds limit = std::chrono::seconds(10),
    const std::function<void(const IoCompletion&)>& on_each = nullptr) {
  std::vector<IoCompletion> all;
  IoCompletion batch[64];
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done(all) && std::chrono::steady_clock::now() < deadline) {
    int n = engine.Poll(batch, 20'000);
    for (int i = 0; i < n; ++i) {
      if (on_each) on_each(batch[i]);
      all.push_back(batch[i]);
    }
  }
  return all;
}

inline size_t CountFinal(const std::vector<IoCompletion>& all, uint64_t user_data) {
  size_t n = 0;
  for (const IoCompletion& c : all) n += (c.user_data == user_data && !c.more) ? 1 : 0;
  return n;
}

}  // namespace mtp::testing
