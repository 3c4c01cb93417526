// SocketAddress parsing/formatting and getsockname/getpeername wrappers.
#include "core/socket_address.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mtp {
namespace {

const sockaddr_in* V4(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr_in*>(&s);
}
const sockaddr_in6* V6(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr_in6*>(&s);
}

bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

SocketAddress SocketAddress::FromIpv4(uint32_t ip_host_order, uint16_t port) {
  SocketAddress a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(ip_host_order);
  a.len_ = sizeof(sockaddr_in);
  return a;
}

SocketAddress SocketAddress::FromIpv6(const std::array<uint8_t, 16>& ip, uint16_t port) {
  SocketAddress a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, ip.data(), 16);
  a.len_ = sizeof(sockaddr_in6);
  return a;
}

SocketAddress SocketAddress::Any(int family, uint16_t port) {
  if (family == AF_INET6) return FromIpv6({}, port);
  return FromIpv4(INADDR_ANY, port);
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* addr, socklen_t len) {
  SocketAddress a;
  if (addr == nullptr) return a;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&a.storage_, addr, sizeof(sockaddr_in));
    a.len_ = sizeof(sockaddr_in);
  } else if (addr->sa_family == AF_INET6 &&
             len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&a.storage_, addr, sizeof(sockaddr_in6));
    a.len_ = sizeof(sockaddr_in6);
  }
  return a;
}

absl::StatusOr<SocketAddress> SocketAddress::FromIp(std::string_view ip, uint16_t port) {
  if (ip.size() >= INET6_ADDRSTRLEN) {
    return absl::InvalidArgumentError(absl::StrFormat("bad IP address '%s'", ip));
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  in_addr v4;
  if (inet_pton(AF_INET, buf, &v4) == 1) return FromIpv4(ntohl(v4.s_addr), port);
  std::array<uint8_t, 16> v6;
  if (inet_pton(AF_INET6, buf, v6.data()) == 1) return FromIpv6(v6, port);
  return absl::InvalidArgumentError(absl::StrFormat("bad IP address '%s'", ip));
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrFormat("bad address '%s': want [ip6]:port", text));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat("bad address '%s': not IPv6", text));
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bad address '%s': want ip:port or [ip6]:port", text));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint16_t port = 0;
  if (!ParsePort(port_text, &port)) {
    return absl::InvalidArgumentError(absl::StrFormat("bad port in '%s'", text));
  }
  return FromIp(host, port);
}

uint16_t SocketAddress::port() const {
  if (is_v4()) return ntohs(V4(storage_)->sin_port);
  if (is_v6()) return ntohs(V6(storage_)->sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (is_v4()) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (is_v6()) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

bool SocketAddress::is_v4_mapped() const {
  return is_v6() && IN6_IS_ADDR_V4MAPPED(&V6(storage_)->sin6_addr);
}

uint32_t SocketAddress::ipv4() const {
  if (is_v4()) return ntohl(V4(storage_)->sin_addr.s_addr);
  if (is_v4_mapped()) {
    uint32_t v;
    std::memcpy(&v, V6(storage_)->sin6_addr.s6_addr + 12, 4);
    return ntohl(v);
  }
  return 0;
}

std::array<uint8_t, 16> SocketAddress::ipv6() const {
  std::array<uint8_t, 16> out{};
  if (is_v6()) {
    std::memcpy(out.data(), &V6(storage_)->sin6_addr, 16);
  } else if (is_v4()) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &V4(storage_)->sin_addr.s_addr, 4);
  }
  return out;
}

SocketAddress SocketAddress::Unmapped() const {
  if (!is_v4_mapped()) return *this;
  return FromIpv4(ipv4(), port());
}

SocketAddress SocketAddress::MappedToV6() const {
  if (!is_v4()) return *this;
  return FromIpv6(ipv6(), port());
}

std::string SocketAddress::IpString() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (is_v4()) {
    inet_ntop(AF_INET, &V4(storage_)->sin_addr, buf, sizeof(buf));
  } else if (is_v6()) {
    inet_ntop(AF_INET6, &V6(storage_)->sin6_addr, buf, sizeof(buf));
  } else {
    return "?";
  }
  return buf;
}

std::string SocketAddress::ToString() const {
  if (is_v6()) return absl::StrFormat("[%s]:%u", IpString(), port());
  return absl::StrFormat("%s:%u", IpString(), port());
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.is_v4()) return a.ipv4() == b.ipv4();
  if (a.is_v6()) return a.ipv6() == b.ipv6();
  return a.len_ == b.len_;
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InternalError(absl::StrFormat("getsockname: %s", strerror(errno)));
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<SocketAddress> PeerAddress(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InternalError(absl::StrFormat("getpeername: %s", strerror(errno)));
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace mtp
