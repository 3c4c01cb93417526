// LiveConfig: the part of the shards' configuration a reload (SIGHUP) may change — client
// secrets, the middle-end routing table and the proxy secret. Built by the control thread,
// immutable once published, shared read-only by every shard; a shard adopts a new one at a
// quiet point of its loop (between completion batches) and acknowledges its generation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crypto/secret.h"
#include "dataplane/me/me_routing.h"
#include "proto/ip_access.h"

namespace mtp {

struct LiveConfig {
  uint64_t generation = 1;            // the control plane's config generation
  std::vector<ClientSecret> secrets;  // at most 16; empty = no-secret derivation
  // Operator names of the secrets (TOML [[secret]] name), same length; "" = unnamed. Read by
  // the control thread for the /metrics labels; the shards never look at them.
  std::vector<std::string> secret_names;
  // The limit slot of each secret (session/secret_admission.h), -1 = no limits; empty = none.
  std::vector<int8_t> secret_slots;
  MeRouting routing;                  // ME mode
  std::vector<uint8_t> proxy_secret;  // --aes-pwd content (32..256 bytes), ME mode
  // --allow-list / --block-list, checked at accept (or after a PROXY header); null = none.
  std::shared_ptr<const IpAccessLists> ip_access;
};

}  // namespace mtp
