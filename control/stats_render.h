// StatsSnapshot (every figure the stats endpoints show) and its two renderings: the reference's
// /stats text body and the Prometheus text exposition for /metrics.
//
// A snapshot is a plain value: the control thread fills it (summing the shards' counters) and
// renders it; rendering is pure.
//
// /stats reproduces the reference's key order, names and number formats (stats-and-ops.md §2)
// for §2.1 (engine header), §2.2 (connections), §2.3 (raw_msg, raw_msg_buffer), §2.4 (tl_parse),
// §2.5 (crypto_aes, crypto_dh), §2.7 (stats_generate_time, memory) and the whole proxy block
// §2.8. Omitted, because they describe the reference's job engine and nothing external is known
// to read them (§2.6): the `jobs` section (thread_average_idle_percent, thread_recent_idle_percent,
// tot_threads, thread_load_average_user/_sys, thread_load_average, thread_load_recent_user/_sys,
// thread_load_recent, load_average_user/_sys/_total, load_recent_user/_sys/_total,
// max_average_user/_sys/_total, max_recent_user/_sys/_total, job_timers_allocated, jobs_created,
// jobs_active, jobs_running, jobs_allocated_memory, timer_ops, timer_ops_scheduler), the
// `mp_queue` section (mpq_blocks_allocated, mpq_blocks_allocated_max, mpq_blocks_allocations,
// mpq_blocks_true_allocations, mpq_blocks_wasted, mpq_blocks_prepared,
// mpq_small_blocks_allocated, mpq_small_blocks_allocated_max, mpq_active, mpq_allocated), the
// `timers` section (event_timer_insert_ops, event_timer_remove_ops, event_timer_alarms,
// total_timers) and the `rpc_targets` section (total_rpc_targets,
// total_connections_in_rpc_targets).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/process_metrics.h"

namespace mtp {

// A labelled counter or gauge for /metrics (the label value is `name`).
struct NamedCount {
  std::string name;
  int64_t value = 0;
};

struct StatsSnapshot {
  // §2.1 engine header. "Event loop" = the shards' loops (idle figures are averaged over them).
  struct Engine {
    int64_t pid = 0;
    int64_t start_time = 0;      // unix seconds
    int64_t current_time = 0;    // unix seconds; uptime = current_time - start_time
    double tot_idle_time_s = 0;  // seconds the event loops spent waiting
    double recent_idle_percent = 0;
    int64_t active_network_events = 0;  // armed timers and pending events
    double time_after_epoll_s = 0;      // since an event loop last returned from its wait
    int64_t epoll_calls = 0;            // waits (io_uring_enter / epoll_wait)
    int64_t epoll_intr = 0;             // waits interrupted (EINTR)
    // The process identity sent in ME handshakes, printed as [ip:port:pid:utime].
    uint32_t pid_ip = 0;    // host order
    int16_t pid_port = -1;  // the -p port, -1 without it
    int32_t pid_pid = 0;
    int32_t pid_utime = 0;
  } engine;

  // §2.2 `connections` section.
  struct Connections {
    int64_t active_connections = 0;
    int64_t active_dh_connections = 0;  // always 0
    int64_t outbound_connections = 0;
    int64_t ready_outbound_connections = 0;
    int64_t active_outbound_connections = 0;
    int64_t outbound_connections_created = 0;
    int64_t total_connect_failures = 0;
    int64_t inbound_connections = 0;
    int64_t active_inbound_connections = 0;
    int64_t inbound_connections_accepted = 0;  // once per connection (the reference counts twice)
    int64_t listening_connections = 0;
    int64_t unused_connections_closed = 0;
    int64_t ready_targets = 0;
    int64_t allocated_targets = 0;
    int64_t active_targets = 0;
    int64_t inactive_targets = 0;
    int64_t free_targets = 0;
    int64_t max_connections = 0;  // -c
    int64_t active_special_connections = 0;
    int64_t max_special_connections = 0;  // -C
    int64_t max_accept_rate = 0;
    double cur_accept_rate_remaining = 0;
    int64_t max_connection = 0;  // highest fd seen
    int64_t conn_generation = 0;
    int64_t allocated_connections = 0;
    int64_t allocated_outbound_connections = 0;
    int64_t allocated_inbound_connections = 0;
    int64_t allocated_socket_connections = 0;
    int64_t tcp_readv_calls = 0;
    int64_t tcp_readv_intr = 0;
    int64_t tcp_readv_bytes = 0;
    int64_t tcp_writev_calls = 0;
    int64_t tcp_writev_intr = 0;
    int64_t tcp_writev_bytes = 0;
    int64_t free_later_size = 0;
    int64_t free_later_total = 0;
    int64_t accept_calls_failed = 0;
    int64_t accept_nonblock_set_failed = 0;
    int64_t accept_connection_limit_failed = 0;
    int64_t accept_rate_limit_failed = 0;
    int64_t accept_init_accepted_failed = 0;
  } connections;

