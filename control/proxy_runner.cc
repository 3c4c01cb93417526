// Command line + files -> DataplaneConfig / LiveConfig, and the pinned shard threads.
#include "control/proxy_runner.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/links.h"
#include "control/proxy_config.h"
#include "control/upstream_socks5_config.h"
#include "dataplane/upstream_socks5.h"
#include "core/cpu_set.h"
#include "core/log.h"

namespace mtp {
namespace {

uint32_t FloorPow2(uint64_t v) {
  uint32_t p = 1;
  while (uint64_t{p} * 2 <= v && p < (1u << 30)) p *= 2;
  return p;
}

SocketAddress ToSocketAddress(const ResolvedAddress& a, uint16_t port) {
  return a.is_ipv6() ? SocketAddress::FromIpv6(a.bytes, port)
                     : SocketAddress::FromIpv4(a.ipv4_host_order(), port);
}

uint32_t LinkSlotsNeeded(const MeRouting& routing) {
  uint32_t n = 0;
  for (const MeTargetSpec& t : routing.targets()) n += std::max(t.max_connections, 1u);
  return std::max(n, 1u);
}

// The reference's buffer chunk (stats-and-ops.md §2.3), rounded to the nearest whole chunk.
int64_t ReferenceChunks(int64_t bytes) {
  constexpr int64_t kChunkBytes = 2097088;
  return (bytes + kChunkBytes / 2) / kChunkBytes;
}

// --dc-override HOST may be a name; the DC table takes literals.
absl::Status AddDcOverride(DcTable& table, const DcOverride& o) {
  std::optional<ResolvedAddress> address = ResolvedAddress::FromLiteral(o.host);
  if (!address) {
    SystemHostResolver resolver;
    address = resolver.Resolve(o.host);
  }
  if (!address) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--dc-override: cannot resolve '%s'", o.host));
  }
  std::string host = address->ToString();
  if (address->is_ipv6()) host = absl::StrCat("[", host, "]");
  return table.AddOverride(absl::StrCat(o.dc_id, ":", host, ":", o.port));
}

}  // namespace

uint32_t ChooseShardCount(const ParsedCommandLine& cli, size_t cpu_count) {
  size_t n = cli.shards > 0 ? static_cast<size_t>(cli.shards)
             : cli.workers > 0 ? static_cast<size_t>(cli.workers)
                               : std::max<size_t>(cpu_count, 1);
  return static_cast<uint32_t>(std::min<size_t>(n, kMaxShards));
}

uint32_t ChoosePidIpv4(const ParsedCommandLine& cli) {
  if (cli.bind_ipv4 && (*cli.bind_ipv4 >> 24) == 10) return *cli.bind_ipv4;
  return DetectLocalIpv4().value_or(0);
}

absl::StatusOr<std::shared_ptr<const LiveConfig>> BuildLiveConfig(const ConfigSnapshot& snapshot) {
  auto live = std::make_shared<LiveConfig>();
  live->generation = snapshot.generation;
  live->secrets = snapshot.secrets;
  live->secret_names = snapshot.secret_names;
  live->secret_names.resize(live->secrets.size());
  if (snapshot.proxy_config) {
    const ProxyConfig& pc = *snapshot.proxy_config;
    for (const MeCluster& cluster : pc.clusters) {
      for (uint32_t index : cluster.target_indexes) {
        const MeTarget& t = pc.target(index);
        live->routing.Add(cluster.id, ToSocketAddress(t.address, t.port),
                          static_cast<uint32_t>(t.min_connections),
                          static_cast<uint32_t>(t.max_connections));
      }
    }
    live->routing.SetDefault(pc.default_cluster_id);
  }
  if (snapshot.proxy_secret) {
    ByteSpan bytes = snapshot.proxy_secret->bytes();
    live->proxy_secret.assign(bytes.begin(), bytes.end());
  }
  live->ip_access = snapshot.ip_access;
  return std::shared_ptr<const LiveConfig>(std::move(live));
}

