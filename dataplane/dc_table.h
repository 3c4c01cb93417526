// Direct mode: where each Telegram DC is reached when the proxy connects clients straight to
// their DC (no middle-end). Built-in production addresses, replaced per DC by --dc-override.
// Negative DC ids (media connections) use the media address of |id| when one is known, else the
// regular one; an override of DC N also redirects -N unless -N has an override of its own.
// Immutable after start-up; shared read-only by every shard.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/socket_address.h"

namespace mtp {

class DcTable {
 public:
  // The built-in table (DC 1-5 and 203, IPv4 and IPv6, port 443).
  static DcTable Production();

  // "ID:HOST:PORT" with HOST an IPv4 literal or a bracketed IPv6 literal; ID may be negative
  // (overrides only media connections of that DC). An override replaces both address families
  // of that id.
  absl::Status AddOverride(std::string_view spec);

  // The address for a client's DC id. `prefer_ipv6` picks the IPv6 entry when there is one.
  // Unknown ids (0, test DCs, …) fall back to DC 2, like the official config's "default 2"
  // (so overriding DC 2 catches them too).
  std::optional<SocketAddress> Lookup(int32_t dc_id, bool prefer_ipv6) const;

 private:
  struct Entry {
    int32_t dc_id;
    SocketAddress address;
    bool override;
  };
  const Entry* Find(int32_t dc_id, bool ipv6) const;

  std::vector<Entry> entries_;
};

}  // namespace mtp