  // §2.3 `raw_msg` and `raw_msg_buffer` sections.
  struct RawMessages {
    int64_t rwm_total_msgs = 0;
    int64_t rwm_total_msg_parts = 0;
  } raw_msg;
  struct Buffers {
    int64_t total_used_buffers_size = 0;  // bytes in use
    int64_t total_used_buffers = 0;
    int64_t allocated_buffer_bytes = 0;
    int64_t buffer_chunk_alloc_ops = 0;
    int64_t allocated_buffer_chunks = 0;
    int64_t max_allocated_buffer_chunks = 0;  // peak
    int64_t max_buffer_chunks = 0;
    int64_t max_allocated_buffer_bytes = 0;  // --msg-buffers-size
  } buffers;

  // §2.4 `tl_parse` section (rpc_qps = rpc_queries_received / uptime).
  struct TlParse {
    int64_t rpc_queries_received = 0;
    int64_t rpc_answers_error = 0;
    int64_t rpc_answers_received = 0;
    int64_t rpc_sent_errors = 0;
    int64_t rpc_sent_answers = 0;
    int64_t rpc_sent_queries = 0;
    int64_t tl_in_allocated = 0;
    int64_t tl_out_allocated = 0;
    uint32_t default_rpc_flags = 2048;  // CRC32C offered
  } tl_parse;

  // §2.5 `crypto_aes` and `crypto_dh` sections.
  struct Crypto {
    int64_t allocated_aes_crypto = 0;
    int64_t allocated_aes_crypto_temp = 0;
    std::string aes_pwd_hash = "none";       // MD5 hex of the proxy-secret file
    std::array<int64_t, 3> tot_dh_rounds{};  // always 0 0 0
  } crypto;

  // §2.7
  double stats_generate_time_s = 0;
  struct Memory {
    int64_t vmsize_bytes = 0;
    int64_t vmrss_bytes = 0;
    int64_t vmdata_bytes = 0;
  };
  std::optional<Memory> memory;  // nullopt: /proc/self/statm unreadable (lines omitted)

  // §2.8 proxy block. Its total_* lines that mirror the sections above are rendered from them
  // (with one process, the reference's S()/SW() sums are the process's own values).
  struct Proxy {
    std::string config_filename;
    int64_t config_loaded_at = 0;  // unix seconds of the last successful (re)load
    int64_t config_size = 0;
    std::string config_md5;
    int64_t config_auth_clusters = 0;
    int64_t workers = 0;      // -M
    int64_t queries_get = 0;  // never incremented by the reference
    int64_t tot_forwarded_queries = 0;
    int64_t expired_forwarded_queries = 0;
    int64_t dropped_queries = 0;
    int64_t tot_forwarded_responses = 0;
    int64_t dropped_responses = 0;
    int64_t tot_forwarded_simple_acks = 0;
    int64_t dropped_simple_acks = 0;
    int64_t active_rpcs_created = 0;
    int64_t active_rpcs = 0;
    int64_t rpc_dropped_answers = 0;
    int64_t rpc_dropped_running = 0;
    int64_t window_clamp = 0;
    int64_t ext_connections = 0;  // current client <-> upstream bindings
    int64_t ext_connections_created = 0;
    int64_t mtproto_proxy_errors = 0;
    int64_t connections_failed_lru = 0;
    int64_t connections_failed_flood = 0;
    int64_t http_connections = 0;
    int64_t pending_http_queries = 0;
    int64_t http_queries = 0;
    int64_t http_bad_headers = 0;
    int64_t proxy_mode = 2;
    bool proxy_tag_set = false;
    std::string version;  // see VersionString()
  } proxy;

