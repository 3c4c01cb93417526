// Socket creation helpers: listening sockets (one per shard per port with SO_REUSEPORT,
// dual-stack for -6) and non-blocking outbound sockets with the proxy's TCP options.
//
// Thread ownership: stateless functions, callable from any thread (control plane: they make
// blocking-free but syscall-heavy setup calls, not meant for the per-packet path).
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/socket_address.h"

namespace mtp {

struct ListenOptions {
  // Bind address. For a dual-stack listener ("-6") pass [::]:port with dual_stack = true.
  SocketAddress address = SocketAddress::Any(AF_INET, 0);
  bool dual_stack = false;       // AF_INET6 only: IPV6_V6ONLY = 0 (accept IPv4 as ::ffff:a.b.c.d)
  bool reuse_port = true;        // SO_REUSEPORT: one listener per shard on the same port
  int backlog = 8192;            // listen(2) backlog (reference default -b 8192)
  int window_clamp_bytes = 0;    // TCP_WINDOW_CLAMP when > 0 (inherited by accepted sockets)
  bool no_delay = true;          // TCP_NODELAY (inherited by accepted sockets)
  // TCP_MAXSEG before listen when > 0: the SYN-ACK advertises at most this MSS and accepted
  // sockets send segments of at most this size (--client-mss).
  int max_segment_bytes = 0;
};

// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; non-blocking, close-on-exec.
absl::StatusOr<int> CreateListenSocket(const ListenOptions& options);

struct OutboundOptions {
  std::optional<SocketAddress> bind_address;  // --address: source IP (port 0)
  bool no_delay = true;
  bool keepalive = true;          // SO_KEEPALIVE with the idle/interval/count below
  int keepalive_idle_s = 40;
  int keepalive_interval_s = 40;
  int keepalive_count = 5;
};

// A non-blocking, close-on-exec TCP socket of `family` ready for IoEngine::Connect.
absl::StatusOr<int> CreateOutboundSocket(int family, const OutboundOptions& options);

// Per-socket options applied to accepted client sockets (window clamp is not always
// inherited from the listener on every kernel, so the dataplane may re-apply it).
absl::Status SetNoDelay(int fd, bool on);
absl::Status SetWindowClamp(int fd, int bytes);
absl::Status SetKeepAlive(int fd, int idle_s, int interval_s, int count);

// SO_LINGER {on, 0 s}: the next close(2) of `fd` drops unsent data and sends a TCP RST instead
// of a FIN (--tls-reject-rst: a rejected connection ends the way a firewall or a crashed server
// ends it, not with an orderly shutdown). Set it right before closing.
absl::Status SetLingerReset(int fd);

// Pending socket error (SO_ERROR) as a positive errno, 0 if none.
int SocketError(int fd);

}  // namespace mtp
