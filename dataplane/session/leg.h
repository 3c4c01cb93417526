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

namespace mtp {

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

}  // namespace mtp
