// Socket plumbing for the test peers: owned fds, IPv4/IPv6 addresses, listen/connect, and
// blocking send/receive with deadlines (poll-based). Not for the proxy's data plane. Any
// thread; each fd is used by one thread at a time.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"

namespace mtp::tools {

// Monotonic clock in nanoseconds / milliseconds.
int64_t MonotonicNanos();
inline int64_t MonotonicMillis() { return MonotonicNanos() / 1'000'000; }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An IPv4 or IPv6 socket address.
class SocketAddress {
 public:
  SocketAddress() = default;
  // Numeric host ("127.0.0.1", "::1", "[::1]") or a name resolved with getaddrinfo (IPv4
  // preferred).
  static absl::StatusOr<SocketAddress> Resolve(std::string_view host, uint16_t port);
  // "host:port", "[v6]:port"; a bare port means 127.0.0.1.
  static absl::StatusOr<SocketAddress> Parse(std::string_view host_port);
  static SocketAddress FromSockaddr(const sockaddr* sa, socklen_t len);
  static absl::StatusOr<SocketAddress> LocalOf(int fd);
  static absl::StatusOr<SocketAddress> PeerOf(int fd);

  bool is_ipv6() const { return storage_.ss_family == AF_INET6; }
  uint16_t port() const;
  // Host-order IPv4 (192.0.2.10 -> 0xc000020a); 0 for IPv6 unless it is IPv4-mapped.
  uint32_t ipv4() const;
  // The 16-byte IPv6 form (IPv4 becomes ::ffff:a.b.c.d), network order.
  std::array<uint8_t, 16> ipv6_bytes() const;
  bool is_loopback() const;
  // "1.2.3.4:5" / "[::1]:5".
  std::string ToString() const;
  std::string HostString() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.ss_family; }

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

// Blocking connect with a timeout; TCP_NODELAY set. The fd is returned in blocking mode.
// `source` (may be null): the local address to bind first (port 0 = any).
absl::StatusOr<UniqueFd> ConnectTcp(const SocketAddress& address, int timeout_ms,
                                    const SocketAddress* source = nullptr);
// Starts a non-blocking connect (EINPROGRESS is success); TCP_NODELAY set.
absl::StatusOr<UniqueFd> StartConnectTcp(const SocketAddress& address,
                                         const SocketAddress* source = nullptr);

struct Listener {
  UniqueFd fd;
  SocketAddress address;  // with the port the kernel chose when 0 was asked
};
// SO_REUSEADDR listening socket (IPv6 sockets are v6-only).
absl::StatusOr<Listener> ListenTcp(const SocketAddress& address, int backlog = 1024);

absl::Status SetNonBlocking(int fd, bool on = true);
void SetNoDelay(int fd);
// Sets SO_SNDBUF/SO_RCVBUF when > 0.
void SetSocketBuffers(int fd, int send_bytes, int receive_bytes);

// Deadline-bounded blocking IO on a (blocking or non-blocking) fd. `deadline_ms` is a
// MonotonicMillis() value; a negative deadline means "no deadline".
// DeadlineExceeded on timeout; Unavailable("closed") on EOF where data was required.
absl::Status SendAll(int fd, ByteSpan data, int64_t deadline_ms);
// Returns 0 on orderly EOF.
absl::StatusOr<size_t> ReceiveSome(int fd, MutableByteSpan out, int64_t deadline_ms);
absl::Status ReceiveExact(int fd, MutableByteSpan out, int64_t deadline_ms);

// Waits until `fd` is readable (or EOF/error) or the deadline passes. Returns false on timeout.
bool WaitReadable(int fd, int64_t deadline_ms);

// Pins the calling thread to `cpu`. Returns false if the kernel refuses.
bool PinThreadToCpu(int cpu);

// Raises RLIMIT_NOFILE to its hard limit (many-connection tools).
void RaiseFileLimit();

}  // namespace mtp::tools
