// TlsFront: the ClientHello step, record unwrapping, timers and fronting (see tls_front.h).
#include "dataplane/tls/tls_front.h"

#include <cerrno>

#include "absl/strings/str_format.h"
#include "core/log.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/session/input_budget.h"
#include "dataplane/session/secret_admission_gate.h"
#include "dataplane/tls_layer.h"
#include "proto/fake_tls_alert.h"
#include "proto/proxy_protocol.h"

namespace mtp {

namespace {

// Expiries handled per tick and per timer queue (the rest wait for the next tick).
constexpr uint32_t kMaxExpiriesPerTick = 1024;

}  // namespace

std::string_view FrontReasonName(FrontReason reason) {
  switch (reason) {
    case FrontReason::kNotTls:
      return "not_tls";
    case FrontReason::kBadSni:
      return "bad_sni";
    case FrontReason::kUnknownSni:
      return "unknown_sni";
    case FrontReason::kPort80:
      return "port80";
    case FrontReason::kExtraBytes:
      return "extra_bytes";
    case FrontReason::kTooBig:
      return "too_big";
    case FrontReason::kReplay:
      return "replay";
    case FrontReason::kBadDigest:
      return "bad_digest";
    case FrontReason::kBadTimestamp:
      return "bad_timestamp";
    case FrontReason::kNoTls13Cipher:
      return "no_tls13_cipher";
    case FrontReason::kTimeout:
      return "timeout";
    case FrontReason::kBadInnerTag:
      return "bad_inner_tag";
    case FrontReason::kBadFragments:
      return "bad_fragments";
    case FrontReason::kAccessDenied:
      return "access_denied";
  }
  return "?";
}

namespace {

FrontReason FrontReasonOf(ClientHelloStatus status) {
  switch (status) {
    case ClientHelloStatus::kBadSni:
      return FrontReason::kBadSni;
    case ClientHelloStatus::kUnknownSni:
      return FrontReason::kUnknownSni;
    case ClientHelloStatus::kPort80:
      return FrontReason::kPort80;
    case ClientHelloStatus::kExtraBytes:
      return FrontReason::kExtraBytes;
    case ClientHelloStatus::kTooBig:
      return FrontReason::kTooBig;
    case ClientHelloStatus::kReplay:
      return FrontReason::kReplay;
    case ClientHelloStatus::kBadDigest:
      return FrontReason::kBadDigest;
    case ClientHelloStatus::kBadTimestamp:
      return FrontReason::kBadTimestamp;
    case ClientHelloStatus::kNoTls13Cipher:
      return FrontReason::kNoTls13Cipher;
    case ClientHelloStatus::kBadFragments:
      return FrontReason::kBadFragments;
    case ClientHelloStatus::kNotTls:
    case ClientHelloStatus::kNeedMore:
    case ClientHelloStatus::kAccept:
      break;
  }
  return FrontReason::kNotTls;
}

// The first handshake stage that failed (mtproxy_tls_handshake_failures_total{stage}).
ShardCounter& FailedStage(ShardCounters& c, FrontReason reason, const ClientSession& s) {
  switch (reason) {
    case FrontReason::kNotTls:
      return c.tls_failed_first_bytes;
    case FrontReason::kBadTimestamp:
      return c.tls_failed_timestamp;
    case FrontReason::kReplay:
      return c.tls_failed_replay;
    case FrontReason::kBadInnerTag:
      return c.tls_failed_inner_header;
    case FrontReason::kTimeout:
      // After the ServerHello the inner header never completed; before it, either too few
      // bytes came to classify, or a ClientHello prefix never completed.
      if (s.tls_phase() == TlsPhase::kRecords) return c.tls_failed_inner_header;
      return s.in.bytes < kClassifyMinBytes ? c.tls_failed_first_bytes : c.tls_failed_client_hello;
    case FrontReason::kBadSni:
    case FrontReason::kUnknownSni:
    case FrontReason::kPort80:
    case FrontReason::kExtraBytes:
    case FrontReason::kTooBig:
    case FrontReason::kBadDigest:
    case FrontReason::kNoTls13Cipher:
    case FrontReason::kBadFragments:
    case FrontReason::kAccessDenied:  // not counted as a failed handshake (StartFronting)
      break;
  }
  return c.tls_failed_client_hello;
}

}  // namespace

// One handshake entry per accepted fake-TLS session; twice the slab covers the sessions closed
// within one timeout (a full queue expires its oldest entry early).
TlsFront::TlsFront(ShardContext& ctx)
    : ctx_(ctx),
      tls_deadlines_(ctx.config.tls.enabled() ? 2 * ctx.sessions.capacity() : 1),
      front_deadlines_(ctx.config.tls.enabled() ? 2 * ctx.sessions.capacity() : 1) {}

bool TlsFront::BeginTls(uint32_t slot, ClientSession& s) {
  if (!ctx_.config.tls.enabled()) return true;  // plain obfuscated2 ports: no TLS state at all
  s.tls.reset(new (std::nothrow) TlsSessionState());
  if (s.tls == nullptr) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  BeginTlsSession(ctx_.config.tls, *s.tls);
  const int64_t deadline_ms = ctx_.NowMs() + ctx_.config.tls.handshake_timeout_ms;
  tls_deadlines_.Push({slot, ctx_.sessions.generation(slot), deadline_ms},
                      [&](const DeadlineFifo::Entry& e) { OnTlsHandshakeExpired(e); });
  return true;
}

bool TlsFront::TlsClientBytes(uint32_t slot, ClientSession& s, int32_t buffer_id, uint32_t* n) {
  if (s.fronting) {
    // The byte pipe: everything the client sends goes to the real site untouched.
    if (s.state == SessionState::kConnecting || s.state == SessionState::kRelaying) {
      ctx_.chains.AppendBuffer(s.up->out, buffer_id, *n);  // made by StartFronting
      if (s.up->out.bytes > ctx_.config.queue_cap_bytes) clients_->PauseClientRecv(slot, s);
      ctx_.MarkDirty(slot, s);
    } else {
      ctx_.engine->buffers().Release(buffer_id);
    }
    return true;
  }
  switch (s.tls_phase()) {
    case TlsPhase::kOff:
      return false;
    case TlsPhase::kClientHello:
      if (s.state != SessionState::kHandshake) {
        ctx_.engine->buffers().Release(buffer_id);
        return true;
      }
      ctx_.chains.AppendBuffer(s.in, buffer_id, *n);
      OnClientHelloBytes(slot, s);
      return true;
    case TlsPhase::kRecords: {
      TlsReadError error = TlsReadError::kNone;
      uint8_t* data = ctx_.engine->buffers().Data(buffer_id);
      const uint32_t payload = UnwrapTlsInput(*s.tls, MutableByteSpan(data, *n), &error);
      if (error != TlsReadError::kNone) {
        ctx_.engine->buffers().Release(buffer_id);
        ctx_.counters.tls_bad_records.Add();
        MTP_LOG(1, "shard %u: client %u: fake-TLS record error: %s", ctx_.index, slot,
                TlsReadErrorName(error));
        clients_->CloseSession(slot, s, CloseReason::kFrameError);
        return true;
      }
      if (payload == 0) {
        ctx_.engine->buffers().Release(buffer_id);
        return true;
      }
      *n = payload;
      return false;
    }
  }
  return false;
}

void TlsFront::OnClientHelloBytes(uint32_t slot, ClientSession& s) {
  const uint16_t local_port = ctx_.listener_ports[s.listener];
  const ClientHelloResult r =
      CheckBufferedClientHello(ctx_.chains, s.in, ctx_.scratch, ctx_.config.tls, ctx_.live->secrets,
                               local_port, ctx_.clock.UnixSeconds());
  if (r.need_more()) return;  // bounded: the framing rule waits for at most 5 + 65535 bytes
  if (s.access_denied) {
    // Refused by the IP lists: whatever it sent, it sees the real site.
    StartFronting(slot, s, r.domain_index, FrontReason::kAccessDenied);
    return;
  }
  if (r.status == ClientHelloStatus::kUnknownSni &&
      ctx_.config.tls_unknown_sni != TlsUnknownSniAction::kFront) {
    RefuseUnknownSni(slot, s);
    return;
  }
  if (r.rejected()) {
    const bool fragments = r.status == ClientHelloStatus::kBadFragments;
    MTP_LOG(1, "shard %u: client %u: fake-TLS ClientHello rejected (%s%s%s), proxying to %s",
            ctx_.index, slot, ClientHelloStatusName(r.status), fragments ? ": " : "",
            fragments ? HelloReassemblyErrorName(r.fragments_error) : "",
            ctx_.config.tls.domains[r.domain_index]);
    StartFronting(slot, s, r.domain_index, FrontReasonOf(r.status));
    return;
  }
  // Its named secret's limits refuse it: the real site, as for an address the lists refuse.
  if (AdmitSecretClient(ctx_, slot, s, static_cast<int>(r.secret_index)) != SecretRefusal::kNone) {
    StartFronting(slot, s, r.domain_index, FrontReason::kAccessDenied);
    return;
  }
  if (!AcceptClientHello(ctx_.chains, s.in, s.client.out, ctx_.scratch, r, ctx_.config.tls,
                         ctx_.live->secrets, *s.tls)) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  ctx_.counters.tls_handshakes_accepted.Add();
  MTP_LOG(1, "shard %u: client %u: fake-TLS ClientHello accepted (domain %s, secret #%zu)",
          ctx_.index, slot, ctx_.config.tls.domains[r.domain_index], r.secret_index + 1);
  ctx_.MarkDirty(slot, s);
}

bool TlsFront::CheckTlsInnerTag(uint32_t slot, ClientSession& s, Transport transport) {
  if (!s.tls_on() || transport == Transport::kPadded) return true;
  // Fake-TLS clients must use padded intermediate inside (reference: proxy-pass). The site
  // gets the header too, which the session kept apart from its input chain.
  BufferChain joined;
  joined.charge = s.in.charge;
  bool ok = ctx_.chains.AppendCopy(
      joined, ByteSpan(s.streams.header().data(), s.streams.header_bytes));
  ok = ctx_.chains.AppendChainCopy(joined, s.in) && ok;
  s.in = joined;
  if (!ok) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  StartFronting(slot, s, 0, FrontReason::kBadInnerTag);
  return false;
}

void TlsFront::RefuseUnknownSni(uint32_t slot, ClientSession& s) {
  ctx_.counters.tls_unknown_sni_refused.Add();
  ctx_.counters.tls_failed_client_hello.Add();
  const bool alert = ctx_.config.tls_unknown_sni == TlsUnknownSniAction::kAlert;
  MTP_LOG(1, "shard %u: client %u: fake-TLS ClientHello names no -D domain: %s", ctx_.index, slot,
          alert ? "unrecognized_name alert, then closed" : "closed");
  s.tls_refused = true;
  s.reset_on_close = ctx_.config.tls_reject_rst;
  if (!alert) {
    clients_->CloseSession(slot, s, CloseReason::kTlsRefused);
    return;
  }
  // The alert is a plaintext record of its own: marked as framed so the output stage leaves
  // it alone. The session drains it, then closes (with an RST under --tls-reject-rst).
  ctx_.chains.Clear(s.in);
  budget_->Forget(slot);
  if (!ctx_.chains.AppendCopy(s.client.out, ByteSpan(kUnrecognizedNameAlert))) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  s.tls->framed_bytes = s.client.out.bytes;
  clients_->Transition(s, SessionState::kDraining);
  if (s.client.recv_armed) {
    ctx_.engine->CancelOp(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
  }
  ctx_.MarkDirty(slot, s);
}

bool TlsFront::QueueFrontProxyHeader(ClientSession& s) {
  absl::StatusOr<SocketAddress> local = ctx_.engine->LocalAddressOf(s.client.fd);
  absl::StatusOr<SocketAddress> peer = ctx_.engine->PeerAddressOf(s.client.fd);
  if (!local.ok() || !peer.ok()) return true;  // nothing to tell: the site sees our address
  SocketAddress source = *peer;
  if (s.peer_known) {  // the client a PROXY header named, not the balancer
    std::array<uint8_t, 16> ip = s.peer_ip;
    source = SocketAddress::FromIpv6(ip, s.peer_port);
  }
  if (source.is_v4_mapped()) source = source.Unmapped();
  SocketAddress destination = local->is_v4_mapped() ? local->Unmapped() : *local;
  const std::string header = BuildProxyV2(source, destination);
  BufferChain out;
  out.charge = Charge::kQueue;
  if (!ctx_.chains.AppendCopy(
          out, ByteSpan(reinterpret_cast<const uint8_t*>(header.data()), header.size()))) {
    return false;
  }
  s.up->out = out;
  return true;
}

void TlsFront::StartFronting(uint32_t slot, ClientSession& s, size_t domain_index,
                             FrontReason reason) {
  ctx_.counters.tls_fronted.Add();
  if (reason != FrontReason::kAccessDenied) FailedStage(ctx_.counters, reason, s).Add();
  switch (reason) {
#define MTP_COUNT_REASON(R, counter) \
  case FrontReason::R:               \
    ctx_.counters.counter.Add();     \
    break;
    MTP_COUNT_REASON(kNotTls, tls_fronted_not_tls)
    MTP_COUNT_REASON(kBadSni, tls_fronted_bad_sni)
    MTP_COUNT_REASON(kUnknownSni, tls_fronted_unknown_sni)
    MTP_COUNT_REASON(kPort80, tls_fronted_port80)
    MTP_COUNT_REASON(kExtraBytes, tls_fronted_extra_bytes)
    MTP_COUNT_REASON(kTooBig, tls_fronted_too_big)
    MTP_COUNT_REASON(kReplay, tls_fronted_replay)
    MTP_COUNT_REASON(kBadDigest, tls_fronted_bad_digest)
    MTP_COUNT_REASON(kBadTimestamp, tls_fronted_bad_timestamp)
    MTP_COUNT_REASON(kNoTls13Cipher, tls_fronted_no_tls13_cipher)
    MTP_COUNT_REASON(kTimeout, tls_fronted_timeout)
    MTP_COUNT_REASON(kBadInnerTag, tls_fronted_bad_inner_tag)
    MTP_COUNT_REASON(kBadFragments, tls_fronted_bad_fragments)
    MTP_COUNT_REASON(kAccessDenied, tls_fronted_access_denied)
#undef MTP_COUNT_REASON
  }
  const std::shared_ptr<const TlsDomainInfo> info = ctx_.config.tls.registry->Get(domain_index);
  const SocketAddress target = info->FrontFor(ctx_.listener_ports[s.listener]);
  s.tls->domain_index = static_cast<uint8_t>(domain_index);  // names the site in FrontFailed
  if (!target.valid()) {
    FrontFailed(slot, s, "its address is unknown (the name did not resolve)");
    return;
  }
  if (!s.MakeUp()) {  // the leg to the site: only fronted sessions have it
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  UpstreamLeg& up = *s.up;
  OutboundOptions options;
  if (ctx_.config.outbound_bind && ctx_.config.outbound_bind->family() == target.family()) {
    options.bind_address = ctx_.config.outbound_bind;
  }
  auto fd = ctx_.engine->OpenOutbound(target.family(), options);
  if (!fd.ok()) {
    FrontFailed(slot, s, std::string(fd.status().message()));
    return;
  }
  MTP_LOG(1, "shard %u: client %u: proxying to %s (%s) for %s", ctx_.index, slot, target.ToString(),
          info->name, FrontReasonName(reason));
  s.fronting = true;
  s.tls->phase = TlsPhase::kOff;  // no more framing either way; queued output still goes out
  up.fd = *fd;
  // Everything the client sent and we did not consume goes first, from its first byte. It is a
  // send queue from now on (bounded by the queue cap), no longer unserved input.
  ctx_.chains.SetCharge(s.in, Charge::kQueue);
  budget_->Forget(slot);
  if (ctx_.config.tls_front_proxy_protocol && !QueueFrontProxyHeader(s)) {
    ctx_.counters.client_failed_no_buffers.Add();
    clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  if (up.out.empty()) {
    up.out = s.in;
  } else {
    // After the PROXY header (a copy: cold, a hello is at most a few records).
    if (!ctx_.chains.AppendChainCopy(up.out, s.in)) {
      ctx_.counters.client_failed_no_buffers.Add();
      clients_->CloseSession(slot, s, CloseReason::kNoBuffers);
      return;
    }
  }
  s.in = BufferChain{};
  ctx_.counters.tls_fronting_active.Add();
  clients_->Transition(s, SessionState::kConnecting);
  ctx_.engine->Connect(up.fd, target.sockaddr_ptr(), target.length(),
                       ctx_.Tag(OpKind::kUpstreamConnect, slot));
  up.BeginConnect();
  const int64_t deadline_ms = ctx_.NowMs() + ctx_.config.tls.front_connect_timeout_ms;
  front_deadlines_.Push({slot, ctx_.sessions.generation(slot), deadline_ms},
                        [&](const DeadlineFifo::Entry& e) { OnFrontConnectExpired(e); });
}

void TlsFront::OnTlsHandshakeExpired(const DeadlineFifo::Entry& e) {
  ClientSession* s = ctx_.sessions.Lookup(e.slot, e.generation);
  if (s == nullptr || s->fronting || !s->tls_on() || s->state != SessionState::kHandshake) return;
  MTP_LOG(1, "shard %u: client %u: fake-TLS handshake not completed in time", ctx_.index, e.slot);
  StartFronting(e.slot, *s, 0, FrontReason::kTimeout);
}

void TlsFront::OnFrontConnectExpired(const DeadlineFifo::Entry& e) {
  ClientSession* s = ctx_.sessions.Lookup(e.slot, e.generation);
  if (s == nullptr || !s->fronting || !s->up->connecting) return;  // fronting: it has `up`
  FrontFailed(
      e.slot, *s,
      absl::StrFormat("connect timed out after %u ms", ctx_.config.tls.front_connect_timeout_ms));
}

void TlsFront::FrontFailed(uint32_t slot, ClientSession& s, std::string_view why) {
  ctx_.counters.tls_front_failed.Add();
  s.reset_on_close = ctx_.config.tls_reject_rst;
  // A censor probing while the site is down would otherwise write one line per connection.
  const int64_t now_ms = ctx_.NowMs();
  if (front_fail_logged_ms_ == INT64_MIN || now_ms - front_fail_logged_ms_ >= 1000) {
    const std::shared_ptr<const TlsDomainInfo> info =
        ctx_.config.tls.registry->Get(s.tls->domain_index);
    const SocketAddress target = info->FrontFor(ctx_.listener_ports[s.listener]);
    MTP_WARN("failed to proxy request to %s (%s): %s; client connection closed%s", info->name,
             target.valid() ? target.ToString() : std::string("no address"), why,
             front_fail_unlogged_ == 0
                 ? std::string()
                 : absl::StrFormat(" (%u more since the last message)", front_fail_unlogged_));
    front_fail_logged_ms_ = now_ms;
    front_fail_unlogged_ = 0;
  } else {
    ++front_fail_unlogged_;
  }
  clients_->CloseSession(slot, s, CloseReason::kUpstreamError);
}

void TlsFront::Tick() {
  if (!ctx_.config.tls.enabled()) return;
  const int64_t now_ms = ctx_.NowMs();
  tls_deadlines_.PopExpired(now_ms, kMaxExpiriesPerTick,
                            [&](const DeadlineFifo::Entry& e) { OnTlsHandshakeExpired(e); });
  front_deadlines_.PopExpired(now_ms, kMaxExpiriesPerTick,
                              [&](const DeadlineFifo::Entry& e) { OnFrontConnectExpired(e); });
}

}  // namespace mtp