absl::StatusOr<std::unique_ptr<DataplaneConfig>> BuildDataplaneConfig(
    const ParsedCommandLine& cli, const ConfigSnapshot& snapshot, const StartupFacts& facts) {
  auto config = std::make_unique<DataplaneConfig>();
  DataplaneConfig& c = *config;

  absl::StatusOr<std::shared_ptr<const LiveConfig>> live = BuildLiveConfig(snapshot);
  if (!live.ok()) return live.status();
  c.config_generation = (*live)->generation;
  c.secrets = (*live)->secrets;
  c.secret_names = (*live)->secret_names;
  c.routing = (*live)->routing;
  c.proxy_secret = (*live)->proxy_secret;
  c.ip_access = (*live)->ip_access;
  c.ad_tag = cli.proxy_tag;
  if (cli.proxy_protocol) {
    absl::StatusOr<CidrSet> trusted = ProxyProtocolTrustedSet(cli);
    if (!trusted.ok()) return trusted.status();
    c.proxy_protocol = true;
    c.proxy_protocol_timeout_ms = static_cast<uint32_t>(cli.proxy_protocol_timeout_ms);
    c.proxy_protocol_trusted = std::make_shared<const CidrSet>(*std::move(trusted));
  }

  if (cli.upstream_socks5) {
    absl::StatusOr<DataplaneConfig::UpstreamSocks5> socks = LoadUpstreamSocks5(cli);
    if (!socks.ok()) return socks.status();
    c.upstream_socks5 = *std::move(socks);
  }

  std::optional<SocketAddress> bind_v4;
  if (cli.bind_ipv4) {
    bind_v4 = SocketAddress::FromIpv4(*cli.bind_ipv4, 0);
    c.outbound_bind = *bind_v4;
  }
  for (uint16_t port : cli.client_ports) {
    ListenerSpec spec;
    if (cli.ipv6) {
      spec.address = SocketAddress::Any(AF_INET6, port);
      spec.dual_stack = true;
    } else if (bind_v4) {
      spec.address = *bind_v4;
      spec.address.set_port(port);
    } else {
      spec.address = SocketAddress::Any(AF_INET, port);
    }
    c.listeners.push_back(spec);
  }
  c.backlog = cli.backlog;
  c.window_clamp_bytes = cli.EffectiveWindowClamp();
  c.client_mss = cli.client_mss;
  c.max_connections = static_cast<uint32_t>(std::max(facts.max_connections, 1));
  c.max_client_connections = static_cast<uint32_t>(
      std::clamp(facts.max_special_connections, 1, facts.max_connections));

  for (const NatRule& rule : cli.nat_rules) {
    absl::Status st = c.nat.Add(rule.local_ipv4, rule.global_ipv4);
    if (!st.ok()) return st;
  }

  c.mode = snapshot.direct ? UpstreamMode::kDirect : UpstreamMode::kMiddleEnd;
  c.dc_table = DcTable::Production();
  for (const DcOverride& o : cli.dc_overrides) {
    absl::Status st = AddDcOverride(c.dc_table, o);
    if (!st.ok()) return st;
  }
  c.direct_fallback_after_ms = static_cast<uint32_t>(cli.direct_fallback_after_s) * 1000;
  c.own_pid = facts.own_pid;
  c.backend = cli.io_backend;
  c.handshake_timeout_ms = static_cast<uint32_t>(cli.handshake_timeout_s) * 1000;
  c.idle_timeout_ms = static_cast<uint32_t>(cli.client_idle_timeout_s) * 1000;
  c.write_stall_timeout_ms = static_cast<uint32_t>(cli.write_stall_timeout_s) * 1000;
  c.tls_key_share.post_quantum = cli.tls_pq_key_share;
  switch (cli.tls_unknown_sni) {
    case TlsUnknownSni::kFront:
      c.tls_unknown_sni = TlsUnknownSniAction::kFront;
      break;
    case TlsUnknownSni::kClose:
      c.tls_unknown_sni = TlsUnknownSniAction::kClose;
      break;
    case TlsUnknownSni::kAlert:
      c.tls_unknown_sni = TlsUnknownSniAction::kAlert;
      break;
  }
  c.tls_reject_rst = cli.tls_reject_rst;
  c.tls_front_proxy_protocol = cli.tls_front_proxy_protocol;

  const uint32_t shards = std::max(facts.shard_count, 1u);
  uint64_t per_shard =
      std::max<uint64_t>(static_cast<uint64_t>(cli.msg_buffers_bytes) / shards, 16u << 20);
  c.shard_buffer_bytes = per_shard;
  c.engine.buffer_size = 16384;
  c.engine.buffer_count =
      std::clamp<uint32_t>(FloorPow2(per_shard / c.engine.buffer_size), 1024, 65536);
  // 512 receive buffers (8 MiB) keep up with 64 busy connections; a larger ring only touches
  // more memory: the kernel cycles through every buffer of the ring (measured, performance.md).
  // A small pool (the 16-MiB floor: 1024 buffers) gives the ring a quarter, so what is left
  // backs the chains' budget with the ring full (ShardBudgetBuffers in the dataplane).
  c.engine.recv_ring_count = std::min<uint32_t>(512, c.engine.buffer_count / 4);
  c.engine.queue_depth = 4096;
  // Room for reloads to add ME targets: as many link slots again as the start-up config
  // needs, and at least 64.
  if (c.mode == UpstreamMode::kMiddleEnd) {
    c.me_link_headroom = std::max<uint32_t>(LinkSlotsNeeded(c.routing), 64);
  }
  return config;
}

