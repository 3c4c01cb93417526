// State of one client connection: the client leg (obfuscated2 streams, framing, queues) and,
// in direct mode, the DC leg; in ME mode the binding to one ME link. Plain data owned by a
// ProxyShard slab slot; the behaviour lives in dataplane/session/ (ClientSessions).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/aes.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/session/leg.h"
#include "dataplane/session/session_state.h"
#include "dataplane/tls_layer.h"
#include "proto/transport_tag.h"

namespace mtp {

inline constexpr uint32_t kNoSlot = UINT32_MAX;

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
  Leg up;

  // Ops in flight on both legs: the slot is freed only at zero.
  uint16_t inflight() const { return static_cast<uint16_t>(client.inflight + up.inflight); }

  bool dirty = false;           // on the shard's flush list
  bool dropped = false;         // §8.3: a frame was dropped for lack of an ME
  bool bound = false;           // ME mode: bound to me_link
  bool direct = false;          // relayed over `up` to its DC: direct mode, or ME-mode fallback
  bool fronting = false;        // -D: piped byte for byte to the real site over up_fd
  bool out_paused = false;      // backpressure: this client's own output is over the cap
  bool recv_waiting = false;    // queued for a receive buffer / budget (InputBudget::recv_waiters_)
  bool budget_cancel = false;   // its receive was cancelled because the budget ran out
  bool peer_known = false;      // peer_ip/peer_port came from a PROXY header (not the socket)
  bool access_denied = false;   // -D: refused by the IP lists, fronted when its hello comes
  bool tls_refused = false;     // -D: hello refused without fronting (--tls-unknown-sni)
  bool reset_on_close = false;  // --tls-reject-rst: the close is an RST (SO_LINGER 0)

  // The obfuscated2 header is collected here, not in a pool buffer: a client that sends it a
  // byte at a time holds no receive buffer (see "Buffer ownership" in docs/architecture.md).
  uint8_t header_bytes = 0;
  std::array<uint8_t, 64> header{};

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

  // -D: the fake-TLS stage in front of the obfuscated2 streams (off otherwise).
  TlsSessionState tls;

  // Client leg streams: decrypt client->proxy, encrypt proxy->client.
  AesCtr decrypt;
  AesCtr encrypt;
  // Direct mode DC leg: encrypt proxy->DC, decrypt DC->proxy.
  AesCtr up_encrypt;
  AesCtr up_decrypt;

  // Client bytes not served yet (plaintext after the header; raw hello bytes under -D). The
  // queues toward each peer are the legs' `out`.
  BufferChain in;

  // ME binding: link slot + generation, ext_conn_id, and the bound list of that link.
  uint32_t me_link = kNoSlot;
  uint32_t me_link_generation = 0;
  uint32_t link_prev = kNoSlot;
  uint32_t link_next = kNoSlot;
  uint64_t ext_conn_id = 0;
  // Filled at bind time (first forwarded frame) for RPC_PROXY_REQ: IPv6 or IPv4-mapped.
  std::array<uint8_t, 16> peer_ip{};
  std::array<uint8_t, 16> local_ip{};
  uint16_t peer_port = 0;
  uint16_t local_port = 0;
};

}  // namespace mtp
