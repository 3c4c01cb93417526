// FakeTlsRuntime: start-up probing and the objects the shards share.
#include "control/fake_tls_runtime.h"

#include "core/log.h"

namespace mtp {
namespace {

// JA4 fingerprints exported in /metrics (the most frequent of the tracked ones).
constexpr size_t kJa4Exported = 20;

}  // namespace

FakeTlsOptions FakeTlsOptionsFrom(const ParsedCommandLine& cli) {
  FakeTlsOptions o;
  o.domains = cli.domains;
  for (const DomainTarget& t : cli.domain_targets) {
    o.targets.push_back(DomainSpec{t.domain, t.host, t.port});
  }
  o.record_sizing = cli.tls_record_policy == TlsRecordPolicy::kReference
                        ? TlsRecordSizing::kReference
                        : TlsRecordSizing::kAdaptive;
  o.probe_interval_s = cli.tls_probe_interval_s;
  o.replay_cache_entries = static_cast<size_t>(cli.tls_replay_cache_size);
  o.handshake_fragment_bytes = static_cast<uint32_t>(cli.tls_handshake_fragment_bytes);
  o.pq_follow_site = cli.tls_pq_follow_site;
  return o;
}

absl::StatusOr<std::unique_ptr<FakeTlsRuntime>> FakeTlsRuntime::Start(
    const FakeTlsOptions& options, std::unique_ptr<HostResolver> resolver) {
  if (options.domains.empty()) return absl::InvalidArgumentError("no -D domain");
  std::unique_ptr<FakeTlsRuntime> rt(new FakeTlsRuntime());
  rt->options_ = options;
  rt->replay_cache_ = std::make_unique<SharedReplayCache>(
      SharedReplayCacheOptions{.slots = options.replay_cache_entries});
  rt->registry_ =
      std::make_unique<TlsDomainRegistry>(options.domains, FallbackDomainProfile());
  std::vector<DomainSpec> specs;
  for (const std::string& name : options.domains) {
    DomainSpec spec{name, std::nullopt, 443};
    for (const DomainSpec& t : options.targets) {
      if (t.name == name) spec = t;
    }
    specs.push_back(spec);
  }
  DomainProbeOptions probe = options.probe;
  probe.refresh_interval_s = options.probe_interval_s;
  rt->prober_ = std::make_unique<DomainProber>(*rt->registry_, std::move(specs), probe,
                                               std::move(resolver));
  rt->prober_->ProbeAllNow();
  MTP_LOG(0, "fake-TLS: %zu domain(s), replay cache of %zu entries (%zu KiB)",
          options.domains.size(), rt->replay_cache_->capacity(),
          rt->replay_cache_->memory_bytes() / 1024);
  return rt;
}

FakeTlsRuntime::~FakeTlsRuntime() { Stop(); }

FakeTlsConfig FakeTlsRuntime::ShardConfig() const {
  FakeTlsConfig c;
  c.domains = options_.domains;
  c.registry = registry_.get();
  c.replay_cache = replay_cache_.get();
  c.ja4_counter = ja4_counter_.get();
  c.record_sizing = options_.record_sizing;
  c.handshake_fragment_bytes = options_.handshake_fragment_bytes;
  c.pq_follow_site = options_.pq_follow_site;
  return c;
}

void FakeTlsRuntime::FillStats(const CounterSnapshot& c, StatsSnapshot& out) const {
  auto& t = out.fake_tls;
  t.enabled = true;
  t.domains = static_cast<int64_t>(registry_->size());
  t.domains_probed = 0;
  for (size_t i = 0; i < registry_->size(); ++i) t.domains_probed += registry_->Get(i)->probed;
  auto v = [](uint64_t x) { return static_cast<int64_t>(x); };
  t.handshakes_accepted = v(c.tls_handshakes_accepted);
  t.fronted = v(c.tls_fronted);
  t.fronted_by_reason = {
      {"not_tls", v(c.tls_fronted_not_tls)},
      {"bad_sni", v(c.tls_fronted_bad_sni)},
      {"unknown_sni", v(c.tls_fronted_unknown_sni)},
      {"port80", v(c.tls_fronted_port80)},
      {"extra_bytes", v(c.tls_fronted_extra_bytes)},
      {"too_big", v(c.tls_fronted_too_big)},
      {"replay", v(c.tls_fronted_replay)},
      {"bad_digest", v(c.tls_fronted_bad_digest)},
      {"bad_timestamp", v(c.tls_fronted_bad_timestamp)},
      {"no_tls13_cipher", v(c.tls_fronted_no_tls13_cipher)},
      {"timeout", v(c.tls_fronted_timeout)},
      {"bad_inner_tag", v(c.tls_fronted_bad_inner_tag)},
      {"bad_fragments", v(c.tls_fronted_bad_fragments)},
      {"access_denied", v(c.tls_fronted_access_denied)},
  };
  t.handshake_failures_by_stage = {
      {"first_bytes", v(c.tls_failed_first_bytes)},
      {"client_hello", v(c.tls_failed_client_hello)},
      {"timestamp", v(c.tls_failed_timestamp)},
      {"replay", v(c.tls_failed_replay)},
      {"inner_header", v(c.tls_failed_inner_header)},
      {"upstream", v(c.tls_failed_upstream)},
  };
  t.client_hellos_by_ja4.clear();
  for (const auto& [ja4, count] : ja4_counter_->Top(kJa4Exported)) {
    t.client_hellos_by_ja4.push_back({ja4, v(count)});
  }
  t.front_failed = v(c.tls_front_failed);
  t.fronting_active = v(c.tls_fronting_active);
  t.bad_records = v(c.tls_bad_records);
  t.front_bytes_in = v(c.tls_front_bytes_in);
  t.front_bytes_out = v(c.tls_front_bytes_out);
  const SharedReplayCache::Stats r = replay_cache_->stats();
  t.replay_cache_capacity = static_cast<int64_t>(replay_cache_->capacity());
  t.replay_cache_inserts = v(r.inserts);
  t.replay_cache_replays = v(r.replays);
  t.replay_cache_evictions = v(r.evictions);
  t.replay_cache_young_evictions = v(r.young_evictions);
  t.replay_cache_contended = v(r.contended);
}

void FakeTlsRuntime::StartRefresh() {
  if (prober_) prober_->StartRefresh();
}

void FakeTlsRuntime::Stop() {
  if (prober_) prober_->Stop();
}

}  // namespace mtp