absl::StatusOr<std::unique_ptr<ProxyRunner>> ProxyRunner::Create(
    std::unique_ptr<DataplaneConfig> config, uint32_t shard_count, std::vector<int> cpus) {
  std::unique_ptr<ProxyRunner> runner(new ProxyRunner());
  runner->config_ = std::move(config);
  runner->cpus_ = std::move(cpus);
  runner->mailbox_ = std::make_unique<SnapshotMailbox<LiveConfig>>(shard_count);
  runner->accept_budgets_ = std::vector<ShardRateBudget>(shard_count);
  runner->handshake_budgets_ = std::vector<ShardRateBudget>(shard_count);
  runner->secret_board_ = std::make_unique<SecretBoard>(shard_count);
  DataplaneConfig& c = *runner->config_;
  c.secret_board = runner->secret_board_.get();
  c.live_updates = runner->mailbox_.get();
  c.accept_budgets = std::span<ShardRateBudget>(runner->accept_budgets_);
  c.handshake_budgets = std::span<ShardRateBudget>(runner->handshake_budgets_);
  runner->link_slots_per_shard_ = LinkSlotsNeeded(c.routing) + c.me_link_headroom;
  auto live = std::make_shared<LiveConfig>();
  live->generation = c.config_generation;
  live->routing = c.routing;
  live->secrets = c.secrets;
  live->secret_names = c.secret_names;
  live->ip_access = c.ip_access;
  runner->live_ = std::move(live);
  for (uint32_t i = 0; i < shard_count; ++i) {
    auto shard = ProxyShard::Create(i, shard_count, c);
    if (!shard.ok()) return shard.status();
    if (i == 0) {
      // Port 0 means "any free port": the other shards join the one the first shard got, so
      // they share it through SO_REUSEPORT.
      for (size_t l = 0; l < c.listeners.size(); ++l) {
        c.listeners[l].address.set_port((*shard)->listener_port(l));
      }
    }
    runner->shards_.push_back(*std::move(shard));
  }
  MTP_LOG(0, "created %u shard(s), io backend %s, upstream %s", shard_count,
          runner->shards_.empty() ? "none" : std::string(runner->shards_[0]->backend_name()),
          c.mode == UpstreamMode::kDirect ? "direct to DCs" : "middle-ends");
  return runner;
}

