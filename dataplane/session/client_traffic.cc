// ClientSessions, the client leg: receives, the obfuscated2 handshake (and skip mode), frame
// decoding and the forwarding filter, and everything queued to the client (answers, quick
// acks, PONG).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "crypto/random.h"
#include "dataplane/me/me_pool.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/session/direct_upstream.h"
#include "dataplane/session/input_budget.h"
#include "dataplane/session/secret_admission_gate.h"
#include "dataplane/tls/tls_front.h"
#include "proto/framing.h"
#include "proto/mtproto_filter.h"
#include "proto/obfuscated2.h"
#include "proto/proxy_protocol.h"

namespace mtp {

void ClientSessions::OnClientRecv(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  if (!c.more) s.client.EndRecv();
  if (c.result > 0 && c.buffer_id >= 0) {
    uint32_t n = static_cast<uint32_t>(c.result);
    uint8_t* data = ctx_.engine->buffers().Data(c.buffer_id);
    ctx_.counters.client_bytes_in.Add(n);
    s.bytes_in += n;
    if (s.secret_index >= 0) ctx_.counters.secrets[s.secret_index].bytes_in.Add(n);
    CountSecretBytes(ctx_, s, n);
    s.last_active_s = ctx_.now_s;
    // -D: the fake-TLS stage takes hello bytes and fronted traffic, and unwraps records.
    const bool taken = (s.tls_on() || s.fronting) && tls_->TlsClientBytes(slot, s, c.buffer_id, &n);
    if (taken && s.state == SessionState::kClosing) return;
    if (!taken) switch (s.state) {
        case SessionState::kProxyHeader:
          ctx_.chains.AppendBuffer(s.in, c.buffer_id, n);
          OnProxyHeaderBytes(slot, s);
          break;
        case SessionState::kHandshake:
          TakeHeaderBytes(slot, s, c.buffer_id, n);
          break;
        case SessionState::kRelaying:
          if (!s.direct) {  // ME: frames become RPC_PROXY_REQ
            s.streams.decrypt().Apply(ctx_.ctr_keys, data, data, n);
            ctx_.chains.AppendBuffer(s.in, c.buffer_id, n);
            ProcessClientFrames(slot, s);
            break;
          }
          [[fallthrough]];
        case SessionState::kConnecting:
          // To the DC: client CTR -> plaintext -> DC CTR, in place, then queue the buffer.
          s.streams.decrypt().Apply(ctx_.ctr_keys, data, data, n);
          s.up_streams->encrypt.Apply(ctx_.ctr_keys, data, data, n);
          ctx_.chains.AppendBuffer(s.up->out, c.buffer_id, n);  // made with up_streams
          if (s.up->out.bytes > ctx_.config.queue_cap_bytes) PauseClientRecv(slot, s);
          ctx_.MarkDirty(slot, s);
          break;
        case SessionState::kSkip:      // the reference's black hole: discard, never answer
        case SessionState::kDraining:  // input no longer matters
        case SessionState::kClosing:
        case SessionState::kFree:
          ctx_.engine->buffers().Release(c.buffer_id);
          break;
      }
    if (s.state == SessionState::kClosing) return;
    // What this receive left unserved is charged to its class; a class over its share sheds
    // its oldest holders (possibly this one) before anyone else runs short.
    budget_->ChargeInput(slot, s);
    if (!budget_->EnforceInputShares(slot)) return;
    if (ctx_.chains.held() + ctx_.chains.promised() >= ctx_.chains.budget() &&
        s.client.recv_armed && !s.client.recv_paused && !s.out_paused) {
      // Budget exhausted with nothing left to shed: stop taking this client's bytes until
      // buffers come back (FlushSession queues it for re-arming).
      budget_->PauseForBudget(slot, s);
    }
  } else if (c.result == 0) {
    CloseSession(slot, s, CloseReason::kClientEof);
    return;
  } else if (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED) {
    CloseSession(slot, s, CloseReason::kClientError);
    return;
  }
  if (!c.more && !s.client.recv_paused && s.state != SessionState::kClosing &&
      s.state != SessionState::kDraining) {
    // The multishot receive ended (pool dry, or the backend ended it): re-arm in the flush.
    s.client.want_recv = true;
    ctx_.MarkDirty(slot, s);
  }
}

void ClientSessions::OnClientSend(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  s.client.EndSend();
  if (s.state == SessionState::kClosing) return;
  if (c.result < 0) {
    CloseSession(slot, s, CloseReason::kClientError);
    return;
  }
  ctx_.counters.client_bytes_out.Add(static_cast<uint32_t>(c.result));
  s.bytes_out += static_cast<uint32_t>(c.result);
  if (s.secret_index >= 0) {
    ctx_.counters.secrets[s.secret_index].bytes_out.Add(static_cast<uint32_t>(c.result));
  }
  CountSecretBytes(ctx_, s, static_cast<uint32_t>(c.result));
  ctx_.chains.Consume(s.client.out, static_cast<uint32_t>(c.result));
  s.last_active_s = ctx_.now_s;
  if (s.out_paused && s.client.out.bytes <= ctx_.config.queue_cap_bytes / 2)
    ResumeFromOwnOutput(slot, s);
  if (s.tls != nullptr) TlsOnSent(*s.tls, static_cast<uint32_t>(c.result));
  if (s.up != nullptr && s.up->recv_paused &&
      s.client.out.bytes <= ctx_.config.queue_cap_bytes / 2) {
    s.up->recv_paused = false;
    s.up->want_recv = true;
  }
  ctx_.MarkDirty(slot, s);
}

void ClientSessions::TakeHeaderBytes(uint32_t slot, ClientSession& s, int32_t buffer_id,
                                     uint32_t n) {
  static_assert(ClientStreams::kHeaderBytes == kObfuscated2HeaderBytes);
  ClientStreams& h = s.streams;
  const uint32_t take = std::min<uint32_t>(n, kObfuscated2HeaderBytes - h.header_bytes);
  std::memcpy(h.header().data() + h.header_bytes, ctx_.engine->buffers().Data(buffer_id), take);
  h.header_bytes = static_cast<uint8_t>(h.header_bytes + take);
  if (take < n) {
    ctx_.chains.AppendBufferAt(s.in, buffer_id, take, n - take);  // what followed the header
  } else {
    ctx_.engine->buffers().Release(buffer_id);
  }
  OnHandshakeBytes(slot, s);
}

void ClientSessions::OnProxyHeaderBytes(uint32_t slot, ClientSession& s) {
  // The header is bounded (kMaxProxyHeaderBytes): parse the prefix again after each receive.
  std::array<uint8_t, kMaxProxyHeaderBytes> prefix;
  const size_t have = ctx_.chains.CopyOut(
      s.in, 0, MutableByteSpan(prefix.data(), std::min<size_t>(prefix.size(), s.in.bytes)));
  const ProxyHeader h = ParseProxyHeader(ByteSpan(prefix.data(), have));
  if (h.status == ProxyHeaderStatus::kNeedMore) return;  // the deadline bounds the wait
  if (h.status == ProxyHeaderStatus::kError) {
    ctx_.counters.client_proxy_header_errors.Add();
    MTP_LOG(1, "shard %u: client %u: invalid PROXY header (%s)", ctx_.index, slot,
            ProxyHeaderErrorName(h.error));
    CloseSession(slot, s, CloseReason::kProxyHeaderError);
    return;
  }
  ctx_.chains.Consume(s.in, static_cast<uint32_t>(h.header_len));
  if (!h.is_local) {
    // The balancer's client is the client from now on: RPC_PROXY_REQ, the lists and logs.
    const SocketAddress source = h.source.is_v4_mapped() ? h.source.Unmapped() : h.source;
    s.peer_ip = source.ipv6();
    s.peer_port = source.port();
    s.peer_known = true;
    MTP_LOG(1, "shard %u: client %u: PROXY v%d header: client %s", ctx_.index, slot, h.version,
            source.ToString());
  }
  if (const IpAccessLists* lists = ctx_.live->ip_access.get()) {
    absl::StatusOr<SocketAddress> client = h.is_local ? ctx_.engine->PeerAddressOf(s.client.fd)
                                                      : absl::StatusOr<SocketAddress>(h.source);
    const IpAccessVerdict v = client.ok() ? lists->Check(*client) : IpAccessVerdict::kBlocked;
    if (v != IpAccessVerdict::kAllowed) {
      MTP_LOG(1, "shard %u: client %u refused: %s", ctx_.index, slot, IpAccessVerdictName(v));
      if (!ctx_.config.tls.enabled()) {
        ctx_.counters.client_access_denied.Add();
        CloseSession(slot, s, CloseReason::kAccessDenied);
        return;
      }
      s.access_denied = true;  // fronted once its hello is in
    }
  }
  Transition(s, SessionState::kHandshake);
  s.serve_deadline_s =
      ctx_.config.handshake_timeout_ms > 0
          ? ctx_.now_s + static_cast<double>(ctx_.config.handshake_timeout_ms) / 1000.0
          : 0;
  if (!tls_->BeginTls(slot, s)) return;  // closed
  if (s.in.empty()) return;
  // The client's first bytes came with the header.
  if (s.tls_on()) {
    tls_->OnHelloInput(slot, s);
    return;
  }
  ClientStreams& hs = s.streams;
  const uint32_t take = std::min<uint32_t>(s.in.bytes, kObfuscated2HeaderBytes - hs.header_bytes);
  ctx_.chains.CopyOut(s.in, 0, MutableByteSpan(hs.header().data() + hs.header_bytes, take));
  ctx_.chains.Consume(s.in, take);
  hs.header_bytes = static_cast<uint8_t>(hs.header_bytes + take);
  OnHandshakeBytes(slot, s);
}

void ClientSessions::OnHandshakeBytes(uint32_t slot, ClientSession& s) {
  if (s.streams.header_bytes < kObfuscated2HeaderBytes) return;  // the reference waits for all 64
  ctx_.counters.handshake_seconds.Observe(ctx_.now_s - s.accepted_s);
  if (ctx_.handshake_budget != nullptr && !ctx_.handshake_budget->TryConsume()) {
    CloseSession(slot, s, CloseReason::kRateLimited);  // --max-dh-accept-rate
    return;
  }
  Obfuscated2Header header;
  std::memcpy(header.data(), s.streams.header().data(), kObfuscated2HeaderBytes);
  const Obfuscated2Match r = MatchObfuscated2(header, ctx_.live->secrets);
  switch (r.status) {
    case Obfuscated2Status::kCryptoFailure:
      ctx_.counters.handshake_crypto_failed.Add();
      CloseSession(slot, s, CloseReason::kCryptoFailure);
      return;
    case Obfuscated2Status::kNoMatch:
      // Skip mode: keep the socket, swallow everything, never answer (client-transports §8).
      ctx_.counters.handshake_bad.Add();
      if (s.tls_on()) ctx_.counters.tls_failed_inner_header.Add();  // after a valid ClientHello
      ctx_.counters.client_skip_mode.Add();
      ctx_.chains.Clear(s.in);
      Transition(s, SessionState::kSkip);
      MTP_LOG(1, "shard %u: client %u: no secret matches the header, skip mode", ctx_.index, slot);
      return;
    case Obfuscated2Status::kAccepted:
      break;
  }
  // The read stream starts after the header.
  absl::StatusOr<LeanAesCtr> decrypt =
      LeanAesCtr::Create(ctx_.ctr_keys, r.keys.read_key, Obfuscated2ReadIvAfterHeader(r.keys));
  absl::StatusOr<LeanAesCtr> encrypt =
      LeanAesCtr::Create(ctx_.ctr_keys, r.keys.write_key, r.keys.write_iv);
  if (!decrypt.ok() || !encrypt.ok()) {
    ctx_.counters.handshake_crypto_failed.Add();
    CloseSession(slot, s, CloseReason::kCryptoFailure);
    return;
  }
  if (!tls_->CheckTlsInnerTag(slot, s, r.transport)) return;
  ctx_.counters.handshake_ok.Add();
  if (r.secret_index >= 0 && static_cast<size_t>(r.secret_index) < kMaxClientSecrets) {
    s.secret_index = static_cast<int8_t>(r.secret_index);
    ctx_.counters.secrets[r.secret_index].handshakes.Add();
    ctx_.counters.secrets[r.secret_index].active.Add();
    // The header and what followed it.
    ctx_.counters.secrets[r.secret_index].bytes_in.Add(kObfuscated2HeaderBytes + s.in.bytes);
  }
  // Named secrets' limits: the connection cap, the address window, quota, expiry, disabled.
  if (AdmitSecretClient(ctx_, slot, s, r.secret_index) != SecretRefusal::kNone) {
    CloseSession(slot, s, CloseReason::kSecretLimit);
    return;
  }
  s.transport = r.transport;
  s.dc_id = r.dc_id;
  s.streams.Start(std::move(*decrypt), std::move(*encrypt));  // the header is gone now
  if (!s.in.empty()) {
    ctx_.chains.ForEachSegment(s.in, 0, s.in.bytes, [&](MutableByteSpan seg) {
      s.streams.decrypt().Apply(ctx_.ctr_keys, seg);
    });
  }
  if (ctx_.config.mode == UpstreamMode::kDirect) {
    s.direct = true;
  } else if (me_->FallsBackToDc(s.dc_id)) {
    s.direct = true;  // --direct-fallback-after: its middle-ends are unreachable
    ctx_.counters.direct_fallback_clients.Add();
  }
  if (s.direct) {
    Transition(s, SessionState::kConnecting);
    direct_->StartDirectUpstream(slot, s);
    return;
  }
  Transition(s, SessionState::kRelaying);
  ProcessClientFrames(slot, s);
}

void ClientSessions::ProcessClientFrames(uint32_t slot, ClientSession& s) {
  uint8_t peek[12];
  while (s.state == SessionState::kRelaying && !s.in.empty()) {
    ByteSpan view = ctx_.chains.Front(s.in);
    if (view.size() < sizeof(peek) && view.size() < s.in.bytes) {
      size_t n = ctx_.chains.CopyOut(s.in, 0, peek);
      view = ByteSpan(peek, n);
    }
    ClientFrame f = DecodeClientFrame(s.transport, view);
    if (f.status == FrameStatus::kError) {
      ctx_.counters.client_frame_errors.Add();
      CloseSession(slot, s, CloseReason::kFrameError);
      return;
    }
    // A header decoded from a short view: the frame is complete once the chain holds it all.
    if (f.status == FrameStatus::kNeedMore &&
        (f.prefix_bytes == 0 || s.in.bytes < f.wanted_bytes)) {
      return;
    }
    const FrameOutcome outcome =
        HandleClientFrame(slot, s, f.prefix_bytes, f.payload_bytes, f.quick_ack);
    // Held: the frame stays first in s.in and is decoded again when the link has room
    // (FlushSession, once the link resumes its paused clients); it is counted once taken.
    s.input_held = outcome == FrameOutcome::kHeld;
    if (s.input_held) return;
    ctx_.counters.client_frames_in.Add();
    if (outcome == FrameOutcome::kClosed) return;
    ctx_.chains.Consume(s.in, f.frame_bytes());
  }
}

bool ClientSessions::CheckClientBuffers(uint32_t slot, ClientSession& s) {
  if (uint64_t{s.in.bytes} + s.client.out.bytes > ctx_.config.client_buffer_cap_bytes) {
    ctx_.counters.client_failed_flood.Add();
    CloseSession(slot, s, CloseReason::kFlood);
    return false;
  }
  return true;
}

FrameOutcome ClientSessions::HandleClientFrame(uint32_t slot, ClientSession& s, size_t offset,
                                               uint32_t len, bool quick_ack) {
  // The filter needs the payload as one span: it usually is (one receive buffer); a payload
  // straddling buffers is linearised into the shard's scratch buffer.
  ByteSpan payload;
  ByteSpan front = ctx_.chains.Front(s.in);
  if (front.size() >= offset + len) {
    payload = front.subspan(offset, len);
  } else {
    if (ctx_.scratch.size() < len) ctx_.scratch.resize(kMaxFramePayloadBytes);
    ctx_.chains.CopyOut(s.in, offset, MutableByteSpan(ctx_.scratch.data(), len));
    payload = ByteSpan(ctx_.scratch.data(), len);
  }
  FilterResult r = ClassifyClientPayload(payload);
  switch (r.verdict) {
    case FilterVerdict::kAnswerPong: {
      uint8_t pong[kPongPayloadBytes];
      BuildPong(payload, pong);
      ctx_.counters.client_pings_answered.Add();
      return QueueClientFrame(slot, s, pong) ? FrameOutcome::kDone : FrameOutcome::kClosed;
    }
    case FilterVerdict::kDrop:
      if (!CheckClientBuffers(slot, s)) return FrameOutcome::kClosed;
      ctx_.counters.client_frames_filtered.Add();
      return FrameOutcome::kDone;
    case FilterVerdict::kForward:
      if (!CheckClientBuffers(slot, s)) return FrameOutcome::kClosed;
      return me_->ForwardToMe(slot, s, payload, quick_ack, r.proxy_req_flags);
  }
  return FrameOutcome::kDone;
}

bool ClientSessions::QueueClientRaw(uint32_t slot, ClientSession& s, ByteSpan plaintext) {
  if (!budget_->RoomForOutput(plaintext.size(), slot)) {
    if (s.state == SessionState::kClosing) return false;  // shed as a holder itself
    ctx_.counters.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  uint32_t start = s.client.out.bytes;
  if (!ctx_.chains.AppendCopy(s.client.out, plaintext)) {
    ctx_.counters.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  ctx_.chains.ForEachSegment(s.client.out, start, plaintext.size(), [&](MutableByteSpan seg) {
    s.streams.encrypt().Apply(ctx_.ctr_keys, seg);
  });
  ctx_.counters.client_frames_out.Add();
  if (s.client.out.bytes > ctx_.config.queue_cap_bytes) PauseForOwnOutput(slot, s);
  ctx_.MarkDirty(slot, s);
  return true;
}

bool ClientSessions::QueueClientFrame(uint32_t slot, ClientSession& s, ByteSpan payload) {
  uint8_t header[kMaxFrameHeaderBytes];
  uint32_t pad = ServerPaddingBytes(s.transport);
  size_t header_bytes = EncodeServerFrameHeader(s.transport, static_cast<uint32_t>(payload.size()),
                                                pad, FrameHeaderBuffer(header, sizeof(header)));
  size_t total = header_bytes + payload.size() + pad;
  if (!budget_->RoomForOutput(total, slot)) {
    if (s.state == SessionState::kClosing) return false;  // shed as a holder itself
    ctx_.counters.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  uint32_t start = s.client.out.bytes;
  uint8_t padding[4];
  uint64_t r = FastRandom64();
  std::memcpy(padding, &r, sizeof(padding));
  bool ok = ctx_.chains.AppendCopy(s.client.out, ByteSpan(header, header_bytes)) &&
            ctx_.chains.AppendCopy(s.client.out, payload) &&
            ctx_.chains.AppendCopy(s.client.out, ByteSpan(padding, pad));
  if (!ok) {
    ctx_.counters.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  ctx_.chains.ForEachSegment(s.client.out, start, total, [&](MutableByteSpan seg) {
    s.streams.encrypt().Apply(ctx_.ctr_keys, seg);
  });
  ctx_.counters.client_frames_out.Add();
  // A client not reading its answers stops being read (its requests make more answers).
  if (s.client.out.bytes > ctx_.config.queue_cap_bytes) PauseForOwnOutput(slot, s);
  ctx_.MarkDirty(slot, s);
  return true;
}

}  // namespace mtp
