// Where the stats port listens and who may read it: --stats-bind ADDR[:PORT]
// and
// --stats-allow CIDR[,CIDR...] parsing, and the allowlist the HTTP server
// checks for every accepted peer.
//
// Plain values: parsed once on the control thread, then read-only (the server
// polls on the control thread too).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/cidr_set.h"

namespace mtp {

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
// blocks (parsed by CidrSet, the same parser as the client IP lists).
class StatsAllowlist {
 public:
  StatsAllowlist() = default;
  explicit StatsAllowlist(CidrSet extra) : extra_(std::move(extra)) {}
  bool Allows(const sockaddr_storage &peer) const;

 private:
  CidrSet extra_;
};

// The --stats-allow text (comma-joined items of every occurrence, as ParsedCommandLine keeps
// it) as a set; "" is the empty set. Errors read "--stats-allow: <what>".
absl::StatusOr<CidrSet> ParseStatsAllow(std::string_view text);

}  // namespace mtp
