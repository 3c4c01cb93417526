// SocketAddress: an IPv4/IPv6 socket address value ("ip:port", "[v6]:port") with parsing,
// formatting and IPv4-mapped IPv6 handling.
//
// Thread ownership: plain value type.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mtp {

class SocketAddress {
 public:
  SocketAddress() = default;  // family AF_UNSPEC, length 0

  // "1.2.3.4:443", "[2001:db8::1]:443". A bare IPv6 literal without brackets is rejected
  // (its port separator would be ambiguous).
  static absl::StatusOr<SocketAddress> Parse(std::string_view text);
  // An IP literal (v4 or v6, no brackets) plus a port.
  static absl::StatusOr<SocketAddress> FromIp(std::string_view ip, uint16_t port);
  // Host-order IPv4 address (0x7f000001 = 127.0.0.1).
  static SocketAddress FromIpv4(uint32_t ip_host_order, uint16_t port);
  static SocketAddress FromIpv6(const std::array<uint8_t, 16>& ip, uint16_t port);
  // 0.0.0.0:port or [::]:port.
  static SocketAddress Any(int family, uint16_t port);
  // Copies from a kernel-filled sockaddr; AF_UNSPEC result for other families.
  static SocketAddress FromSockaddr(const sockaddr* addr, socklen_t len);

  int family() const { return storage_.ss_family; }
  bool is_v4() const { return family() == AF_INET; }
  bool is_v6() const { return family() == AF_INET6; }
  bool valid() const { return len_ != 0; }
  uint16_t port() const;
  void set_port(uint16_t port);

  // Host-order IPv4 address; for an IPv4-mapped IPv6 address, the embedded IPv4.
  uint32_t ipv4() const;
  // ::ffff:a.b.c.d
  bool is_v4_mapped() const;
  // The IPv4 form of an IPv4-mapped IPv6 address; otherwise a copy of *this.
  SocketAddress Unmapped() const;
  // The IPv4-mapped IPv6 form of an IPv4 address (for dual-stack sockets); else a copy.
  SocketAddress MappedToV6() const;
  std::array<uint8_t, 16> ipv6() const;  // v6 bytes (v4 addresses come back mapped)

  // "1.2.3.4:443" / "[::1]:443"; IpString() without the port and brackets.
  std::string ToString() const;
  std::string IpString() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* mutable_sockaddr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return len_; }

  friend bool operator==(const SocketAddress& a, const SocketAddress& b);

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// Addresses of a connected/bound socket.
absl::StatusOr<SocketAddress> LocalAddress(int fd);
absl::StatusOr<SocketAddress> PeerAddress(int fd);

}  // namespace mtp