void ProxyRunner::StartThreads() {
  for (uint32_t i = 0; i < shards_.size(); ++i) {
    ProxyShard* shard = shards_[i].get();
    int cpu = cpus_.empty() ? -1 : cpus_[i % cpus_.size()];
    threads_.emplace_back([shard, cpu] {
      if (cpu >= 0) {
        absl::Status pinned = PinCurrentThread(cpu);
        if (!pinned.ok()) MTP_WARN("shard not pinned: %s", std::string(pinned.message()).c_str());
      }
      shard->Run();
    });
  }
}

ProxyRunner::~ProxyRunner() {
  RequestStop();
  Join();
}

void ProxyRunner::RequestStop() {
  for (auto& shard : shards_) shard->RequestStop();
}

void ProxyRunner::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

CounterSnapshot ProxyRunner::Counters() const {
  CounterSnapshot sum;
  for (const auto& shard : shards_) AccumulateCounters(shard->counters(), sum);
  return sum;
}

absl::Status ProxyRunner::Publish(std::shared_ptr<const ConfigSnapshot> snapshot) {
  if (snapshot->direct != (config_->mode == UpstreamMode::kDirect)) {
    return absl::FailedPreconditionError("the upstream mode cannot change without a restart");
  }
  absl::StatusOr<std::shared_ptr<const LiveConfig>> live = BuildLiveConfig(*snapshot);
  if (!live.ok()) return live.status();
  if (config_->mode == UpstreamMode::kMiddleEnd) {
    uint32_t needed = LinkSlotsNeeded((*live)->routing);
    if (needed > link_slots_per_shard_) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the new configuration needs up to %d middle-end connections per shard, more than "
          "the %d this process was started with room for; restart to apply it",
          needed, link_slots_per_shard_));
    }
  }
  if (secret_limits_ != nullptr) {
    live = WithSecretSlots(*std::move(live), *snapshot, static_cast<int64_t>(time(nullptr)));
    if (!live.ok()) return live.status();
  }
  live_ = *live;
  mailbox_->Publish(*std::move(live));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const LiveConfig>> ProxyRunner::WithSecretSlots(
    std::shared_ptr<const LiveConfig> live, const ConfigSnapshot& snapshot, int64_t now_unix) {
  absl::StatusOr<std::vector<int8_t>> slots =
      secret_limits_->Configure(live->secret_names, snapshot.secret_limits, now_unix);
  if (!slots.ok()) return slots.status();
  auto with = std::make_shared<LiveConfig>(*live);
  with->secret_slots = *std::move(slots);
  return std::shared_ptr<const LiveConfig>(std::move(with));
}

absl::Status ProxyRunner::EnableSecretLimits(SecretLimitsOptions options,
                                             const ConfigSnapshot& snapshot, int64_t now_unix) {
  secret_limits_ = std::make_unique<SecretLimits>(*secret_board_, std::move(options));
  if (absl::Status st = secret_limits_->LoadState(); !st.ok()) return st;
  // The start-up configuration again, now with the slots (the shards were created without).
  absl::StatusOr<std::shared_ptr<const LiveConfig>> live = BuildLiveConfig(snapshot);
  if (!live.ok()) return live.status();
  live = WithSecretSlots(*std::move(live), snapshot, now_unix);
  if (!live.ok()) return live.status();
  live_ = *live;
  mailbox_->Publish(*std::move(live));  // adopted before the shards' first accept
  return absl::OkStatus();
}

void ProxyRunner::TickSecretLimits(int64_t now_unix) {
  if (secret_limits_ != nullptr) secret_limits_->Tick(now_unix);
}

void ProxyRunner::SaveSecretState() {
  if (secret_limits_ == nullptr) return;
  if (absl::Status st = secret_limits_->Save(); !st.ok()) MTP_WARN("%s", st.message());
}

