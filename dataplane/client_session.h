// State of one client connection: the client leg (obfuscated2 streams, framing, queues) and,
// in direct mode, the DC leg; in ME mode the binding to one ME link. Plain data owned by a
// ProxyShard slab slot; the behaviour lives in proxy_shard_*.cc.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/aes.h"
#include "proto/transport_tag.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/op_count.h"
#include "dataplane/session_state.h"
#include "dataplane/tls_layer.h"

namespace mtp {

inline constexpr uint32_t kNoSlot = UINT32_MAX;

struct ClientSession {
  SessionState state = SessionState::kFree;
  Transport transport = Transport::kAbridged;
  int16_t dc_id = 0;
  uint16_t listener = 0;  // index of the -H listener that accepted it (its local port)
  int8_t secret_index = -1;  // the secret its handshake matched (per-secret counters), or -1

  int fd = -1;     // client socket
  int up_fd = -1;  // direct mode: DC socket

  // In-flight operations on fd and up_fd (armed recv counts once until its final completion).
  uint16_t inflight = 0;
  bool recv_armed = false;
  bool send_inflight = false;
  bool up_recv_armed = false;
  bool up_send_inflight = false;
  bool up_connecting = false;
  bool recv_paused = false;     // backpressure: the destination queue is over its cap
  bool up_recv_paused = false;
  bool want_recv = false;       // re-arm the client recv at the next flush (ENOBUFS, resume)
  bool want_up_recv = false;
  bool dirty = false;           // on the shard's flush list
  bool dropped = false;         // §8.3: a frame was dropped for lack of an ME
  bool bound = false;           // ME mode: bound to me_link
  bool fronting = false;        // -D: piped byte for byte to the real site over up_fd
  bool out_paused = false;      // backpressure: this client's own output is over the cap
  bool recv_waiting = false;    // queued for a receive buffer / budget (ProxyShard::recv_waiters_)
  bool budget_cancel = false;   // its receive was cancelled because the budget ran out

  // The obfuscated2 header is collected here, not in a pool buffer: a client that sends it a
  // byte at a time holds no receive buffer (see "Buffer ownership" in docs/architecture.md).
  uint8_t header_bytes = 0;
  std::array<uint8_t, 64> header{};

  // Guard timers (monotonic seconds, proxy_shard_guard.cc): the service deadline (header,
  // DC connect, or an ME after a dropped frame; 0 = served), the last client byte in or out,
  // and when the client (DC) send in flight was submitted.
  double serve_deadline_s = 0;
  double last_active_s = 0;
  double send_started_s = 0;
  double up_send_started_s = 0;

  // -D: the fake-TLS stage in front of the obfuscated2 streams (off otherwise).
  TlsSessionState tls;

  // Client leg streams: decrypt client->proxy, encrypt proxy->client.
  AesCtr decrypt;
  AesCtr encrypt;
  // Direct mode DC leg: encrypt proxy->DC, decrypt DC->proxy.
  AesCtr up_encrypt;
  AesCtr up_decrypt;

  BufferChain in;      // client bytes: ciphertext before the header, plaintext after
  BufferChain out;     // ciphertext queued to the client
  BufferChain up_out;  // direct mode: ciphertext queued to the DC
  uint32_t send_len = 0;     // bytes of the client send in flight
  uint32_t up_send_len = 0;

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
