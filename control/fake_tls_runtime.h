// The process's fake-TLS runtime (-D): the shared replay filter, the per-domain registry the
// shards read, and the prober that fills and refreshes it; plus the translation of the command
// line into the shards' FakeTlsConfig.
//
// Thread ownership: created and destroyed by the control thread, before the shards start and
// after they stop; the objects it hands to the shards are thread-safe (see their headers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/cli.h"
#include "control/domain_probe.h"
#include "control/proxy_config.h"
#include "control/stats_render.h"
#include "dataplane/replay_cache.h"
#include "dataplane/shard_counters.h"
#include "dataplane/tls_domains.h"
#include "dataplane/tls_layer.h"

namespace mtp {

struct FakeTlsOptions {
  std::vector<std::string> domains;  // -D, in order (empty = fake-TLS off)
  std::vector<DomainSpec> targets;   // --domain-target overrides (by name; others: name:443)
  TlsRecordSizing record_sizing = TlsRecordSizing::kAdaptive;  // --tls-record-policy
  int64_t probe_interval_s = 6 * 3600;                         // --tls-probe-interval
  size_t replay_cache_entries = size_t{1} << 20;               // --tls-replay-cache-size
  uint32_t handshake_fragment_bytes = 0;                       // --tls-handshake-fragment
  bool pq_follow_site = false;                                 // --tls-pq-follow-site
  DomainProbeOptions probe;  // connections / deadline (tests shorten them)
};

// The command line's -D, --domain-target, --tls-record-policy, --tls-probe-interval,
// --tls-replay-cache-size, --tls-handshake-fragment and --tls-pq-follow-site.
FakeTlsOptions FakeTlsOptionsFrom(const ParsedCommandLine& cli);

class FakeTlsRuntime {
 public:
  // Builds the registry and replay cache and probes every domain once (blocking, up to the
  // probe deadline per domain), as the reference does before it starts serving.
  static absl::StatusOr<std::unique_ptr<FakeTlsRuntime>> Start(
      const FakeTlsOptions& options, std::unique_ptr<HostResolver> resolver);
  ~FakeTlsRuntime();

  // The shards' view (pointers stay valid for the runtime's lifetime).
  FakeTlsConfig ShardConfig() const;
  // Starts the periodic re-probe (no-op with probe_interval_s == 0).
  void StartRefresh();
  void Stop();

  // Fills out.fake_tls from the shards' summed counters, the registry and the replay cache.
  void FillStats(const CounterSnapshot& counters, StatsSnapshot& out) const;

  const SharedReplayCache& replay_cache() const { return *replay_cache_; }
  const TlsDomainRegistry& registry() const { return *registry_; }

 private:
  FakeTlsRuntime() = default;

  FakeTlsOptions options_;
  std::unique_ptr<SharedReplayCache> replay_cache_;
  std::unique_ptr<Ja4Counter> ja4_counter_ = std::make_unique<Ja4Counter>();
  std::unique_ptr<TlsDomainRegistry> registry_;
  std::unique_ptr<DomainProber> prober_;
};

}  // namespace mtp