absl::Status ProxyRunner::ResetSecretQuota(std::string_view name, int64_t now_unix) {
  if (secret_limits_ == nullptr) return absl::NotFoundError("no secret limits");
  return secret_limits_->ResetQuota(name, now_unix);
}

uint64_t ProxyRunner::AdoptedGeneration() const {
  uint64_t low = UINT64_MAX;
  for (const auto& shard : shards_) low = std::min(low, shard->adopted_generation());
  return shards_.empty() ? 0 : low;
}

void ProxyRunner::BeginDrain() {
  for (auto& shard : shards_) shard->RequestDrain();
}

uint64_t ProxyRunner::ActiveClients() const {
  uint64_t n = 0;
  for (const auto& shard : shards_) n += shard->counters().client_active.Get();
  return n;
}

void ProxyRunner::Stop() {
  RequestStop();
  Join();
}

std::span<ShardRateBudget> ProxyRunner::AcceptBudgets() { return accept_budgets_; }
std::span<ShardRateBudget> ProxyRunner::HandshakeBudgets() { return handshake_budgets_; }

namespace {
template <size_t N>
StatsSnapshot::Histogram ToHistogram(const std::array<double, N>& bounds,
                                     const HistogramValues<N>& values) {
  StatsSnapshot::Histogram h;
  h.upper_bounds.assign(bounds.begin(), bounds.end());
  h.buckets.assign(values.buckets.begin(), values.buckets.end());
  h.sum = static_cast<double>(values.sum_us) / 1e6;
  return h;
}
}  // namespace

