// State of one client connection: the client leg (obfuscated2 streams, framing, queues) and,
// in direct mode, the DC leg; in ME mode the binding to one ME link. Plain data owned by a
// ProxyShard slab slot; the behaviour lives in dataplane/session/ (ClientSessions).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "crypto/aes.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/session/client_streams.h"
#include "dataplane/session/leg.h"
#include "dataplane/session/session_state.h"
#include "dataplane/tls_layer.h"
#include "proto/transport_tag.h"

namespace mtp {

inline constexpr uint32_t kNoSlot = UINT32_MAX;

// Direct mode's DC-leg streams: allocated when the DC connect starts (an ME-mode session,
// fronted or not, never has them), so they cost an ME-mode session 8 bytes, not 560.
struct UpStreams {
  AesCtr encrypt;  // proxy->DC
  AesCtr decrypt;  // DC->proxy
};

// An idle connection costs mostly its slot (docs/performance.md, "Idle memory per
// connection"), so the fields are ordered to leave no padding holes, the flags are bits, and
// what only direct mode or -D uses stays small; the static_assert below keeps the size in view.
struct ClientSession {
  SessionState state = SessionState::kFree;
  Transport transport = Transport::kAbridged;
  int16_t dc_id = 0;
  uint16_t listener = 0;     // index of the -H listener that accepted it (its local port)
  int8_t secret_index = -1;  // the secret its handshake matched (per-secret counters), or -1
  int8_t limit_slot = -1;    // admitted under its named secret's limits (secret_admission.h)

  // The client's connection, and the upstream one (direct mode: the DC; -D fronting: the
  // real site; unused in ME mode, where the session is bound to a shared ME link instead).
  Leg client;
  UpstreamLeg up;

  // Ops in flight on both legs: the slot is freed only at zero.
  uint16_t inflight() const { return static_cast<uint16_t>(client.inflight + up.inflight); }

  bool dirty : 1 = false;           // on the shard's flush list
  bool dropped : 1 = false;         // §8.3: a frame was dropped for lack of an ME
  bool bound : 1 = false;           // ME mode: bound to me_link
  bool direct : 1 = false;          // relayed over `up` to its DC: direct mode, or ME-mode fallback
  bool fronting : 1 = false;        // -D: piped byte for byte to the real site over up_fd
  bool out_paused : 1 = false;      // backpressure: this client's own output is over the cap
  bool recv_waiting : 1 = false;    // waiting for a receive buffer / budget (InputBudget)
  bool budget_cancel : 1 = false;   // its receive was cancelled because the budget ran out
  bool input_held : 1 = false;      // ME mode: its first frame waits for room in the ME link
  bool peer_known : 1 = false;      // peer_ip/peer_port came from a PROXY header (not the socket)
  bool access_denied : 1 = false;   // -D: refused by the IP lists, fronted when its hello comes
  bool tls_refused : 1 = false;     // -D: hello refused without fronting (--tls-unknown-sni)
  bool reset_on_close : 1 = false;  // --tls-reject-rst: the close is an RST (SO_LINGER 0)
  uint16_t peer_port = 0;
  uint16_t local_port = 0;

  // ME binding: link slot + generation, ext_conn_id, and the bound list of that link.
  uint32_t me_link = kNoSlot;
  uint32_t me_link_generation = 0;
  uint32_t link_prev = kNoSlot;
  uint32_t link_next = kNoSlot;
  uint64_t ext_conn_id = 0;

  // Guard timers (monotonic seconds, session/session_guard.cc): the service deadline (header,
  // DC connect, or an ME after a dropped frame; 0 = served) and the last client byte in or
  // out (each leg keeps when its send in flight was submitted).
  double serve_deadline_s = 0;
  double last_active_s = 0;
  // Observability: accept time, first ME request (-1 once answered), bytes each way.
  double accepted_s = 0;
  double me_asked_s = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;

  // Client bytes not served yet (plaintext after the header; raw hello bytes under -D). The
  // queues toward each peer are the legs' `out`.
  BufferChain in;

  // Filled at bind time (first forwarded frame) for RPC_PROXY_REQ: IPv6 or IPv4-mapped.
  std::array<uint8_t, 16> peer_ip{};
  std::array<uint8_t, 16> local_ip{};

  // -D: the fake-TLS stage in front of the obfuscated2 streams (off otherwise).
  TlsSessionState tls;

  // Direct mode DC leg streams (null otherwise).
  std::unique_ptr<UpStreams> up_streams;

  // The obfuscated2 header is collected here, not in a pool buffer: a client that sends it a
  // byte at a time holds no receive buffer (see "Buffer ownership" in docs/architecture.md).
  // Once complete it is replaced by the client leg's streams: decrypt client->proxy, encrypt
  // proxy->client.
  ClientStreams streams;
};
// 920 bytes on x86-64, 568 of them the client streams. Growing it costs every idle connection:
// measure (tools/mtp-bench idle) and update the table in docs/performance.md.
static_assert(sizeof(ClientSession) <= 920, "ClientSession grew: see the comment above");

}  // namespace mtp
