// CidrSet: an immutable set of IPv4 and IPv6 prefixes (allow / block lists, the trusted PROXY
// protocol senders) with an O(log n) membership test for a peer address.
//
// Thread ownership: built once (control thread), then read-only; Contains() is const and
// allocation-free, so any number of shards may share one set (through a shared_ptr<const>).
//
// Matching rules:
//  * an IPv4 client, and an IPv4-mapped IPv6 client (::ffff:a.b.c.d, what a dual-stack
//    listener reports for IPv4), are looked up in the IPv4 entries;
//  * an IPv6 entry inside ::ffff:0:0/96 is stored as the IPv4 prefix it maps, and an IPv6
//    entry that covers all of ::ffff:0:0/96 (such as ::/0) also covers every IPv4 address, so
//    an address matches the same entries whichever form the socket gave it in;
//  * the port is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/socket_address.h"

namespace mtp {

class CidrSet {
 public:
  CidrSet() = default;  // empty: contains nothing

  // A list file's text: one address ("192.0.2.7", "2001:db8::1") or prefix ("10.0.0.0/8",
  // "2001:db8::/32") per line; '#' starts a comment; blank lines and surrounding spaces,
  // tabs and CRs are ignored. A prefix with bits set past its length is refused (the likely
  // typo "10.0.0.1/8" would silently mean 10.0.0.0/8). Errors read
  // "<source_name>:<line>: <what>" and name the offending text.
  static absl::StatusOr<CidrSet> ParseText(std::string_view text, std::string_view source_name);
  // A comma-separated list on the command line ("10.0.0.0/8,::1"); empty items are refused.
  // Errors read "<source_name>: <what>".
  static absl::StatusOr<CidrSet> ParseCommaList(std::string_view text,
                                                std::string_view source_name);

  bool Contains(const SocketAddress& address) const;
  // Host-order IPv4 address.
  bool ContainsIpv4(uint32_t ip) const;

  bool empty() const { return v4_.empty() && v6_.empty(); }
  // Entries as written (before overlapping ones are merged), for start-up and reload logs.
  size_t entry_count() const { return entries_; }
  // Disjoint ranges after merging (what a lookup searches).
  size_t range_count() const { return v4_.size() + v6_.size(); }

 private:
  struct Range4 {
    uint32_t first;
    uint32_t last;
  };
  struct Range6 {
    unsigned __int128 first;
    unsigned __int128 last;
  };

  absl::Status AddEntry(std::string_view text);
  void Finish();

  std::vector<Range4> v4_;  // sorted by first, disjoint, non-adjacent
  // Same. Ranges may overlap ::ffff:0:0/96, but mapped addresses are looked up in v4_ only
  // (which holds that overlap too).
  std::vector<Range6> v6_;
  size_t entries_ = 0;
};

}  // namespace mtp