void ProxyRunner::FillStats(StatsSnapshot& out) const {
  const CounterSnapshot k = Counters();
  auto I = [](uint64_t v) { return static_cast<int64_t>(v); };
  uint64_t ready_targets = 0;  // a target is ready if any shard has a ready link to it
  uint64_t retired_targets = 0;  // removed by a reload, still serving clients on some shard
  for (const auto& shard : shards_) {
    ready_targets = std::max(ready_targets, shard->counters().me_targets_ready.Get());
    retired_targets = std::max(retired_targets, shard->counters().me_targets_retired.Get());
  }
  const int64_t declared_targets = I(live_->routing.targets().size());

  StatsSnapshot::Connections& c = out.connections;
  const int64_t outbound = I(k.me_links);
  c.inbound_connections = I(k.client_active);
  c.active_inbound_connections = I(k.client_active);
  c.inbound_connections_accepted = I(k.client_accepted);
  c.outbound_connections = outbound;
  c.ready_outbound_connections = I(k.me_links_ready);
  c.active_outbound_connections = I(k.me_links_ready);
  c.outbound_connections_created = I(k.me_connects + k.dc_connects);
  c.total_connect_failures = I(k.me_connect_failures + k.dc_connect_failures);
  c.active_connections = c.inbound_connections + outbound;
  c.listening_connections = I(config_->listeners.size() * shards_.size());
  out.extended.handshake_seconds = ToHistogram(kHandshakeBucketsS, k.handshake_seconds);
  out.extended.connection_seconds = ToHistogram(kLifetimeBucketsS, k.connection_seconds);
  out.extended.me_round_trip_seconds = ToHistogram(kMeRoundTripBucketsS, k.me_round_trip_seconds);
  StatsSnapshot::Extended::Serving& serving = out.extended.serving;
  serving.middle_end = config_->mode == UpstreamMode::kMiddleEnd;
  serving.listeners = c.listening_connections;
  for (const auto& shard : shards_) {
    if (shard->counters().me_targets_ready.Get() == 0) ++serving.shards_without_ready_me;
  }
  // The reference numbers every connection object it creates, inbound and outbound.
  c.conn_generation = I(k.client_accepted) + c.outbound_connections_created;
  c.ready_targets = I(ready_targets);
  c.allocated_targets = declared_targets + I(retired_targets);
  c.active_targets = declared_targets;
  c.inactive_targets = I(retired_targets);
  c.active_special_connections = I(k.client_active);
  c.allocated_connections = c.active_connections;
  c.allocated_inbound_connections = c.inbound_connections;
  c.allocated_outbound_connections = outbound;
  c.allocated_socket_connections = c.active_connections;
  c.tcp_readv_bytes = I(k.client_bytes_in + k.me_bytes_in + k.dc_bytes_in);
  c.tcp_writev_bytes = I(k.client_bytes_out + k.me_bytes_out + k.dc_bytes_out);
  c.accept_connection_limit_failed = I(k.client_rejected_limit);

  out.buffers.total_used_buffers = I(k.buffers_in_use);
  out.buffers.total_used_buffers_size = I(k.buffers_in_use) * config_->engine.buffer_size;
  out.buffers.allocated_buffer_bytes =
      I(uint64_t{config_->engine.buffer_count} * config_->engine.buffer_size * shards_.size());
  // Chunks in the reference's unit (2 MiB - 64 bytes, --msg-buffers-size / chunk = the limit),
  // so ratios and byte figures derived from them mean the same; the pools are allocated once.
  out.buffers.max_allocated_buffer_bytes = I(config_->shard_buffer_bytes * shards_.size());
  out.buffers.allocated_buffer_chunks = ReferenceChunks(out.buffers.allocated_buffer_bytes);
  out.buffers.max_allocated_buffer_chunks = out.buffers.allocated_buffer_chunks;
  out.buffers.buffer_chunk_alloc_ops = out.buffers.allocated_buffer_chunks;
  out.buffers.max_buffer_chunks = ReferenceChunks(out.buffers.max_allocated_buffer_bytes);

  // Every RPC_PROXY_REQ and RPC_CLOSE_CONN built and every frame written to a client.
  out.tl_parse.rpc_sent_queries = I(k.forwarded_queries + k.close_conn_sent + k.client_frames_out);
  out.tl_parse.rpc_queries_received =
      I(k.forwarded_responses + k.dropped_responses + k.forwarded_simple_acks +
        k.dropped_simple_acks + k.close_ext_received);
  out.crypto.allocated_aes_crypto = I(k.client_active - std::min(k.client_active,
                                                                 k.client_skip_mode) +
                                      k.me_links_ready);

  StatsSnapshot::Proxy& p = out.proxy;
  p.tot_forwarded_queries = I(k.forwarded_queries);
  p.dropped_queries = I(k.dropped_queries);
  p.tot_forwarded_responses = I(k.forwarded_responses);
  p.dropped_responses = I(k.dropped_responses);
  p.tot_forwarded_simple_acks = I(k.forwarded_simple_acks);
  p.dropped_simple_acks = I(k.dropped_simple_acks);
  p.ext_connections = I(k.ext_connections);
  p.ext_connections_created = I(k.ext_connections_created);
  p.connections_failed_flood = I(k.client_failed_flood);
  p.connections_failed_lru = I(k.client_failed_shed);

  StatsSnapshot::Extended& x = out.extended;
  x.traffic.bytes_from_clients = I(k.client_bytes_in);
  x.traffic.bytes_to_clients = I(k.client_bytes_out);
  x.traffic.bytes_to_upstream = I(k.me_bytes_out + k.dc_bytes_out);
  x.traffic.bytes_from_upstream = I(k.me_bytes_in + k.dc_bytes_in);
  x.traffic.packets_from_clients = I(k.client_frames_in);
  x.traffic.packets_to_clients = I(k.client_frames_out);
  x.traffic.packets_to_upstream = I(k.forwarded_queries);
  x.traffic.packets_from_upstream = I(k.forwarded_responses + k.forwarded_simple_acks);
  // A handshake either succeeds or ends in one of the rejections below, once per client;
  // fake-TLS connections that fail its checks are piped to the real site ("fronted"), by
  // reason; "timeout": the header was still incomplete at --handshake-timeout. A skip-mode
  // client's outcome is no_secret_match (decided at its 64th byte, as in the reference); its
  // later close at the deadline is a close reason ("skip_mode"), not a second outcome.
  const uint64_t rate_limited = TotalRefused(handshake_budgets_);
  x.handshakes_by_outcome = {{"ok", I(k.handshake_ok)},
                             {"no_secret_match", I(k.handshake_bad)},
                             {"crypto_failure", I(k.handshake_crypto_failed)},
                             {"rate_limited", I(rate_limited)},
                             {"fronted", I(k.tls_fronted)},
                             {"timeout", I(k.client_handshake_timeouts)}};
  x.handshake_rejections_by_reason = {
      {"no_secret_match", I(k.handshake_bad)},
      {"crypto_failure", I(k.handshake_crypto_failed)},
      {"rate_limited", I(rate_limited)},
      {"timeout", I(k.client_handshake_timeouts)},
      {"tls_not_tls", I(k.tls_fronted_not_tls)},
      {"tls_bad_sni", I(k.tls_fronted_bad_sni)},
      {"tls_unknown_sni", I(k.tls_fronted_unknown_sni)},
      {"tls_port80", I(k.tls_fronted_port80)},
      {"tls_extra_bytes", I(k.tls_fronted_extra_bytes)},
      {"tls_too_big", I(k.tls_fronted_too_big)},
      {"tls_replay", I(k.tls_fronted_replay)},
      {"tls_bad_digest", I(k.tls_fronted_bad_digest)},
      {"tls_bad_timestamp", I(k.tls_fronted_bad_timestamp)},
      {"tls_no_tls13_cipher", I(k.tls_fronted_no_tls13_cipher)},
      {"tls_timeout", I(k.tls_fronted_timeout)},
      {"tls_bad_inner_tag", I(k.tls_fronted_bad_inner_tag)},
      {"tls_bad_fragments", I(k.tls_fronted_bad_fragments)},
      {"tls_access_denied", I(k.tls_fronted_access_denied)},
      {"tls_unknown_sni_refused", I(k.tls_unknown_sni_refused)}};
  x.rate_limit_refusals_by_kind.push_back({"handshake", I(rate_limited)});
  x.client_closes_by_reason = {{"frame_error", I(k.client_frame_errors)},
                               {"flood", I(k.client_failed_flood)},
                               {"no_buffers", I(k.client_failed_no_buffers)},
                               {"handshake_timeout", I(k.client_handshake_timeouts)},
                               {"skip_mode", I(k.client_skip_closes)},
                               {"upstream_timeout", I(k.client_upstream_timeouts)},
                               {"idle_timeout", I(k.client_idle_timeouts)},
                               {"write_stall", I(k.client_write_stalls)},
                               {"dc_write_stall", I(k.dc_write_stalls)},
                               {"front_write_stall", I(k.tls_front_write_stalls)},
                               {"shed", I(k.client_failed_shed)},
                               {"shed_pre_auth", I(k.client_shed_pre_auth)},
                               {"shed_partial_frame", I(k.client_shed_partial)},
                               {"me_link_lost", I(k.client_me_link_lost)},
                               {"access_denied", I(k.client_access_denied)},
                               {"untrusted_proxy", I(k.client_untrusted_proxy)},
                               {"proxy_header_error", I(k.client_proxy_header_errors)},
                               {"proxy_header_timeout", I(k.client_proxy_header_timeouts)},
                               {"secret_conn_limit", I(k.client_secret_conn_limit)},
                               {"secret_ip_limit", I(k.client_secret_ip_limit)},
                               {"secret_quota", I(k.client_secret_quota)},
                               {"secret_expired", I(k.client_secret_expired)},
                               {"secret_disabled", I(k.client_secret_disabled)}};
  x.client_read_pauses = I(k.client_out_paused);
  x.me_write_stalls = I(k.me_write_stalls);
  x.me_unreachable_reports = I(k.me_unreachable_reports);
  x.direct_fallback_clients = I(k.direct_fallback_clients);
  x.direct_fallback_switches = {{"direct", I(k.direct_fallback_on)},
                                {"middle_end", I(k.direct_fallback_off)}};
  x.buffer_pressure_by_event = {{"recv_deferred", I(k.recv_buffer_waits)},
                                {"me_recv_paused", I(k.me_recv_pauses)},
                                {"me_flush_failure", I(k.me_flush_failures)},
                                {"me_link_full", I(k.me_frames_held)}};
  x.me_link_buffer_bytes = I(k.me_link_buffer_bytes);
  // --upstream-socks5: every (stage, reason) pair that happened, plus the two an operator
  // looks for first, so those series exist from the start.
  x.upstream_socks5 = config_->upstream_socks5.has_value();
  for (size_t st = 0; x.upstream_socks5 && st < kSocks5FailureStages; ++st) {
    for (size_t e = 1; e < kSocks5ErrorCount; ++e) {
      const auto stage = static_cast<Socks5FailStage>(st);
      const auto error = static_cast<Socks5Error>(e);
      const bool always =
          (stage == Socks5FailStage::kTcpConnect && error == Socks5Error::kIoError) ||
          (stage == Socks5FailStage::kAuth && error == Socks5Error::kAuthRejected);
      if (k.upstream_socks5_failures[st][e] == 0 && !always) continue;
      x.upstream_socks5_failures.push_back({std::string(Socks5FailStageName(stage)),
                                            std::string(Socks5ErrorName(error)),
                                            I(k.upstream_socks5_failures[st][e])});
    }
  }
  const uint64_t draining_links = std::min(k.me_links_retired, k.me_links_ready);
  x.me_links_by_state = {{"ready", I(k.me_links_ready - draining_links)},
                         {"connecting", I(k.me_links - std::min(k.me_links, k.me_links_ready))},
                         {"draining", I(draining_links)}};
  // Per secret, by index in the running configuration; an index beyond it (the list shrank in
  // a reload) is shown while it still has figures.
  size_t secret_series = live_->secrets.size();
  for (size_t i = 0; i < kMaxClientSecrets; ++i) {
    if (k.secrets[i].handshakes != 0 || k.secrets[i].active != 0) {
      secret_series = std::max(secret_series, i + 1);
    }
  }
  x.secrets.resize(secret_series);
  for (size_t i = 0; i < secret_series; ++i) {
    x.secrets[i].connections_total = I(k.secrets[i].handshakes);
    x.secrets[i].active_connections = I(k.secrets[i].active);
    x.secrets[i].bytes_from_clients = I(k.secrets[i].bytes_in);
    x.secrets[i].bytes_to_clients = I(k.secrets[i].bytes_out);
    if (i < live_->secret_names.size()) x.secrets[i].name = live_->secret_names[i];
  }
  if (secret_limits_ != nullptr) {
    for (const SecretLimitUsage& u : secret_limits_->Usage()) {
      StatsSnapshot::Extended::SecretLimit l;
      l.name = u.name;
      l.connections = I(u.connections);
      l.max_connections = u.spec.max_connections;
      l.unique_ips = I(u.unique_ips);
      l.max_unique_ips = u.spec.max_unique_ips;
      l.quota_bytes = I(u.spec.quota_bytes);
      l.quota_used_bytes = I(u.quota_used);
      l.expires_unix = u.spec.expires_unix;
      if (u.closed_for != SecretRefusal::kNone) l.closed_for = SecretRefusalName(u.closed_for);
      x.secret_limits.push_back(std::move(l));
    }
  }
  if (fake_tls_ != nullptr) fake_tls_->FillStats(k, out);
}

}  // namespace mtp
