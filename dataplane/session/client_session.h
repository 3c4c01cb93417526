// State of one client connection: the client leg (obfuscated2 streams, framing, queues) and,
// in direct mode, the DC leg; in ME mode the binding to one ME link. Plain data owned by a
// ProxyShard slab slot; the behaviour lives in dataplane/session/ (ClientSessions).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <new>

#include "crypto/aes.h"
#include "crypto/lean_ctr.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/session/client_streams.h"
#include "dataplane/session/leg.h"
#include "dataplane/session/session_state.h"
#include "dataplane/tls_layer.h"
#include "proto/transport_tag.h"

namespace mtp {

inline constexpr uint32_t kNoSlot = UINT32_MAX;

// Direct mode's DC-leg streams: allocated when the DC connect starts (an ME-mode session,
// fronted or not, never has them), so they cost an ME-mode session 8 bytes, not 176. The
// upstream leg and the fake-TLS state sit behind pointers for the same reason (see below).
// Lean like the client's: their round keys live in the shard's CtrKeyCache while in use.
struct UpStreams {
  LeanAesCtr encrypt;  // proxy->DC, past the header the proxy sent
  LeanAesCtr decrypt;  // DC->proxy
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

  // The client's connection.
  Leg client;

  // Ops in flight on both legs: the slot is freed only at zero.
  uint16_t inflight() const {
    return static_cast<uint16_t>(client.inflight + (up ? up->inflight : 0));
  }
  // Bytes queued toward the upstream peer (0 without an upstream leg).
  uint32_t up_out_bytes() const { return up ? up->out.bytes : 0; }
  // The upstream leg, allocated on first use (direct mode's DC connect, ME-mode DC fallback,
  // -D fronting); once made it stays until the slot is freed, since completions of its ops
  // find it through the slot. False if out of memory (the caller closes the session).
  bool MakeUp() {
    if (up == nullptr) up.reset(new (std::nothrow) UpstreamLeg());
    return up != nullptr;
  }
  // -D: whether the fake-TLS stage frames this session's traffic, and where it stands (kOff
  // without -D, where the state is never allocated).
  bool tls_on() const { return tls != nullptr && tls->on(); }
  TlsPhase tls_phase() const { return tls != nullptr ? tls->phase : TlsPhase::kOff; }

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

  // The upstream connection (direct mode: the DC; -D fronting: the real site), null until one
  // is dialed (MakeUp). An ME-mode session is bound to a shared ME link instead, so it never
  // has one and does not carry the leg's 80 bytes.
  std::unique_ptr<UpstreamLeg> up;

  // -D: the fake-TLS stage in front of the obfuscated2 streams, allocated when a session's TLS
  // stage begins (TlsFront::BeginTls) and kept for its life; null without -D (88 bytes saved).
  std::unique_ptr<TlsSessionState> tls;

  // Direct mode DC leg streams (null otherwise).
  std::unique_ptr<UpStreams> up_streams;

  // The obfuscated2 header is collected here, not in a pool buffer: a client that sends it a
  // byte at a time holds no receive buffer (see "Buffer ownership" in docs/architecture.md).
  // Once complete it is replaced by the client leg's streams: decrypt client->proxy, encrypt
  // proxy->client.
  ClientStreams streams;
};
// 384 bytes on x86-64, 184 of them the client streams (two LeanAesCtr of 88 bytes: their round
// keys live in the shard's CtrKeyCache), the rest listed in docs/performance.md ("Idle memory
// per connection"). It was 768 with the round keys inline, and 920 while the upstream leg (80)
// and the TLS state (88) were inline too. Growing it costs every idle connection: measure
// (tools/mtp-bench idle) and update that table.
static_assert(sizeof(ClientSession) <= 384, "ClientSession grew: see the comment above");

}  // namespace mtp
