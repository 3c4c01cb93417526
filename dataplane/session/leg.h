// One TCP connection's I/O state, the same for a client, a DC (or fronted site) and an ME link:
// its socket, the ops in flight on it (each kind flagged, each counted once until its final
// completion), whether a receive should be re-armed or is paused, and its send queue. The
// accounting and its paired checks live here, once (op_count.h).
//
// Thread ownership: the owning shard thread only. Plain data embedded in a session or link.
#pragma once

#include <cstdint>

#include "dataplane/buffer_chain.h"
#include "dataplane/session/op_count.h"
#include "proto/socks5.h"

namespace mtp {

// Upstream chaining (--upstream-socks5, dataplane/upstream_socks5.h): where an upstream leg's
// SOCKS5 exchange stands. kOff for legs that dial directly (and for client legs); once kDone
// the leg carries its own protocol and nothing here is looked at again.
enum class Socks5Phase : uint8_t {
  kOff,
  kMethod,   // greeting sent or being sent; waiting for the method choice
  kAuth,     // user/pass sent or being sent; waiting for its status
  kConnect,  // CONNECT sent or being sent; waiting for the reply
  kDone,
};

struct LegSocks5 {
  Socks5Phase phase = Socks5Phase::kOff;
  uint16_t send_left = 0;    // bytes of the current request (front of Leg::out) not yet sent
  uint16_t auth_bytes = 0;   // length of the queued user/pass request (0: none)
  uint8_t connect_bytes = 0;  // length of the queued CONNECT request
  Socks5ReplyReader reader;  // the current request's reply
  bool active() const { return phase != Socks5Phase::kOff && phase != Socks5Phase::kDone; }
};

struct Leg {
  int fd = -1;
  uint16_t inflight = 0;  // ops in flight on fd (an armed multishot receive counts once)
  bool recv_armed = false;
  bool send_inflight = false;
  bool connecting = false;
  bool want_recv = false;     // re-arm the receive at the next flush (it ended, or resumed)
  bool recv_paused = false;   // backpressure: the destination of its bytes is over its cap
  BufferChain out;            // bytes queued to the peer (ciphertext)
  uint32_t send_len = 0;      // bytes of the send in flight
  double send_started_s = 0;  // when that send was submitted (write-stall guard)

  void BeginRecv() { BeginOp(inflight, recv_armed); }
  void EndRecv() { EndOp(inflight, recv_armed); }
  void BeginSend() { BeginOp(inflight, send_inflight); }
  void EndSend() { EndOp(inflight, send_inflight); }
  void BeginConnect() { BeginOp(inflight, connecting); }
  void EndConnect() { EndOp(inflight, connecting); }
  // Something is armed that a close must cancel.
  bool busy() const { return recv_armed || send_inflight || connecting; }
};

// A leg the proxy dials (a DC, a fronted site, an ME link), which may go through a SOCKS5
// server; a client leg never does, and does not carry the 40 bytes.
struct UpstreamLeg : Leg {
  LegSocks5 socks5;  // under --upstream-socks5 only
};

}  // namespace mtp
