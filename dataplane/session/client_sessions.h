// ClientSessions: the life of one client connection on a shard, from the accepted socket to
// the freed slot. Its state machine (one Transition function, session_state.h), the client
// leg (receives, the obfuscated2 handshake and skip mode, frame decoding and the forwarding
// filter, sends), everything queued to the client (answers, quick acks, PONG), output
// backpressure, close and finalize. Fake-TLS (TlsFront), the DC leg (DirectUpstream) and the ME
// binding (MePool) are the other parts it hands bytes to.
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>

#include "core/io_engine.h"
#include "dataplane/session/close_reason.h"
#include "dataplane/session/frame_outcome.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

class DirectUpstream;
class InputBudget;
class MePool;
class TlsFront;

class ClientSessions {
 public:
  explicit ClientSessions(ShardContext& ctx) : ctx_(ctx) {}
  void Connect(InputBudget& budget, MePool& me, TlsFront& tls, DirectUpstream& direct) {
    budget_ = &budget;
    me_ = &me;
    tls_ = &tls;
    direct_ = &direct;
  }

  // An accepted socket: a slot, the handshake state and the first receive. False (fd not
  // taken) if the slab is full.
  bool Open(int fd, uint16_t listener);
  // The only place a session's state changes (illegal transitions are logged and asserted).
  void Transition(ClientSession& s, SessionState to);
  // Completions of the client leg.
  void OnClientRecv(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnClientSend(uint32_t slot, ClientSession& s, const IoCompletion& c);
  // The flush pass: re-arms the receive, starts the next send on both legs.
  void FlushSession(uint32_t slot, ClientSession& s);
  void ArmClientRecv(uint32_t slot, ClientSession& s);
  // Starts closing: cancels ops, drops unserved input, unbinds from the ME. The slot is freed
  // by FinalizeSession once nothing is in flight (never inline: callers may hold `s`).
  void CloseSession(uint32_t slot, ClientSession& s, CloseReason reason);
  // Frees a closing session's slot once its last op has completed. True if it was freed.
  bool FinalizeSession(uint32_t slot, ClientSession& s);
  // Backpressure from a queue toward its peer (DC, real site or ME link): stop reading the
  // client until that queue drains.
  void PauseClientRecv(uint32_t slot, ClientSession& s);
  // The client's own output is over the queue cap: stop reading it until it drains.
  void PauseForOwnOutput(uint32_t slot, ClientSession& s);
  void ResumeFromOwnOutput(uint32_t slot, ClientSession& s);
  // Appends one encrypted frame (header + payload + random padding) to the client's queue, or
  // raw plaintext (a quick ack). False if the session was closed.
  bool QueueClientFrame(uint32_t slot, ClientSession& s, ByteSpan payload);
  bool QueueClientRaw(uint32_t slot, ClientSession& s, ByteSpan plaintext);
  // The flood cap on what one client holds (unserved input + output); closes it if over.
  bool CheckClientBuffers(uint32_t slot, ClientSession& s);

 private:
  // Handshake state: collects the 64-byte header in the session (no pool buffer held) and
  // queues what follows it; runs OnHandshakeBytes once the header is complete.
  void TakeHeaderBytes(uint32_t slot, ClientSession& s, int32_t buffer_id, uint32_t n);
  // --proxy-protocol: the header collected in s.in; once complete, the client's address is
  // the header's, the IP lists judge it, and the handshake starts on what followed it.
  void OnProxyHeaderBytes(uint32_t slot, ClientSession& s);
  void OnHandshakeBytes(uint32_t slot, ClientSession& s);
  void ProcessClientFrames(uint32_t slot, ClientSession& s);
  // Frame payload at `offset` of s.in, `len` bytes: forward, answer PING, or drop; kHeld if
  // the ME link had no room (the frame stays, the client is paused).
  FrameOutcome HandleClientFrame(uint32_t slot, ClientSession& s, size_t offset, uint32_t len,
                                 bool quick_ack);

  ShardContext& ctx_;
  InputBudget* budget_ = nullptr;
  MePool* me_ = nullptr;
  TlsFront* tls_ = nullptr;
  DirectUpstream* direct_ = nullptr;
};

}  // namespace mtp
