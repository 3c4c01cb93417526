// Socket plumbing implementation.
#include "tools/net_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mtp::tools {

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(std::string(what), ": ", std::strerror(errno)));
}

int RemainingMs(int64_t deadline_ms) {
  if (deadline_ms < 0) return -1;
  int64_t left = deadline_ms - MonotonicMillis();
  if (left < 0) return 0;
  return left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
}

}  // namespace

SocketAddress SocketAddress::FromSockaddr(const sockaddr* sa, socklen_t len) {
  SocketAddress a;
  if (len > sizeof(a.storage_)) len = sizeof(a.storage_);
  std::memcpy(&a.storage_, sa, len);
  a.length_ = len;
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::Resolve(std::string_view host_in, uint16_t port) {
  std::string host(host_in);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  SocketAddress a;
  sockaddr_in v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return FromSockaddr(reinterpret_cast<sockaddr*>(&v4), sizeof(v4));
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return FromSockaddr(reinterpret_cast<sockaddr*>(&v6), sizeof(v6));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  const addrinfo* pick = res;
  for (const addrinfo* p = res; p != nullptr; p = p->ai_next) {
    if (p->ai_family == AF_INET) {
      pick = p;
      break;
    }
  }
  a = FromSockaddr(pick->ai_addr, pick->ai_addrlen);
  freeaddrinfo(res);
  if (a.family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
  }
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view host_port) {
  uint32_t port = 0;
  if (absl::SimpleAtoi(std::string(host_port), &port)) {
    if (port > 65535) return absl::InvalidArgumentError("port out of range");
    return Resolve("127.0.0.1", static_cast<uint16_t>(port));
  }
  size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("expected host:port, got '", std::string(host_port), "'"));
  }
  std::string_view host = host_port.substr(0, colon);
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    return absl::InvalidArgumentError("IPv6 addresses need brackets: [::1]:port");
  }
  if (!absl::SimpleAtoi(std::string(host_port.substr(colon + 1)), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", std::string(host_port), "'"));
  }
  return Resolve(host, static_cast<uint16_t>(port));
}

absl::StatusOr<SocketAddress> SocketAddress::LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Errno("getsockname");
  return FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<SocketAddress> SocketAddress::PeerOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Errno("getpeername");
  return FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

uint16_t SocketAddress::port() const {
  if (storage_.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  }
  if (storage_.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

uint32_t SocketAddress::ipv4() const {
  if (storage_.ss_family == AF_INET) {
    return ntohl(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr.s_addr);
  }
  if (storage_.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      return (uint32_t{a.s6_addr[12]} << 24) | (uint32_t{a.s6_addr[13]} << 16) |
             (uint32_t{a.s6_addr[14]} << 8) | a.s6_addr[15];
    }
  }
  return 0;
}

std::array<uint8_t, 16> SocketAddress::ipv6_bytes() const {
  std::array<uint8_t, 16> out{};
  if (storage_.ss_family == AF_INET6) {
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, 16);
  } else if (storage_.ss_family == AF_INET) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, 4);
  }
  return out;
}

bool SocketAddress::is_loopback() const {
  if (storage_.ss_family == AF_INET) return (ipv4() >> 24) == 127;
  if (storage_.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && (ipv4() >> 24) == 127);
  }
  return false;
}

std::string SocketAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (storage_.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
              sizeof(buf));
  } else if (storage_.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
              sizeof(buf));
  } else {
    return "?";
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (is_ipv6()) return absl::StrCat("[", HostString(), "]:", port());
  return absl::StrCat(HostString(), ":", port());
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void SetSocketBuffers(int fd, int send_bytes, int receive_bytes) {
  if (send_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_bytes, sizeof(send_bytes));
  if (receive_bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_bytes, sizeof(receive_bytes));
  }
}

absl::Status SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0) return Errno("fcntl");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) != 0) return Errno("fcntl");
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> StartConnectTcp(const SocketAddress& address,
                                         const SocketAddress* source) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  SetNoDelay(fd.get());
  if (source != nullptr && ::bind(fd.get(), source->sockaddr_ptr(), source->length()) != 0) {
    return Errno(absl::StrCat("bind ", source->ToString()));
  }
  if (::connect(fd.get(), address.sockaddr_ptr(), address.length()) != 0 &&
      errno != EINPROGRESS) {
    return Errno(absl::StrCat("connect to ", address.ToString()));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ConnectTcp(const SocketAddress& address, int timeout_ms,
                                    const SocketAddress* source) {
  absl::StatusOr<UniqueFd> fd = StartConnectTcp(address, source);
  if (!fd.ok()) return fd.status();
  pollfd p{fd->get(), POLLOUT, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    return absl::DeadlineExceededError(absl::StrCat("connect to ", address.ToString(),
                                                    " timed out"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    errno = err;
    return Errno(absl::StrCat("connect to ", address.ToString()));
  }
  absl::Status st = SetNonBlocking(fd->get(), false);
  if (!st.ok()) return st;
  return fd;
}

absl::StatusOr<Listener> ListenTcp(const SocketAddress& address, int backlog) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (address.is_ipv6()) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return Errno(absl::StrCat("bind ", address.ToString()));
  }
  if (::listen(fd.get(), backlog) != 0) return Errno("listen");
  absl::StatusOr<SocketAddress> bound = SocketAddress::LocalOf(fd.get());
  if (!bound.ok()) return bound.status();
  return Listener{std::move(fd), *bound};
}

bool WaitReadable(int fd, int64_t deadline_ms) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, RemainingMs(deadline_ms));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let the following read report the error
  }
}

absl::Status SendAll(int fd, ByteSpan data, int64_t deadline_ms) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      int rc = ::poll(&p, 1, RemainingMs(deadline_ms));
      if (rc == 0) return absl::DeadlineExceededError("send timed out");
      continue;
    }
    return Errno("send");
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReceiveSome(int fd, MutableByteSpan out, int64_t deadline_ms) {
  for (;;) {
    ssize_t n = ::recv(fd, out.data(), out.size(), MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Errno("recv");
    if (!WaitReadable(fd, deadline_ms)) return absl::DeadlineExceededError("receive timed out");
  }
}

absl::Status ReceiveExact(int fd, MutableByteSpan out, int64_t deadline_ms) {
  size_t off = 0;
  while (off < out.size()) {
    absl::StatusOr<size_t> n = ReceiveSome(fd, out.subspan(off), deadline_ms);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::UnavailableError("connection closed by peer");
    off += *n;
  }
  return absl::OkStatus();
}

bool PinThreadToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace mtp::tools