  // Ours, /metrics only.
  struct Traffic {  // payload bytes and frames each way
    int64_t bytes_from_clients = 0;
    int64_t bytes_to_clients = 0;
    int64_t bytes_to_upstream = 0;
    int64_t bytes_from_upstream = 0;
    int64_t packets_from_clients = 0;
    int64_t packets_to_clients = 0;
    int64_t packets_to_upstream = 0;
    int64_t packets_from_upstream = 0;
  };
  // Per -S / secret-file entry, labelled by its index (never the secret) and, when the
  // configuration names it, by `name` too.
  struct SecretCounters {
    std::string name;  // empty: unnamed (the series carry secret="<index>" only)
    int64_t connections_total = 0;  // handshakes that matched this secret
    int64_t active_connections = 0;
    int64_t bytes_from_clients = 0;
    int64_t bytes_to_clients = 0;
  };
  // A Prometheus histogram: per-bucket counts (not cumulative) for ascending upper bounds and
  // a final +Inf bucket; the count is the sum of the buckets.
  struct Histogram {
    std::vector<double> upper_bounds;  // seconds
    std::vector<uint64_t> buckets;     // upper_bounds.size() + 1 entries (or empty: all zero)
    double sum = 0;                    // seconds
  };
  struct Extended {
    Traffic traffic;
    // Summed over the shards (dataplane/latency_histogram.h): accept to handshake outcome,
    // accept to close, a client's first middle-end request to the first answer for it.
    Histogram handshake_seconds;
    Histogram connection_seconds;
    Histogram me_round_trip_seconds;
    std::vector<NamedCount> handshakes_by_outcome;           // counter, label outcome
    std::vector<NamedCount> handshake_rejections_by_reason;  // counter, label reason
    std::vector<NamedCount> me_links_by_state;               // gauge, label state
    std::vector<NamedCount> rate_limit_refusals_by_kind;     // counter, label kind
    std::vector<NamedCount> client_closes_by_reason;         // counter, label reason
    int64_t client_read_pauses = 0;      // client reads paused: its own output over the cap
    int64_t me_write_stalls = 0;         // ME links closed: the ME stopped reading
    int64_t me_unreachable_reports = 0;  // "middle-end ... unreachable" log lines (rate-limited)
    // --direct-fallback-after: clients sent to their DC directly, and the DCs' switches
    // (counter, label to = direct|middle_end).
    int64_t direct_fallback_clients = 0;
    std::vector<NamedCount> direct_fallback_switches;
    // Buffer budget defences that close nobody (counter, label event): receives deferred
    // until buffers came back, ME link receives paused, ME links closed for sealed output.
    std::vector<NamedCount> buffer_pressure_by_event;
    int64_t me_link_buffer_bytes = 0;  // gauge: ME links' packet buffers allocated now
    int64_t config_reloads_ok = 0;
    int64_t config_reloads_failed = 0;
    // --config-refresh-interval (control/config_refresh.h); rendered only when enabled.
    struct ConfigRefresh {
      bool enabled = false;
      int64_t interval_s = 0;
      int64_t rounds_ok = 0;      // downloads that ended with good files
      int64_t rounds_failed = 0;  // downloads that kept the current files
      int64_t installs = 0;       // good downloads that replaced a file
      int64_t last_ok_unix = 0;
      int64_t target_lines = 0;   // proxy_for lines of the last good download
      std::vector<NamedCount> failures_by_reason;
    } config_refresh;
    // --upstream-socks5 (rendered only when configured): failed dials, by stage and reason.
    struct UpstreamSocks5Failure {
      std::string stage;
      std::string reason;
      int64_t value = 0;
    };
    bool upstream_socks5 = false;
    std::vector<UpstreamSocks5Failure> upstream_socks5_failures;
    int64_t shards = 0;
    int64_t http_refused = 0;  // stats-port requests refused (peer not in the allowlist)
    // What /ready judges (filled by the shard set).
    struct Serving {
      bool middle_end = false;              // upstream mode: middle-ends (else direct DCs)
      int64_t listeners = 0;                // client listening sockets open, over all shards
      int64_t shards_without_ready_me = 0;  // ME mode: shards with no ready ME target
    } serving;
    std::vector<SecretCounters> secrets;
    // Named secrets' limits (control/secret_limits.h), by name; 0 = that limit is not set.
    struct SecretLimit {
      std::string name;
      int64_t connections = 0;      // open now, all shards
      int64_t max_connections = 0;
      int64_t unique_ips = 0;       // addresses in the window (with max-unique-ips)
      int64_t max_unique_ips = 0;
      int64_t quota_bytes = 0;
      int64_t quota_used_bytes = 0;  // kept across restarts
      int64_t expires_unix = 0;
      std::string closed_for;  // "" = open, else the refusal reason ("secret_quota", ...)
    };
    std::vector<SecretLimit> secret_limits;
  } extended;

