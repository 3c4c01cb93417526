// ProxyShard, client leg: receives, the obfuscated2 handshake (and skip mode), frame decoding
// and the forwarding filter, and everything queued to the client (answers, quick acks, PONG).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proto/obfuscated2.h"
#include "crypto/random.h"
#include "proto/framing.h"
#include "proto/mtproto_filter.h"
#include "dataplane/proxy_shard.h"

namespace mtp {

void ProxyShard::OnClientRecv(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  if (!c.more) s.client.EndRecv();
  if (c.result > 0 && c.buffer_id >= 0) {
    uint32_t n = static_cast<uint32_t>(c.result);
    uint8_t* data = engine_->buffers().Data(c.buffer_id);
    counters_.client_bytes_in.Add(n);
    s.bytes_in += n;
    if (s.secret_index >= 0) counters_.secrets[s.secret_index].bytes_in.Add(n);
    s.last_active_s = now_s_;
    // -D: the fake-TLS stage takes hello bytes and fronted traffic, and unwraps records.
    const bool taken = (s.tls.on() || s.fronting) && TlsClientBytes(slot, s, c.buffer_id, &n);
    if (taken && s.state == SessionState::kClosing) return;
    if (!taken) switch (s.state) {
      case SessionState::kHandshake:
        TakeHeaderBytes(slot, s, c.buffer_id, n);
        break;
      case SessionState::kRelaying:
        if (config_.mode == UpstreamMode::kMiddleEnd) {
          s.decrypt.Apply(data, data, n);
          chains_.AppendBuffer(s.in, c.buffer_id, n);
          ProcessClientFrames(slot, s);
          break;
        }
        [[fallthrough]];
      case SessionState::kConnecting:
        // Direct mode: client CTR -> plaintext -> DC CTR, in place, then queue the buffer.
        s.decrypt.Apply(data, data, n);
        s.up_encrypt.Apply(data, data, n);
        chains_.AppendBuffer(s.up.out, c.buffer_id, n);
        if (s.up.out.bytes > config_.queue_cap_bytes) PauseClientRecv(slot, s);
        MarkDirty(slot, s);
        break;
      case SessionState::kSkip:      // the reference's black hole: discard, never answer
      case SessionState::kDraining:  // input no longer matters
      case SessionState::kClosing:
      case SessionState::kFree:
        engine_->buffers().Release(c.buffer_id);
        break;
    }
    if (s.state == SessionState::kClosing) return;
    // What this receive left unserved is charged to its class; a class over its share sheds
    // its oldest holders (possibly this one) before anyone else runs short.
    ChargeInput(slot, s);
    if (!EnforceInputShares(slot)) return;
    if (chains_.held() + chains_.promised() >= chains_.budget() && s.client.recv_armed &&
        !s.client.recv_paused && !s.out_paused) {
      // Budget exhausted with nothing left to shed: stop taking this client's bytes until
      // buffers come back (FlushSession queues it for re-arming).
      PauseForBudget(slot, s);
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
    MarkDirty(slot, s);
  }
}

void ProxyShard::OnClientSend(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  s.client.EndSend();
  if (s.state == SessionState::kClosing) return;
  if (c.result < 0) {
    CloseSession(slot, s, CloseReason::kClientError);
    return;
  }
  counters_.client_bytes_out.Add(static_cast<uint32_t>(c.result));
  s.bytes_out += static_cast<uint32_t>(c.result);
  if (s.secret_index >= 0) {
    counters_.secrets[s.secret_index].bytes_out.Add(static_cast<uint32_t>(c.result));
  }
  chains_.Consume(s.client.out, static_cast<uint32_t>(c.result));
  s.last_active_s = now_s_;
  if (s.out_paused && s.client.out.bytes <= config_.queue_cap_bytes / 2) ResumeFromOwnOutput(slot, s);
  TlsOnSent(s.tls, static_cast<uint32_t>(c.result));
  if (s.up.recv_paused && s.client.out.bytes <= config_.queue_cap_bytes / 2) {
    s.up.recv_paused = false;
    s.up.want_recv = true;
  }
  MarkDirty(slot, s);
}

void ProxyShard::PauseClientRecv(uint32_t slot, ClientSession& s) {
  if (s.client.recv_paused) return;
  s.client.recv_paused = true;
  counters_.recv_paused.Add();
  if (s.client.recv_armed) engine_->CancelOp(s.client.fd, Tag(OpKind::kClientRecv, slot));
  if (s.bound) {
    MeLink* l = links_.Lookup(s.me_link, s.me_link_generation);
    if (l != nullptr) ++l->paused_count;
  }
}

void ProxyShard::TakeHeaderBytes(uint32_t slot, ClientSession& s, int32_t buffer_id,
                                 uint32_t n) {
  static_assert(sizeof(s.header) == kObfuscated2HeaderBytes);
  const uint32_t take = std::min<uint32_t>(n, kObfuscated2HeaderBytes - s.header_bytes);
  std::memcpy(s.header.data() + s.header_bytes, engine_->buffers().Data(buffer_id), take);
  s.header_bytes = static_cast<uint8_t>(s.header_bytes + take);
  if (take < n) {
    chains_.AppendBufferAt(s.in, buffer_id, take, n - take);  // what followed the header
  } else {
    engine_->buffers().Release(buffer_id);
  }
  OnHandshakeBytes(slot, s);
}

void ProxyShard::OnHandshakeBytes(uint32_t slot, ClientSession& s) {
  if (s.header_bytes < kObfuscated2HeaderBytes) return;  // the reference waits for all 64
  counters_.handshake_seconds.Observe(now_s_ - s.accepted_s);
  if (handshake_budget_ != nullptr && !handshake_budget_->TryConsume()) {
    CloseSession(slot, s, CloseReason::kRateLimited);  // --max-dh-accept-rate
    return;
  }
  Obfuscated2Header header;
  std::memcpy(header.data(), s.header.data(), kObfuscated2HeaderBytes);
  Obfuscated2ServerResult r = AcceptObfuscated2(header, live_->secrets);
  switch (r.status) {
    case Obfuscated2Status::kCryptoFailure:
      counters_.handshake_crypto_failed.Add();
      CloseSession(slot, s, CloseReason::kCryptoFailure);
      return;
    case Obfuscated2Status::kNoMatch:
      // Skip mode: keep the socket, swallow everything, never answer (client-transports §8).
      counters_.handshake_bad.Add();
      if (s.tls.on()) counters_.tls_failed_inner_header.Add();  // after a valid ClientHello
      counters_.client_skip_mode.Add();
      chains_.Clear(s.in);
      Transition(s, SessionState::kSkip);
      MTP_LOG(1, "shard %u: client %u: no secret matches the header, skip mode", index_, slot);
      return;
    case Obfuscated2Status::kAccepted:
      break;
  }
  if (!CheckTlsInnerTag(slot, s, r.transport)) return;
  counters_.handshake_ok.Add();
  if (r.secret_index >= 0 && static_cast<size_t>(r.secret_index) < kMaxClientSecrets) {
    s.secret_index = static_cast<int8_t>(r.secret_index);
    counters_.secrets[r.secret_index].handshakes.Add();
    counters_.secrets[r.secret_index].active.Add();
    // The header and what followed it.
    counters_.secrets[r.secret_index].bytes_in.Add(kObfuscated2HeaderBytes + s.in.bytes);
  }
  s.transport = r.transport;
  s.dc_id = r.dc_id;
  s.decrypt = std::move(r.decrypt);
  s.encrypt = std::move(r.encrypt);
  if (!s.in.empty()) {
    chains_.ForEachSegment(s.in, 0, s.in.bytes, [&](MutableByteSpan seg) { s.decrypt.Apply(seg); });
  }
  if (config_.mode == UpstreamMode::kDirect) {
    Transition(s, SessionState::kConnecting);
    StartDirectUpstream(slot, s);
    return;
  }
  Transition(s, SessionState::kRelaying);
  ProcessClientFrames(slot, s);
}

void ProxyShard::ProcessClientFrames(uint32_t slot, ClientSession& s) {
  uint8_t peek[12];
  while (s.state == SessionState::kRelaying && !s.in.empty()) {
    ByteSpan view = chains_.Front(s.in);
    if (view.size() < sizeof(peek) && view.size() < s.in.bytes) {
      size_t n = chains_.CopyOut(s.in, 0, peek);
      view = ByteSpan(peek, n);
    }
    ClientFrame f = DecodeClientFrame(s.transport, view);
    if (f.status == FrameStatus::kError) {
      counters_.client_frame_errors.Add();
      CloseSession(slot, s, CloseReason::kFrameError);
      return;
    }
    // A header decoded from a short view: the frame is complete once the chain holds it all.
    if (f.status == FrameStatus::kNeedMore &&
        (f.prefix_bytes == 0 || s.in.bytes < f.wanted_bytes)) {
      return;
    }
    counters_.client_frames_in.Add();
    if (!HandleClientFrame(slot, s, f.prefix_bytes, f.payload_bytes, f.quick_ack)) return;
    chains_.Consume(s.in, f.frame_bytes());
  }
}

bool ProxyShard::CheckClientBuffers(uint32_t slot, ClientSession& s) {
  if (uint64_t{s.in.bytes} + s.client.out.bytes > config_.client_buffer_cap_bytes) {
    counters_.client_failed_flood.Add();
    CloseSession(slot, s, CloseReason::kFlood);
    return false;
  }
  return true;
}

bool ProxyShard::HandleClientFrame(uint32_t slot, ClientSession& s, size_t offset, uint32_t len,
                                   bool quick_ack) {
  // The filter needs the payload as one span: it usually is (one receive buffer); a payload
  // straddling buffers is linearised into the shard's scratch buffer.
  ByteSpan payload;
  ByteSpan front = chains_.Front(s.in);
  if (front.size() >= offset + len) {
    payload = front.subspan(offset, len);
  } else {
    if (scratch_.size() < len) scratch_.resize(kMaxFramePayloadBytes);
    chains_.CopyOut(s.in, offset, MutableByteSpan(scratch_.data(), len));
    payload = ByteSpan(scratch_.data(), len);
  }
  FilterResult r = ClassifyClientPayload(payload);
  switch (r.verdict) {
    case FilterVerdict::kAnswerPong: {
      uint8_t pong[kPongPayloadBytes];
      BuildPong(payload, pong);
      counters_.client_pings_answered.Add();
      return QueueClientFrame(slot, s, pong);
    }
    case FilterVerdict::kDrop:
      if (!CheckClientBuffers(slot, s)) return false;
      counters_.client_frames_filtered.Add();
      return true;
    case FilterVerdict::kForward:
      if (!CheckClientBuffers(slot, s)) return false;
      return ForwardToMe(slot, s, payload, quick_ack, r.proxy_req_flags);
  }
  return true;
}

bool ProxyShard::QueueClientRaw(uint32_t slot, ClientSession& s, ByteSpan plaintext) {
  if (!RoomForOutput(plaintext.size(), slot)) {
    if (s.state == SessionState::kClosing) return false;  // shed as a holder itself
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  uint32_t start = s.client.out.bytes;
  if (!chains_.AppendCopy(s.client.out, plaintext)) {
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  chains_.ForEachSegment(s.client.out, start, plaintext.size(),
                         [&](MutableByteSpan seg) { s.encrypt.Apply(seg); });
  counters_.client_frames_out.Add();
  if (s.client.out.bytes > config_.queue_cap_bytes) PauseForOwnOutput(slot, s);
  MarkDirty(slot, s);
  return true;
}

bool ProxyShard::QueueClientFrame(uint32_t slot, ClientSession& s, ByteSpan payload) {
  uint8_t header[kMaxFrameHeaderBytes];
  uint32_t pad = ServerPaddingBytes(s.transport);
  size_t header_bytes = EncodeServerFrameHeader(s.transport, static_cast<uint32_t>(payload.size()),
                                                pad, FrameHeaderBuffer(header, sizeof(header)));
  size_t total = header_bytes + payload.size() + pad;
  if (!RoomForOutput(total, slot)) {
    if (s.state == SessionState::kClosing) return false;  // shed as a holder itself
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  uint32_t start = s.client.out.bytes;
  uint8_t padding[4];
  uint64_t r = FastRandom64();
  std::memcpy(padding, &r, sizeof(padding));
  bool ok = chains_.AppendCopy(s.client.out, ByteSpan(header, header_bytes)) &&
            chains_.AppendCopy(s.client.out, payload) && chains_.AppendCopy(s.client.out, ByteSpan(padding, pad));
  if (!ok) {
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  chains_.ForEachSegment(s.client.out, start, total, [&](MutableByteSpan seg) { s.encrypt.Apply(seg); });
  counters_.client_frames_out.Add();
  // A client not reading its answers stops being read (its requests make more answers).
  if (s.client.out.bytes > config_.queue_cap_bytes) PauseForOwnOutput(slot, s);
  MarkDirty(slot, s);
  return true;
}

}  // namespace mtp
