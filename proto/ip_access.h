// IpAccessLists: the allow and block lists checked at accept, as one immutable value. Built by
// the control thread (control/ip_lists.h loads the files) and handed to every shard as a
// shared_ptr<const IpAccessLists>; a reload builds a new value and never edits a published one.
// Check() is const and allocation-free: any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/socket_address.h"
#include "proto/cidr_set.h"

namespace mtp {

enum class IpAccessVerdict : uint8_t {
  kAllowed,
  kBlocked,     // in the block list
  kNotAllowed,  // an allow list is in force and the address is not in it
};

// Stable lower-case name for logs and counter labels ("blocked", "not_allowed").
std::string_view IpAccessVerdictName(IpAccessVerdict verdict);

struct IpAccessLists {
  std::optional<CidrSet> allow;  // none: every address not blocked is allowed
  CidrSet block;                 // empty: nothing blocked
  uint64_t generation = 0;       // 1 for the start-up load, +1 per successful reload

  // The block list wins over the allow list. Pass the client's address as the connection
  // ends up using it: after a PROXY header from a trusted balancer, the header's source.
  IpAccessVerdict Check(const SocketAddress& client) const {
    if (block.Contains(client)) return IpAccessVerdict::kBlocked;
    if (allow && !allow->Contains(client)) return IpAccessVerdict::kNotAllowed;
    return IpAccessVerdict::kAllowed;
  }
};

inline std::string_view IpAccessVerdictName(IpAccessVerdict verdict) {
  switch (verdict) {
    case IpAccessVerdict::kAllowed: return "allowed";
    case IpAccessVerdict::kBlocked: return "blocked";
    case IpAccessVerdict::kNotAllowed: return "not_allowed";
  }
  return "unknown";
}

}  // namespace mtp
