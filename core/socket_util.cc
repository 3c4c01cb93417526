// Listening and outbound socket creation with the proxy's socket options.
#include "core/socket_util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mtp {
namespace {

absl::Status Errno(const char* what, const SocketAddress* addr = nullptr) {
  int err = errno;
  std::string msg = addr != nullptr
                        ? absl::StrFormat("%s %s: %s", what, addr->ToString(), strerror(err))
                        : absl::StrFormat("%s: %s", what, strerror(err));
  if (err == EADDRINUSE) return absl::AlreadyExistsError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::InternalError(msg);
}

absl::Status SetIntOption(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) return Errno(what);
  return absl::OkStatus();
}

// Closes the fd unless released; keeps error paths short.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace

absl::Status SetNoDelay(int fd, bool on) {
  return SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "setsockopt(TCP_NODELAY)");
}

absl::Status SetWindowClamp(int fd, int bytes) {
  return SetIntOption(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, bytes, "setsockopt(TCP_WINDOW_CLAMP)");
}

absl::Status SetLingerReset(int fd) {
  const linger l{.l_onoff = 1, .l_linger = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0) {
    return Errno("setsockopt(SO_LINGER)");
  }
  return absl::OkStatus();
}

absl::Status SetKeepAlive(int fd, int idle_s, int interval_s, int count) {
  absl::Status s = SetIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "setsockopt(SO_KEEPALIVE)");
  if (s.ok()) s = SetIntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s, "setsockopt(TCP_KEEPIDLE)");
  if (s.ok()) {
    s = SetIntOption(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s, "setsockopt(TCP_KEEPINTVL)");
  }
  if (s.ok()) s = SetIntOption(fd, IPPROTO_TCP, TCP_KEEPCNT, count, "setsockopt(TCP_KEEPCNT)");
  return s;
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

absl::StatusOr<int> CreateListenSocket(const ListenOptions& options) {
  const SocketAddress& addr = options.address;
  if (!addr.valid()) return absl::InvalidArgumentError("listen address not set");
  if (options.dual_stack && !addr.is_v6()) {
    return absl::InvalidArgumentError("dual-stack listener needs an IPv6 address ([::]:port)");
  }
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  FdGuard guard(fd);
  absl::Status s = SetIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
  if (s.ok() && options.reuse_port) {
    s = SetIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
  }
  if (s.ok() && addr.is_v6()) {
    s = SetIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.dual_stack ? 0 : 1,
                     "setsockopt(IPV6_V6ONLY)");
  }
  if (s.ok() && options.no_delay) s = SetNoDelay(fd, true);
  if (s.ok() && options.window_clamp_bytes > 0) {
    s = SetWindowClamp(fd, options.window_clamp_bytes);
  }
  if (s.ok() && options.max_segment_bytes > 0) {
    s = SetIntOption(fd, IPPROTO_TCP, TCP_MAXSEG, options.max_segment_bytes,
                     "setsockopt(TCP_MAXSEG)");
  }
  if (!s.ok()) return s;
  if (bind(fd, addr.sockaddr_ptr(), addr.length()) != 0) return Errno("bind", &addr);
  if (listen(fd, options.backlog) != 0) return Errno("listen", &addr);
  return guard.Release();
}

absl::StatusOr<int> CreateOutboundSocket(int family, const OutboundOptions& options) {
  if (family != AF_INET && family != AF_INET6) {
    return absl::InvalidArgumentError("outbound socket family must be AF_INET or AF_INET6");
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  FdGuard guard(fd);
  absl::Status s;
  if (options.no_delay) s = SetNoDelay(fd, true);
  if (s.ok() && options.keepalive) {
    s = SetKeepAlive(fd, options.keepalive_idle_s, options.keepalive_interval_s,
                     options.keepalive_count);
  }
  if (!s.ok()) return s;
  if (options.bind_address.has_value()) {
    SocketAddress local = *options.bind_address;
    if (local.family() != family) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bind address %s does not match the socket family", local.ToString()));
    }
    local.set_port(0);
    // Defer the source port choice to connect() so ports are shared across destinations
    // (many upstream connections from one bind address would otherwise exhaust them).
    int on = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
    if (bind(fd, local.sockaddr_ptr(), local.length()) != 0) return Errno("bind", &local);
  }
  return guard.Release();
}

}  // namespace mtp
