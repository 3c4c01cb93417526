// ClientSessions: opening a session, its state machine, the flush pass for one session,
// backpressure, close and finalize.
#include <cassert>
#include <string>

#include "core/log.h"
#include "core/socket_address.h"
#include "core/socket_util.h"
#include "dataplane/me/me_pool.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/session/direct_upstream.h"
#include "dataplane/session/input_budget.h"
#include "dataplane/session/leg_send.h"
#include "dataplane/session/secret_admission_gate.h"
#include "dataplane/tls/tls_front.h"
#include "dataplane/tls_layer.h"

namespace mtp {
namespace {

// "ip:port" of a socket's peer, for connection-level log lines.
std::string PeerText(IoEngine& engine, int fd) {
  absl::StatusOr<SocketAddress> peer = engine.PeerAddressOf(fd);
  return peer.ok() ? peer->ToString() : std::string("?");
}

}  // namespace

bool ClientSessions::Open(int fd, uint16_t listener) {
  // Access control first, on the socket's peer: a PROXY header may come only from a trusted
  // balancer; without one, the lists judge the peer itself. (One getpeername per accept, and
  // only when an access control is configured.)
  const IpAccessLists* lists = ctx_.live->ip_access.get();
  bool denied = false;
  if (ctx_.config.proxy_protocol || lists != nullptr) {
    absl::StatusOr<SocketAddress> peer = ctx_.engine->PeerAddressOf(fd);
    if (ctx_.config.proxy_protocol) {
      if (!peer.ok() || ctx_.config.proxy_protocol_trusted == nullptr ||
          !ctx_.config.proxy_protocol_trusted->Contains(*peer)) {
        ctx_.counters.client_untrusted_proxy.Add();
        MTP_LOG(1, "shard %u: connection from %s refused: not a --proxy-protocol-trusted peer",
                ctx_.index, peer.ok() ? peer->ToString() : std::string("?"));
        ctx_.engine->Close(fd);
        return true;
      }
    } else if (const IpAccessVerdict v =
                   peer.ok() ? lists->Check(*peer) : IpAccessVerdict::kBlocked;
               v != IpAccessVerdict::kAllowed) {
      if (!ctx_.config.tls.enabled()) {
        ctx_.counters.client_access_denied.Add();
        MTP_LOG(1, "shard %u: connection from %s refused: %s", ctx_.index,
                peer.ok() ? peer->ToString() : std::string("?"),
                peer.ok() ? IpAccessVerdictName(v) : "no peer address");
        ctx_.engine->Close(fd);
        return true;
      }
      denied = true;  // -D: fronted like any rejected hello, so a probe sees the real site
    }
  }
  const uint32_t slot = ctx_.sessions.Allocate();
  if (slot == SessionSlab<ClientSession>::kInvalidSlot) return false;
  ClientSession& s = ctx_.sessions.at(slot);
  s.client.fd = fd;
  s.listener = listener;
  s.access_denied = denied;
  s.last_active_s = ctx_.now_s;
  if (ctx_.config.proxy_protocol) {
    s.serve_deadline_s =
        ctx_.now_s + static_cast<double>(ctx_.config.proxy_protocol_timeout_ms) / 1000.0;
    Transition(s, SessionState::kProxyHeader);
  } else {
    if (ctx_.config.handshake_timeout_ms > 0) {
      s.serve_deadline_s =
          ctx_.now_s + static_cast<double>(ctx_.config.handshake_timeout_ms) / 1000.0;
    }
    Transition(s, SessionState::kHandshake);
  }
  ctx_.counters.client_accepted.Add();
  s.accepted_s = ctx_.now_s;
  ctx_.counters.client_active.Add();
  // -v: the reference's connection-level line (the peer is looked up only when logged).
  MTP_LOG(1, "shard %u: New inbound connection #%d %s -> port %u (client %u)", ctx_.index, fd,
          PeerText(*ctx_.engine, fd), ctx_.listener_ports[listener], slot);
  if (s.state == SessionState::kHandshake && !tls_->BeginTls(slot, s)) return true;  // closed
  ctx_.engine->TuneAccepted(fd, ctx_.config.window_clamp_bytes);
  ArmClientRecv(slot, s);
  return true;
}

void ClientSessions::Transition(ClientSession& s, SessionState to) {
  if (!IsLegalSessionTransition(s.state, to)) {
    MTP_ERROR("shard %u: illegal session transition %s -> %s", ctx_.index,
              SessionStateName(s.state), SessionStateName(to));
    assert(false);
  }
  s.state = to;
}

void ClientSessions::FlushSession(uint32_t slot, ClientSession& s) {
  if (s.state == SessionState::kClosing || s.state == SessionState::kFree) return;
  if (s.input_held && !s.client.recv_paused) {
    // Its link resumed it: the held frame (and any after it) goes first, before the receive
    // is armed again -- or it is held again and the client stays paused.
    ProcessClientFrames(slot, s);
    if (s.state == SessionState::kClosing) return;
    budget_->ChargeInput(slot, s);
  }
  if (s.client.want_recv && !s.client.recv_armed && !s.client.recv_paused && !s.out_paused &&
      s.state != SessionState::kDraining) {
    if (budget_->RecvMayArm()) {
      s.client.want_recv = false;
      ArmClientRecv(slot, s);
    } else {
      budget_->WaitForRecvBuffers(slot, s);  // re-armed in FIFO order as buffers come back
    }
  }
  if (!s.client.send_inflight && !s.client.out.empty()) {
    if (s.tls != nullptr &&
        !WrapTlsOutput(ctx_.chains, s.client.out, *s.tls,
                       ctx_.NowMs())) {  // -D: records, sized per flush
      ctx_.counters.client_failed_no_buffers.Add();
      CloseSession(slot, s, CloseReason::kNoBuffers);
      return;
    }
    // Several buffers per send; fake-TLS sends stop at the framed prefix (the records were
    // cut by WrapTlsOutput, so how the sends split them does not change their sizes).
    SubmitLegSend(ctx_, s.client, ctx_.Tag(OpKind::kClientSend, slot),
                  s.tls != nullptr ? TlsSendableBytes(*s.tls, kLegSendMaxBytes)
                                   : kLegSendMaxBytes);
  }
  direct_->Flush(slot, s);
  if (s.state == SessionState::kDraining && s.client.out.empty() && !s.client.send_inflight) {
    CloseSession(slot, s, s.tls_refused ? CloseReason::kTlsRefused : CloseReason::kUpstreamEof);
  }
}

void ClientSessions::ArmClientRecv(uint32_t slot, ClientSession& s) {
  if (s.client.recv_armed) return;
  ctx_.engine->Recv(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
  s.client.BeginRecv();
  s.budget_cancel = false;
}

void ClientSessions::CloseSession(uint32_t slot, ClientSession& s, CloseReason reason) {
  if (s.state == SessionState::kClosing) return;
  MTP_LOG(1, "shard %u: closing client %u (fd %d): %s", ctx_.index, slot, s.client.fd,
          CloseReasonName(reason));
  // A fake-TLS client past both handshakes that got no DC connect or ME.
  if (s.tls_on() && !s.fronting &&
      (reason == CloseReason::kNoUpstream ||
       (reason == CloseReason::kUpstreamError && s.state == SessionState::kConnecting))) {
    ctx_.counters.tls_failed_upstream.Add();
  }
  if (s.bound) {
    me_->UnbindSession(slot, s,
                       reason != CloseReason::kCloseExt && reason != CloseReason::kMeLinkLost);
  }
  if (s.state == SessionState::kSkip) ctx_.counters.client_skip_mode.Sub();
  Transition(s, SessionState::kClosing);
  // Its unserved input no longer matters: give it back now (nothing in flight points into it;
  // receives completing from here on are released as they come), so shedding frees at once.
  ctx_.chains.Clear(s.in);
  budget_->Forget(slot);
  if (s.client.recv_armed || s.client.send_inflight) ctx_.engine->CancelAll(s.client.fd);
  if (s.up != nullptr && s.up->fd >= 0 && s.up->busy()) ctx_.engine->CancelAll(s.up->fd);
  // Never freed inline (callers may still hold `s`): Dispatch frees it once the last op
  // completes, or the flush pass does when nothing is in flight.
  if (s.inflight() == 0) ctx_.MarkDirty(slot, s);
}

bool ClientSessions::FinalizeSession(uint32_t slot, ClientSession& s) {
  if (s.state != SessionState::kClosing || s.inflight() != 0) return false;
  if (s.client.fd >= 0) {
    // --tls-reject-rst: after everything queued was sent (an alert), the close is a reset.
    if (s.reset_on_close) (void)SetLingerReset(s.client.fd);
    ctx_.engine->Close(s.client.fd);
  }
  if (s.up != nullptr && s.up->fd >= 0) ctx_.engine->Close(s.up->fd);
  if (s.fronting) ctx_.counters.tls_fronting_active.Sub();
  if (s.secret_index >= 0) ctx_.counters.secrets[s.secret_index].active.Sub();
  ReleaseSecretClient(ctx_, s);
  ctx_.chains.Clear(s.in);
  ctx_.chains.Clear(s.client.out);
  if (s.up != nullptr) ctx_.chains.Clear(s.up->out);
  budget_->Forget(slot);
  ctx_.counters.connection_seconds.Observe(ctx_.now_s - s.accepted_s);
  MTP_LOG(2, "shard %u: client %u closed after %.3f s: secret %d, DC %d, %u bytes in, %u out",
          ctx_.index, slot, ctx_.now_s - s.accepted_s, s.secret_index, s.dc_id, s.bytes_in,
          s.bytes_out);
  Transition(s, SessionState::kFree);
  s = ClientSession{};  // releases the cipher contexts, the upstream leg and the TLS state
  ctx_.sessions.Free(slot);
  ctx_.counters.client_active.Sub();
  ctx_.counters.client_closed.Add();
  return true;
}

void ClientSessions::PauseClientRecv(uint32_t slot, ClientSession& s) {
  if (s.client.recv_paused) return;
  s.client.recv_paused = true;
  ctx_.counters.recv_paused.Add();
  if (s.client.recv_armed) ctx_.engine->CancelOp(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
  if (s.bound) me_->NoteClientPaused(s);
}

void ClientSessions::PauseForOwnOutput(uint32_t slot, ClientSession& s) {
  if (s.out_paused) return;
  s.out_paused = true;
  ctx_.counters.client_out_paused.Add();
  if (s.client.recv_armed && !s.client.recv_paused)
    ctx_.engine->CancelOp(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
}

void ClientSessions::ResumeFromOwnOutput(uint32_t slot, ClientSession& s) {
  s.out_paused = false;
  if (!s.client.recv_paused) {
    s.client.want_recv = true;
    ctx_.MarkDirty(slot, s);
  }
}

}  // namespace mtp
