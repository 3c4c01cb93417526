// Where the stats port listens and who may read it: --stats-bind ADDR[:PORT]
// and
// --stats-allow CIDR[,CIDR...] parsing, and the allowlist the HTTP server
// checks for every accepted peer.
//
// Plain values: parsed once on the control thread, then read-only (the server
// polls on the control thread too).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mtp {

// An address block. IPv4 blocks are kept in their IPv4-mapped IPv6 form
// (::ffff:a.b.c.d/96+n) so one comparison serves IPv4 peers, IPv4-mapped peers
// of a dual-stack socket and IPv6 peers.
struct IpCidr {
  std::array<uint8_t, 16> prefix{};  // bits past prefix_bits are zero
  int prefix_bits = 0;               // 0..128, in the IPv6 form
  bool ipv4 = false;                 // written as IPv4 (for ToString)

  // "10.0.0.0/8", "192.0.2.7/32"; "2001:db8::/32"; "::1/128" in the same form.
  std::string ToString() const;
  friend bool operator==(const IpCidr &, const IpCidr &) = default;
};

// "A.B.C.D[/N]" (N 0..32, default 32) or an IPv6 literal with an optional "/N"
// (0..128, default 128). Host bits set below the prefix are an error (a typo
// like 10.0.0.1/8 is caught).
absl::StatusOr<IpCidr> ParseCidr(std::string_view text);
// Comma-separated ParseCidr list; empty items are an error.
absl::StatusOr<std::vector<IpCidr>> ParseCidrList(std::string_view text);

// --stats-bind: the listening address and, optionally, the port (overriding
// -p).
struct StatsBind {
  std::string ip;  // an IPv4 or IPv6 literal, no brackets
  bool ipv6 = false;
  std::optional<uint16_t> port;
  friend bool operator==(const StatsBind &, const StatsBind &) = default;
};
// "0.0.0.0", "10.1.2.3:9100", "::", "[::]:9100", "[2001:db8::5]". A bare IPv6
// literal takes no port (its colons would be ambiguous).
absl::StatusOr<StatsBind> ParseStatsBind(std::string_view text);

// The peers that may read the stats port: loopback (127.0.0.1,
// ::ffff:127.0.0.1, ::1; the reference's rule) always, plus the --stats-allow
// blocks.
class StatsAllowlist {
 public:
  StatsAllowlist() = default;
  explicit StatsAllowlist(std::vector<IpCidr> extra) : extra_(std::move(extra)) {}
  bool Allows(const sockaddr_storage &peer) const;
  const std::vector<IpCidr> &extra() const { return extra_; }

 private:
  std::vector<IpCidr> extra_;
};

// True when `address` (16 bytes, IPv6 form) lies in `cidr`.
bool CidrContains(const IpCidr &cidr, const std::array<uint8_t, 16> &address);

}  // namespace mtp
