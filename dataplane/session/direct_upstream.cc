// DirectUpstream: the DC leg of direct mode, and the byte pipe TlsFront uses for fronting.
#include "dataplane/session/direct_upstream.h"

#include <cerrno>
#include <cstring>
#include <new>

#include "core/log.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/session/leg_send.h"
#include "dataplane/tls/tls_front.h"
#include "dataplane/upstream_socks5.h"
#include "proto/obfuscated2.h"

namespace mtp {

void DirectUpstream::StartDirectUpstream(uint32_t slot, ClientSession& s) {
  std::optional<SocketAddress> dc = ctx_.config.dc_table.Lookup(s.dc_id, /*prefer_ipv6=*/false);
  if (!dc) {
    clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  auto hs = BuildObfuscated2ClientHeader(nullptr, s.transport, s.dc_id);
  if (!hs.ok()) {
    ctx_.counters.handshake_crypto_failed.Add();
    clients_->CloseSession(slot, s, CloseReason::kCryptoFailure);
    return;
  }
  // The header went through hs->encrypt; the lean stream starts where that one stands.
  absl::StatusOr<LeanAesCtr> encrypt =
      LeanAesCtr::Create(ctx_.ctr_keys, hs->keys.read_key, Obfuscated2ReadIvAfterHeader(hs->keys));
  absl::StatusOr<LeanAesCtr> decrypt =
      LeanAesCtr::Create(ctx_.ctr_keys, hs->keys.write_key, hs->keys.write_iv);
  if (!encrypt.ok() || !decrypt.ok()) {
    ctx_.counters.handshake_crypto_failed.Add();
    clients_->CloseSession(slot, s, CloseReason::kCryptoFailure);
    return;
  }
  // One allocation per DC connect (not per byte); ME-mode sessions never make it.
  s.up_streams.reset(new (std::nothrow) UpStreams{*std::move(encrypt), *std::move(decrypt)});
  if (s.up_streams == nullptr) {  // out of memory, like the leg below: counted as such
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  if (!s.MakeUp()) {  // the leg itself: likewise only for sessions that dial a DC
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  UpstreamLeg& up = *s.up;
  // --upstream-socks5: the TCP connect goes to the SOCKS5 server, and its requests (a CONNECT
  // to the DC) are queued before the DC's header.
  const SocketAddress& peer =
      ctx_.config.upstream_socks5 ? ctx_.config.upstream_socks5->server : *dc;
  OutboundOptions options;
  if (ctx_.config.outbound_bind && ctx_.config.outbound_bind->family() == peer.family()) {
    options.bind_address = ctx_.config.outbound_bind;
  }
  auto fd = ctx_.engine->OpenOutbound(peer.family(), options);
  if (!fd.ok()) {
    ctx_.counters.dc_connect_failures.Add();
    clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  up.fd = *fd;
  if ((ctx_.config.upstream_socks5 && !QueueSocks5Requests(ctx_, up, *dc)) ||
      !ctx_.chains.AppendCopy(up.out, hs->header)) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  // Bytes the client sent right after its header: re-encrypt for the DC and queue them.
  if (!s.in.empty()) {
    bool ok = true;
    ctx_.chains.ForEachSegment(s.in, 0, s.in.bytes, [&](MutableByteSpan seg) {
      s.up_streams->encrypt.Apply(ctx_.ctr_keys, seg);
      ok = ok && ctx_.chains.AppendCopy(up.out, seg);
    });
    ctx_.chains.Clear(s.in);
    if (!ok) {
      ctx_.counters.client_failed_no_buffers.Add();
      clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
      return;
    }
  }
  ctx_.engine->Connect(up.fd, peer.sockaddr_ptr(), peer.length(),
                       ctx_.Tag(OpKind::kUpstreamConnect, slot));
  up.BeginConnect();
  ctx_.counters.dc_connects.Add();
}

void DirectUpstream::OnUpstreamConnect(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  // Completions of upstream ops (and the re-arms they lead to) come only to a session that
  // made the leg: StartDirectUpstream or TlsFront::StartFronting.
  UpstreamLeg& up = *s.up;
  up.EndConnect();
  if (s.state != SessionState::kConnecting) return;
  if (c.result < 0 && s.fronting) {
    tls_->FrontFailed(slot, s, strerror(-c.result));
    return;
  }
  if (c.result < 0) {
    ctx_.counters.dc_connect_failures.Add();
    MTP_LOG(1, "shard %u: client %u: DC connect failed: %s", ctx_.index, slot, strerror(-c.result));
    if (up.socks5.active()) NoteSocks5ConnectFailure(ctx_, -c.result, "DC leg");
    clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  if (up.socks5.active()) {
    // Connected to the SOCKS5 server: its exchange runs first (still kConnecting, within the
    // client's serve deadline); OnSocks5Done starts the relay.
    BeginSocks5(ctx_, up, ctx_.Tag(OpKind::kUpstreamSend, slot),
                ctx_.Tag(OpKind::kUpstreamRecv, slot));
    return;
  }
  StartRelay(slot, s);
}

void DirectUpstream::Socks5Failed(uint32_t slot, ClientSession& s) {
  ctx_.counters.dc_connect_failures.Add();
  clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
}

void DirectUpstream::StartRelay(uint32_t slot, ClientSession& s) {
  clients_->Transition(s, SessionState::kRelaying);
  ArmUpstreamRecv(slot, s);
  ctx_.MarkDirty(slot, s);
}

void DirectUpstream::ArmUpstreamRecv(uint32_t slot, ClientSession& s) {
  UpstreamLeg& up = *s.up;
  if (up.recv_armed) return;
  ctx_.engine->Recv(up.fd, ctx_.Tag(OpKind::kUpstreamRecv, slot));
  up.BeginRecv();
}

void DirectUpstream::OnUpstreamRecv(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  UpstreamLeg& up = *s.up;
  if (!c.more) up.EndRecv();
  if (up.socks5.active()) {
    OnSocks5Recv(slot, s, c);
    return;
  }
  if (c.result > 0 && c.buffer_id >= 0) {
    if (s.state != SessionState::kRelaying) {
      ctx_.engine->buffers().Release(c.buffer_id);
      return;
    }
    uint32_t n = static_cast<uint32_t>(c.result);
    uint8_t* data = ctx_.engine->buffers().Data(c.buffer_id);
    if (s.fronting) {  // -D: the real site's bytes go to the client untouched
      ctx_.counters.tls_front_bytes_in.Add(n);
    } else {
      ctx_.counters.dc_bytes_in.Add(n);
      s.up_streams->decrypt.Apply(ctx_.ctr_keys, data, data, n);
      s.streams.encrypt().Apply(ctx_.ctr_keys, data, data, n);
    }
    ctx_.chains.AppendBuffer(s.client.out, c.buffer_id, n);
    if (uint64_t{s.client.out.bytes} > ctx_.config.client_buffer_cap_bytes) {
      ctx_.counters.client_failed_flood.Add();
      clients_->CloseSession(slot, s, CloseReason::kFlood);
      return;
    }
    if (s.client.out.bytes > ctx_.config.queue_cap_bytes && !up.recv_paused) {
      up.recv_paused = true;
      ctx_.counters.recv_paused.Add();
      if (up.recv_armed) ctx_.engine->CancelOp(up.fd, ctx_.Tag(OpKind::kUpstreamRecv, slot));
    }
    ctx_.MarkDirty(slot, s);
  } else if (c.result == 0) {
    // The DC closed: deliver what it sent, then close the client.
    if (s.state == SessionState::kRelaying) {
      clients_->Transition(s, SessionState::kDraining);
      if (s.client.recv_armed)
        ctx_.engine->CancelOp(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
      ctx_.MarkDirty(slot, s);
    }
    return;
  } else if (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED) {
    clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  if (!c.more && !up.recv_paused && s.state == SessionState::kRelaying) {
    up.want_recv = true;
    ctx_.MarkDirty(slot, s);
  }
}

void DirectUpstream::OnUpstreamSend(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  UpstreamLeg& up = *s.up;
  up.EndSend();
  if (s.state == SessionState::kClosing) return;
  if (c.result < 0) {
    if (up.socks5.active()) {
      NoteSocks5Failure(ctx_, up, Socks5Error::kIoError, "DC leg");
      Socks5Failed(slot, s);
      return;
    }
    clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  if (up.socks5.active()) {
    if (OnSocks5Sent(ctx_, up, static_cast<uint32_t>(c.result),
                     ctx_.Tag(OpKind::kUpstreamSend, slot)) == Socks5Progress::kDone) {
      StartRelay(slot, s);
    }
    return;
  }
  (s.fronting ? ctx_.counters.tls_front_bytes_out : ctx_.counters.dc_bytes_out)
      .Add(static_cast<uint32_t>(c.result));
  ctx_.chains.Consume(up.out, static_cast<uint32_t>(c.result));
  if (s.client.recv_paused && up.out.bytes <= ctx_.config.queue_cap_bytes / 2) {
    s.client.recv_paused = false;
    s.client.want_recv = true;
  }
  ctx_.MarkDirty(slot, s);
}

void DirectUpstream::OnSocks5Recv(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  UpstreamLeg& up = *s.up;
  if (c.result > 0 && c.buffer_id >= 0) {
    const ByteSpan bytes(ctx_.engine->buffers().Data(c.buffer_id), static_cast<size_t>(c.result));
    Socks5Progress p = Socks5Progress::kPending;
    if (s.state == SessionState::kConnecting) {
      p = OnSocks5Bytes(ctx_, up, bytes, ctx_.Tag(OpKind::kUpstreamSend, slot), "DC leg",
                        nullptr);
    }
    ctx_.engine->buffers().Release(c.buffer_id);
    if (s.state != SessionState::kConnecting) return;
    if (p == Socks5Progress::kFailed) {
      Socks5Failed(slot, s);
      return;
    }
    if (p == Socks5Progress::kDone) {
      StartRelay(slot, s);
      return;
    }
  } else if (c.result == 0 || (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED)) {
    if (s.state != SessionState::kConnecting) return;
    NoteSocks5Failure(ctx_, up, c.result == 0 ? Socks5Error::kClosed : Socks5Error::kIoError,
                      "DC leg");
    Socks5Failed(slot, s);
    return;
  }
  if (!c.more && s.state == SessionState::kConnecting) {
    up.want_recv = true;  // Flush re-arms it
    ctx_.MarkDirty(slot, s);
  }
}

void DirectUpstream::Flush(uint32_t slot, ClientSession& s) {
  if (s.up == nullptr) return;  // ME mode: no upstream leg
  UpstreamLeg& up = *s.up;
  if (up.socks5.active() && s.state == SessionState::kConnecting) {
    if (up.want_recv && !up.recv_armed) {
      up.want_recv = false;
      ArmUpstreamRecv(slot, s);
    }
    return;
  }
  if (up.fd < 0 || up.connecting || s.state != SessionState::kRelaying) return;
  if (up.want_recv && !up.recv_armed && !up.recv_paused) {
    up.want_recv = false;
    ArmUpstreamRecv(slot, s);
  }
  if (!up.send_inflight && !up.out.empty()) {
    SubmitLegSend(ctx_, up, ctx_.Tag(OpKind::kUpstreamSend, slot));
  }
}

}  // namespace mtp
