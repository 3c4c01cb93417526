// The fake-TLS domains (-D) as the shards see them: per domain an immutable snapshot of what
// the last probe learned (ServerHello shape) and where rejected connections are piped (the real
// site), republished by the control plane's periodic probe.
//
// Thread ownership: TlsDomainRegistry is built by the control thread before the shards start;
// Publish() is called by the prober (any one thread at a time), Get() by any shard at handshake
// time. A snapshot, once published, never changes; a shard holding one keeps it alive.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "proto/fake_tls_client_hello.h"
#include "proto/fake_tls_server_hello.h"

namespace mtp {

// Everything a shard needs about one -D domain at handshake time.
struct TlsDomainInfo {
  // The -D value, as configured: an exact name or a wildcard "*.base" (MatchSniDomain).
  std::string name;
  TlsDomainProfile profile;  // ServerHello shape (probed, or the fallback)
  bool probed = false;       // profile learned from the real site
  // The real site: domain:443 as resolved (a wildcard's base domain), or the --domain-target
  // override. Invalid when the name could not be resolved: rejected connections are then
  // closed (reference behaviour).
  SocketAddress front;
  // True when `front` came from --domain-target: its port is used for every connection
  // (otherwise connections that arrived on local port 80 are piped to port 80, as the
  // reference does).
  bool front_overridden = false;
  int64_t updated_unix_s = 0;  // when this snapshot was made

  // The address to pipe a rejected connection to, given the local port it arrived on.
  SocketAddress FrontFor(uint16_t local_port) const;
};

class TlsDomainRegistry {
 public:
  // `names`: the -D domains in order (non-empty; [0] is the default domain). Every domain
  // starts with an unprobed snapshot holding `initial_profile` and no front address.
  TlsDomainRegistry(std::vector<std::string> names, const TlsDomainProfile& initial_profile);

  size_t size() const { return names_.size(); }
  // The names in -D order, for ClientHelloConfig::domains. Stable for the registry's lifetime.
  std::span<const std::string> names() const { return names_; }
  // The domain an SNI selects (exact names first, then wildcards in -D order), or nullopt:
  // the same rule ValidateClientHello applies.
  std::optional<size_t> Match(ByteSpan sni) const { return MatchSniDomain(sni, names_); }

  // The current snapshot of domain `index` (< size()). Never null.
  std::shared_ptr<const TlsDomainInfo> Get(size_t index) const;
  // Replaces the snapshot of domain `index`; info->name must equal names()[index].
  void Publish(size_t index, std::shared_ptr<const TlsDomainInfo> info);
  // How many times Publish was called (for tests and logs).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  const std::vector<std::string> names_;
  std::unique_ptr<std::atomic<std::shared_ptr<const TlsDomainInfo>>[]> infos_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace mtp
