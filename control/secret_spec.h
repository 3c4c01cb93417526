// SecretLimitsSpec: the limits a TOML [[secret]] table may set for a named secret
// (max-connections, max-unique-ips + unique-ips-window, quota-bytes, expires, enabled), as
// parsed and validated by control/toml_config.cc. Plain data; the control thread enforces them
// (control/secret_limits.h).
#pragma once

#include <cstdint>

namespace mtp {

inline constexpr uint32_t kDefaultUniqueIpsWindowS = 300;

struct SecretLimitsSpec {
  uint32_t max_connections = 0;  // open client connections at once, over all shards; 0 = none
  uint32_t max_unique_ips = 0;   // distinct client addresses within the window; 0 = none
  uint32_t unique_ips_window_s = kDefaultUniqueIpsWindowS;
  uint64_t quota_bytes = 0;  // client bytes, both directions, kept across restarts; 0 = none
  int64_t expires_unix = 0;  // from this second on the secret is refused; 0 = never
  bool enabled = true;       // false: refused (its clients closed, or drained)

  bool any() const {
    return max_connections != 0 || max_unique_ips != 0 || quota_bytes != 0 ||
           expires_unix != 0 || !enabled;
  }
  bool operator==(const SecretLimitsSpec&) const = default;
};

}  // namespace mtp
