// Per-shard statistics counters: written only by the owning shard thread (relaxed load+store,
// no lock prefix), read and summed by the control thread. One cache-line-aligned block per
// shard so shards never share a line.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "crypto/secret.h"  // kMaxClientSecrets
#include "dataplane/latency_histogram.h"
#include "proto/socks5.h"  // kSocks5StageCount, kSocks5ErrorCount

namespace mtp {

// X-macro: name, meaning. Gauges (current values) are marked "now"; the rest are cumulative.
#define MTP_SHARD_COUNTERS(X)                                                        \
  X(client_accepted, "client connections accepted")                                 \
  X(client_active, "now: client connections open")                                  \
  X(client_closed, "client connections closed")                                     \
  X(client_rejected_limit, "accepts closed at once: -c/-C limit or slab full")      \
  X(handshake_ok, "obfuscated2 headers accepted")                                   \
  X(handshake_bad, "obfuscated2 headers with no matching secret (skip mode)")       \
  X(handshake_crypto_failed, "cipher context creation failures")                    \
  X(client_skip_mode, "now: client connections in skip mode")                       \
  X(client_frame_errors, "clients closed for a bad frame length")                   \
  X(client_failed_flood, "clients closed for exceeding the buffer cap")             \
  X(client_failed_no_buffers, "connections closed because the buffer pool ran dry") \
  X(client_bytes_in, "bytes received from clients")                                 \
  X(client_bytes_out, "bytes sent to clients")                                      \
  X(client_frames_in, "client frames decoded")                                      \
  X(client_frames_out, "frames and quick acks sent to clients")                     \
  X(client_pings_answered, "client RPC_PING answered with RPC_PONG")                \
  X(client_frames_filtered, "client frames dropped by the forwarding filter")       \
  X(forwarded_queries, "RPC_PROXY_REQ sent")                                        \
  X(dropped_queries, "client frames dropped: no ME connection available")           \
  X(forwarded_responses, "RPC_PROXY_ANS delivered to clients")                      \
  X(dropped_responses, "RPC_PROXY_ANS for unknown or mis-bound connections")        \
  X(forwarded_simple_acks, "RPC_SIMPLE_ACK delivered as quick acks")                \
  X(dropped_simple_acks, "RPC_SIMPLE_ACK for unknown or mis-bound connections")     \
  X(close_ext_received, "RPC_CLOSE_EXT received")                                   \
  X(close_conn_sent, "RPC_CLOSE_CONN sent")                                         \
  X(ext_connections, "now: client<->ME bindings")                                   \
  X(ext_connections_created, "client<->ME bindings created")                        \
  X(me_links, "now: ME link objects (any state)")                                   \
  X(me_links_ready, "now: ME links past the RPC handshake")                         \
  X(me_targets_ready, "now: ME targets with at least one ready link")                \
  X(me_connects, "ME TCP connects started")                                         \
  X(me_connect_failures, "ME links that failed before becoming ready")              \
  X(me_link_closed, "ME links closed after being ready")                            \
  X(me_bytes_in, "bytes received from MEs")                                         \
  X(me_bytes_out, "bytes sent to MEs")                                              \
  X(me_pings_answered, "ME RPC_PING answered")                                      \
  X(dc_connects, "direct mode: DC connects started")                                \
  X(dc_connect_failures, "direct mode: DC connects failed")                         \
  X(dc_bytes_in, "direct mode: bytes received from DCs")                            \
  X(dc_bytes_out, "direct mode: bytes sent to DCs")                                 \
  X(direct_fallback_clients, "ME mode: clients sent to their DC directly (fallback)")  \
  X(direct_fallback_on, "ME mode: DCs whose new clients switched to direct (fallback)")  \
  X(direct_fallback_off, "ME mode: DCs whose new clients went back to the middle-ends")  \
  X(recv_paused, "receives paused by backpressure")                                 \
  X(tls_handshakes_accepted, "fake-TLS ClientHellos accepted (ServerHello sent)")    \
  X(tls_bad_records, "fake-TLS clients closed for bad record framing")             \
  X(tls_fronted, "connections piped to the real site (all reasons)")               \
  X(tls_fronted_not_tls, "fronted: first bytes are not a ClientHello")             \
  X(tls_fronted_bad_sni, "fronted: SNI missing or malformed")                      \
  X(tls_fronted_unknown_sni, "fronted: SNI names no -D domain")                    \
  X(tls_fronted_port80, "fronted: arrived on local port 80")                       \
  X(tls_fronted_extra_bytes, "fronted: bytes after the ClientHello")               \
  X(tls_fronted_too_big, "fronted: ClientHello over 4096 bytes")                   \
  X(tls_fronted_replay, "fronted: replayed ClientHello")                           \
  X(tls_fronted_bad_digest, "fronted: no secret authenticates the ClientHello")    \
  X(tls_fronted_bad_timestamp, "fronted: ClientHello timestamp outside the window") \
  X(tls_fronted_no_tls13_cipher, "fronted: no TLS 1.3 cipher suite first")         \
  X(tls_fronted_timeout, "fronted: handshake not completed within 10 s")           \
  X(tls_fronted_bad_inner_tag, "fronted: inner transport not padded intermediate") \
  X(tls_fronted_bad_fragments, "fronted: ClientHello records that cannot be reassembled") \
  X(tls_failed_first_bytes, "fake-TLS handshakes failed: first bytes not a ClientHello") \
  X(tls_failed_client_hello, "fake-TLS handshakes failed: ClientHello (SNI, size, digest...)") \
  X(tls_failed_timestamp, "fake-TLS handshakes failed: ClientHello timestamp") \
  X(tls_failed_replay, "fake-TLS handshakes failed: replayed ClientHello") \
  X(tls_failed_inner_header, "fake-TLS handshakes failed: inner obfuscated2 header") \
  X(tls_failed_upstream, "fake-TLS handshakes failed: no DC/ME upstream for the client") \
  X(tls_front_failed, "fronting impossible (no address, socket or connect failed)") \
  X(tls_fronting_active, "now: connections piped to the real site")                \
  X(tls_front_bytes_in, "bytes received from real sites")                          \
  X(tls_front_bytes_out, "bytes sent to real sites")                               \
  X(buffers_in_use, "now: pool buffers held by sessions")                            \
  X(me_targets_retired, "now: ME targets removed by a reload whose links still serve clients") \
  X(me_links_retired, "now: ready ME links of removed targets, draining their clients") \
  X(client_handshake_timeouts, "clients closed: header incomplete at the handshake timeout") \
  X(client_skip_closes, "skip-mode clients (no secret matched) closed at the handshake timeout") \
  X(client_upstream_timeouts, "clients closed: no DC connect or ME within the timeout") \
  X(client_idle_timeouts, "clients closed: nothing sent or received for the idle timeout") \
  X(client_write_stalls, "clients closed: not reading their output (write stall)")  \
  X(client_failed_shed, "clients closed by shedding (shard buffer budget over 3/4)") \
  X(client_out_paused, "client reads paused: its own output over the queue cap")     \
  X(me_write_stalls, "ME links closed: the ME stopped reading (write stall)")        \
  X(me_unreachable_reports, "ME target unreachable reports logged (rate-limited)")     \
  X(dc_write_stalls, "direct mode: sessions closed, the DC stopped reading (write stall)") \
  X(client_shed_pre_auth, "clients shed: oldest unauthenticated holders over their budget share") \
  X(client_shed_partial, "clients shed: oldest partial-frame holders over their budget share") \
  X(recv_buffer_waits, "receives deferred until buffers or budget came back")      \
  X(me_flush_failures, "ME links closed: sealed output could not be queued")        \
  X(client_me_link_lost, "clients closed because their ME link was lost")            \
  X(me_recv_pauses, "ME link receives paused: the shard's buffer budget was spent")  \
  X(me_frames_held, "clients paused with a frame held: the ME link's output was full") \
  X(me_link_trims, "ME links that gave back grown buffers after a quiet period")     \
  X(me_link_buffer_bytes, "now: bytes allocated for ME links' packet buffers")      \
  X(client_untrusted_proxy, "connections refused: --proxy-protocol from an untrusted peer") \
  X(client_proxy_header_errors, "clients closed: invalid PROXY protocol header")    \
  X(client_proxy_header_timeouts, "clients closed: no PROXY protocol header in time") \
  X(client_access_denied, "clients closed: address refused by the allow/block lists") \
  X(tls_fronted_access_denied, "fronted: address refused by the allow/block lists")  \
  X(tls_unknown_sni_refused, "fake-TLS hellos with an unknown SNI closed (--tls-unknown-sni)") \
  X(tls_front_write_stalls, "fronted sessions closed: the real site stopped reading") \
  X(client_secret_conn_limit, "clients refused: their secret's max-connections")     \
  X(client_secret_ip_limit, "clients refused: their secret's max-unique-ips")        \
  X(client_secret_quota, "clients refused or closed: their secret's quota-bytes")    \
  X(client_secret_expired, "clients refused or closed: their secret expired")        \
  X(client_secret_disabled, "clients refused or closed: their secret is disabled")

// A single-writer counter: Add() is a relaxed load + store (no atomic RMW needed because only
// the owning shard writes); Get() may be called from any thread.
class ShardCounter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Sub(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void Set(uint64_t v) { value_.store(v, std::memory_order_relaxed); }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Per client secret, by the secret's index in the configuration the shard ran when the
// client's handshake matched it (-S in order, then the secret file).
struct SecretShardCounters {
  ShardCounter handshakes;  // handshakes that matched this secret
  ShardCounter active;      // now: client connections open with it
  ShardCounter bytes_in;    // bytes received from those clients (the handshake included)
  ShardCounter bytes_out;   // bytes sent to them
};
struct SecretCounterValues {
  uint64_t handshakes = 0;
  uint64_t active = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// --upstream-socks5 failures by stage (the TCP connect to the server, then Socks5Stage + 1)
// and reason (Socks5Error): dataplane/upstream_socks5.h.
inline constexpr size_t kSocks5FailureStages = 1 + kSocks5StageCount;

struct alignas(64) ShardCounters {
#define MTP_DECLARE_COUNTER(name, doc) ShardCounter name;
  MTP_SHARD_COUNTERS(MTP_DECLARE_COUNTER)
#undef MTP_DECLARE_COUNTER
  SecretShardCounters secrets[kMaxClientSecrets];
  ShardCounter upstream_socks5_failures[kSocks5FailureStages][kSocks5ErrorCount];
  // Latency histograms (seconds): accept to handshake outcome, accept to close, and a
  // client's first request to the middle-end until the first answer for it.
  HandshakeHistogram handshake_seconds;
  LifetimeHistogram connection_seconds;
  MeRoundTripHistogram me_round_trip_seconds;
};

// Plain copy of the counters (sum over shards, or one shard), for the control thread.
struct CounterSnapshot {
#define MTP_DECLARE_VALUE(name, doc) uint64_t name = 0;
  MTP_SHARD_COUNTERS(MTP_DECLARE_VALUE)
#undef MTP_DECLARE_VALUE
  SecretCounterValues secrets[kMaxClientSecrets];
  uint64_t upstream_socks5_failures[kSocks5FailureStages][kSocks5ErrorCount] = {};
  HandshakeHistogram::Values handshake_seconds;
  LifetimeHistogram::Values connection_seconds;
  MeRoundTripHistogram::Values me_round_trip_seconds;
};

inline void AccumulateCounters(const ShardCounters& shard, CounterSnapshot& sum) {
#define MTP_ADD_VALUE(name, doc) sum.name += shard.name.Get();
  MTP_SHARD_COUNTERS(MTP_ADD_VALUE)
#undef MTP_ADD_VALUE
  for (size_t i = 0; i < kMaxClientSecrets; ++i) {
    sum.secrets[i].handshakes += shard.secrets[i].handshakes.Get();
    sum.secrets[i].active += shard.secrets[i].active.Get();
    sum.secrets[i].bytes_in += shard.secrets[i].bytes_in.Get();
    sum.secrets[i].bytes_out += shard.secrets[i].bytes_out.Get();
  }
  for (size_t st = 0; st < kSocks5FailureStages; ++st) {
    for (size_t e = 0; e < kSocks5ErrorCount; ++e) {
      sum.upstream_socks5_failures[st][e] += shard.upstream_socks5_failures[st][e].Get();
    }
  }
  sum.handshake_seconds.Add(shard.handshake_seconds.Get());
  sum.connection_seconds.Add(shard.connection_seconds.Get());
  sum.me_round_trip_seconds.Add(shard.me_round_trip_seconds.Get());
}

inline CounterSnapshot SumCounters(std::span<const ShardCounters* const> shards) {
  CounterSnapshot sum;
  for (const ShardCounters* s : shards) AccumulateCounters(*s, sum);
  return sum;
}

}  // namespace mtp
