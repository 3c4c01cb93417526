// Everything a shard needs to run, fixed at start-up by the control thread (proxy_runner) and
// shared read-only by all shards: secrets, upstream mode and tables, limits, engine options.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/io_engine.h"
#include "core/socket_address.h"
#include "crypto/rpc_keys.h"
#include "crypto/secret.h"
#include "dataplane/dc_table.h"
#include "dataplane/live_config.h"
#include "dataplane/me/me_routing.h"
#include "dataplane/rate_limit.h"
#include "proto/cidr_set.h"
#include "proto/ip_access.h"
#include "proto/rpc_messages.h"
#include "dataplane/snapshot_mailbox.h"
#include "dataplane/tls_layer.h"

namespace mtp {

class SecretBoard;

enum class UpstreamMode : uint8_t {
  kMiddleEnd,  // the reference's behaviour: RPC_PROXY_REQ over pooled ME links
  kDirect,     // obfuscated2 straight to the client's DC (beyond the reference)
};

// --tls-unknown-sni: a fake-TLS connection whose SNI names no -D domain.
enum class TlsUnknownSniAction : uint8_t {
  kFront,  // piped to the default domain's site (reference behaviour)
  kClose,  // closed, nothing sent
  kAlert,  // kUnrecognizedNameAlert (proto/fake_tls_alert.h) sent, then closed
};

struct ListenerSpec {
  SocketAddress address;  // bind address (port = the -H port)
  bool dual_stack = false;
};

struct DataplaneConfig {
  // ---- Client side ----
  std::vector<ClientSecret> secrets;  // -S, at most 16; empty = no-secret derivation
  std::vector<std::string> secret_names;  // their names for /metrics ("" = unnamed)
  std::vector<ListenerSpec> listeners;  // one per -H port; every shard opens its own socket
  int backlog = 8192;
  int window_clamp_bytes = 131072;  // -W (0 = leave alone)
  int client_mss = 0;  // --client-mss: TCP_MAXSEG of the client listeners (0 = leave alone)
  // -C: client connections per process, split evenly across shards (accepts above it are
  // closed at once). -c: sockets with an fd number at or above it are closed.
  uint32_t max_client_connections = 65536;
  uint32_t max_connections = 65536;
  // -D: fake-TLS on every client port (off when tls.domains is empty).
  FakeTlsConfig tls;
  // Fake-TLS policies of the command line. Until the fake-TLS stage acts on them the runner
  // refuses non-default values (proxy_runner.cc, CheckTlsPoliciesSupported).
  KeySharePolicy tls_key_share;  // --tls-pq-key-share: MakeServerHelloParams' policy
  TlsUnknownSniAction tls_unknown_sni = TlsUnknownSniAction::kFront;  // --tls-unknown-sni
  // --tls-reject-rst: connections the fake-TLS stage closes without fronting them (unknown
  // SNI with close/alert, or no front address) get SetLingerReset (core/socket_util.h) first.
  bool tls_reject_rst = false;
  // --tls-front-proxy-protocol: a PROXY v2 header (the client's address) starts every fronted
  // connection.
  bool tls_front_proxy_protocol = false;

  // ---- Client access ----
  // --proxy-protocol: every client connection starts with a PROXY v1/v2 header from a peer in
  // `proxy_protocol_trusted` (others are refused at accept), within the timeout; the header's
  // source is the client's address from then on (RPC_PROXY_REQ, lists, logs).
  bool proxy_protocol = false;
  uint32_t proxy_protocol_timeout_ms = 5000;
  std::shared_ptr<const CidrSet> proxy_protocol_trusted;
  // The start-up IP lists (LiveConfig::ip_access of generation `config_generation`).
  std::shared_ptr<const IpAccessLists> ip_access;

  // ---- Upstream ----
  UpstreamMode mode = UpstreamMode::kMiddleEnd;
  MeRouting routing;
  std::vector<uint8_t> proxy_secret;  // --aes-pwd content (32..256 bytes) for ME mode
  std::optional<std::array<uint8_t, 16>> ad_tag;  // -P
  RpcNatRules nat;                                // --nat-info
  std::optional<SocketAddress> outbound_bind;     // --address: source of ME/DC sockets
  ProcessId own_pid;                              // {ip, stats port or -1, pid, start time}
  DcTable dc_table;  // direct mode, and ME mode's fallback
  // ME mode: once every middle-end of a DC's cluster has been unreachable this long, the
  // DC's new clients go to the DC directly (dc_table) until one is ready again; 0 = never.
  uint32_t direct_fallback_after_ms = 0;
  // --upstream-socks5: DC legs (not -D fronting) and ME links are dialed through this SOCKS5
  // server (dataplane/upstream_socks5.h); credentials are empty without user/pass.
  struct UpstreamSocks5 {
    SocketAddress server;
    std::string user;
    std::string password;
    bool with_credentials() const { return !user.empty(); }
  };
  std::optional<UpstreamSocks5> upstream_socks5;

  // ---- Buffers and backpressure ----
  IoBackend backend = IoBackend::kAuto;
  IoEngineOptions engine;
  // Bytes all chains of one shard may hold (--msg-buffers-size split across shards).
  uint64_t shard_buffer_bytes = 256ull << 20;
  // Per-direction cap on bytes queued towards a slow destination; above it the source stops
  // being read until the queue drains below half of it.
  uint32_t queue_cap_bytes = 1u << 20;
  // The reference's MAX_CONNECTION_BUFFER_SPACE: a client holding more is closed (flood).
  uint64_t client_buffer_cap_bytes = 32ull << 20;
  // Pending-output bound of one ME link before its clients' reads are paused.
  uint32_t me_link_queue_cap_bytes = 8u << 20;
  // An ME link gives back RpcLink buffers grown past 64 KiB once it has sent and received
  // nothing for this long. A busy link is often idle for a moment at the tick; trimming it
  // then makes the next burst allocate and fault in fresh pages again.
  uint32_t me_link_trim_idle_ms = 2000;

  // ---- Timeouts and shedding (session/session_guard.cc; 0 = off) ----
  // A client must be served within this long: the obfuscated2 header (skip-mode connections
  // are closed at the same deadline), the DC connect in direct mode, and an ME for a frame
  // that found none (counted from that frame).
  uint32_t handshake_timeout_ms = 10000;
  // A client with nothing received or sent for this long is closed.
  uint32_t idle_timeout_ms = 600000;
  // A send to a client (or to an ME) that makes no progress for this long closes that
  // connection (the peer stopped reading while the proxy holds its output).
  uint32_t write_stall_timeout_ms = 60000;

  // ---- Control plane (set by the runner; bare shards in tests leave them empty) ----
  // secrets, routing and proxy_secret above are LiveConfig generation `config_generation`;
  // reloads arrive through `live_updates` and replace them (see LiveConfig).
  uint64_t config_generation = 1;
  SnapshotMailbox<LiveConfig>* live_updates = nullptr;
  // ME link slots each shard keeps beyond what the start-up routing needs, for targets that
  // reloads add (the slab is sized once).
  uint32_t me_link_headroom = 0;
  // Process-wide --max-accept-rate / --max-dh-accept-rate shares, indexed by shard; empty =
  // no limit. Refusals are counted by the budgets themselves.
  std::span<ShardRateBudget> accept_budgets;
  std::span<ShardRateBudget> handshake_budgets;
  // Named secrets' limits (session/secret_admission.h), shared with the control thread; null =
  // none.
  SecretBoard* secret_board = nullptr;
};

}  // namespace mtp