  // Ours: fake-TLS (-D). Rendered (after the reference's keys in /stats, and in /metrics) only
  // when enabled.
  struct FakeTls {
    bool enabled = false;
    int64_t domains = 0;               // -D count
    int64_t domains_probed = 0;        // of those, with a profile learned from the real site
    int64_t handshakes_accepted = 0;   // ClientHellos answered with a ServerHello
    int64_t fronted = 0;               // connections piped to a real site, all reasons
    std::vector<NamedCount> fronted_by_reason;  // not_tls, bad_digest, replay, timeout, ...
    // first_bytes, client_hello, timestamp, replay, inner_header, upstream
    std::vector<NamedCount> handshake_failures_by_stage;
    // Complete ClientHellos by JA4 fingerprint: the most frequent ones, then "other".
    std::vector<NamedCount> client_hellos_by_ja4;
    int64_t front_failed = 0;          // no address / socket / connect failure: closed instead
    int64_t fronting_active = 0;       // pipes open now
    int64_t bad_records = 0;           // closed after the ServerHello for bad record framing
    int64_t front_bytes_in = 0;        // from real sites
    int64_t front_bytes_out = 0;       // to real sites
    // The process-wide replay filter.
    int64_t replay_cache_capacity = 0;
    int64_t replay_cache_inserts = 0;
    int64_t replay_cache_replays = 0;
    int64_t replay_cache_evictions = 0;
    int64_t replay_cache_young_evictions = 0;
    int64_t replay_cache_contended = 0;  // hellos refused after losing every compare-and-swap
  } fake_tls;

  // Ours, /metrics only: the standard process_* series (nullopt: /proc unreadable, omitted) and
  // the build identity of mtproxy_build_info.
  std::optional<ProcessMetrics> process;
  struct Build {
    std::string version;  // core/build_info.h BuildVersion()
    std::string commit;   // BuildCommit()
  } build;

  int64_t uptime_s() const { return engine.current_time - engine.start_time; }
};

// The /stats body (text/plain): "name\tvalue\n" lines in the reference's order.
std::string RenderStatsText(const StatsSnapshot& snapshot);

// The /metrics body (Prometheus text format 0.0.4).
std::string RenderPrometheus(const StatsSnapshot& snapshot);
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// /proc/self/statm -> vmsize (field 1), vmrss (field 2), vmdata (field 6), in bytes, as the
// reference computes them. nullopt if the text has fewer than 6 numbers.
std::optional<StatsSnapshot::Memory> ParseStatm(std::string_view statm, int64_t page_size);
// Reads /proc/self/statm (nullopt if unreadable).
std::optional<StatsSnapshot::Memory> ReadSelfMemory();

// "mtproxy-ng-<version> compiled at <date> <time> by gcc <version> 64-bit after commit <commit>"
// (the reference's `version` line shape).
std::string VersionString(const std::string& commit = "unknown");

}  // namespace mtp
