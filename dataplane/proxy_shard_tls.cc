// ProxyShard, fake-TLS (-D): the ClientHello step of a session, client records unwrapped in
// front of the obfuscated2 logic, the handshake and fronting-connect timers, and fronting:
// connections that fail the checks are piped byte for byte to the domain's real site over the
// session's upstream leg (the same leg direct mode uses, without any cipher).
#include <cerrno>
#include <ctime>

#include "absl/strings/str_format.h"
#include "core/log.h"
#include "core/socket_util.h"
#include "dataplane/proxy_shard.h"

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
      if (s.tls.phase == TlsPhase::kRecords) return c.tls_failed_inner_header;
      return s.in.bytes < kClassifyMinBytes ? c.tls_failed_first_bytes
                                            : c.tls_failed_client_hello;
    case FrontReason::kBadSni:
    case FrontReason::kUnknownSni:
    case FrontReason::kPort80:
    case FrontReason::kExtraBytes:
    case FrontReason::kTooBig:
    case FrontReason::kBadDigest:
    case FrontReason::kNoTls13Cipher:
    case FrontReason::kBadFragments:
      break;
  }
  return c.tls_failed_client_hello;
}

}  // namespace

void ProxyShard::BeginTls(uint32_t slot, ClientSession& s) {
  BeginTlsSession(config_.tls, s.tls);
  if (!s.tls.on()) return;
  const int64_t deadline_ms = NowMs() + config_.tls.handshake_timeout_ms;
  tls_deadlines_.Push({slot, sessions_.generation(slot), deadline_ms},
                      [&](const DeadlineFifo::Entry& e) { OnTlsHandshakeExpired(e); });
}

bool ProxyShard::TlsClientBytes(uint32_t slot, ClientSession& s, int32_t buffer_id,
                                uint32_t* n) {
  if (s.fronting) {
    // The byte pipe: everything the client sends goes to the real site untouched.
    if (s.state == SessionState::kConnecting || s.state == SessionState::kRelaying) {
      chains_.AppendBuffer(s.up.out, buffer_id, *n);
      if (s.up.out.bytes > config_.queue_cap_bytes) PauseClientRecv(slot, s);
      MarkDirty(slot, s);
    } else {
      engine_->buffers().Release(buffer_id);
    }
    return true;
  }
  switch (s.tls.phase) {
    case TlsPhase::kOff:
      return false;
    case TlsPhase::kClientHello:
      if (s.state != SessionState::kHandshake) {
        engine_->buffers().Release(buffer_id);
        return true;
      }
      chains_.AppendBuffer(s.in, buffer_id, *n);
      OnClientHelloBytes(slot, s);
      return true;
    case TlsPhase::kRecords: {
      TlsReadError error = TlsReadError::kNone;
      uint8_t* data = engine_->buffers().Data(buffer_id);
      const uint32_t payload = UnwrapTlsInput(s.tls, MutableByteSpan(data, *n), &error);
      if (error != TlsReadError::kNone) {
        engine_->buffers().Release(buffer_id);
        counters_.tls_bad_records.Add();
        MTP_LOG(1, "shard %u: client %u: fake-TLS record error: %s", index_, slot,
                TlsReadErrorName(error));
        CloseSession(slot, s, CloseReason::kFrameError);
        return true;
      }
      if (payload == 0) {
        engine_->buffers().Release(buffer_id);
        return true;
      }
      *n = payload;
      return false;
    }
  }
  return false;
}

void ProxyShard::OnClientHelloBytes(uint32_t slot, ClientSession& s) {
  const uint16_t local_port = listener_ports_[s.listener];
  const ClientHelloResult r =
      CheckBufferedClientHello(chains_, s.in, scratch_, config_.tls, live_->secrets, local_port,
                               clock_.UnixSeconds());
  if (r.need_more()) return;  // bounded: the framing rule waits for at most 5 + 65535 bytes
  if (r.rejected()) {
    const bool fragments = r.status == ClientHelloStatus::kBadFragments;
    MTP_LOG(1, "shard %u: client %u: fake-TLS ClientHello rejected (%s%s%s), proxying to %s",
            index_, slot, ClientHelloStatusName(r.status), fragments ? ": " : "",
            fragments ? HelloReassemblyErrorName(r.fragments_error) : "",
            config_.tls.domains[r.domain_index]);
    StartFronting(slot, s, r.domain_index, FrontReasonOf(r.status));
    return;
  }
  if (!AcceptClientHello(chains_, s.in, s.client.out, scratch_, r, config_.tls, live_->secrets,
                         s.tls)) {
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  counters_.tls_handshakes_accepted.Add();
  MTP_LOG(1, "shard %u: client %u: fake-TLS ClientHello accepted (domain %s, secret #%zu)",
          index_, slot, config_.tls.domains[r.domain_index], r.secret_index + 1);
  MarkDirty(slot, s);
}

bool ProxyShard::CheckTlsInnerTag(uint32_t slot, ClientSession& s, Transport transport) {
  if (!s.tls.on() || transport == Transport::kPadded) return true;
  // Fake-TLS clients must use padded intermediate inside (reference: proxy-pass). The site
  // gets the header too, which the session kept apart from its input chain.
  BufferChain joined;
  joined.charge = s.in.charge;
  bool ok = chains_.AppendCopy(joined, ByteSpan(s.header.data(), s.header_bytes));
  chains_.ForEachSegment(s.in, 0, s.in.bytes,
                         [&](MutableByteSpan seg) { ok = ok && chains_.AppendCopy(joined, seg); });
  chains_.Clear(s.in);
  s.in = joined;
  if (!ok) {
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return false;
  }
  StartFronting(slot, s, 0, FrontReason::kBadInnerTag);
  return false;
}

void ProxyShard::StartFronting(uint32_t slot, ClientSession& s, size_t domain_index,
                               FrontReason reason) {
  counters_.tls_fronted.Add();
  FailedStage(counters_, reason, s).Add();
  switch (reason) {
#define MTP_COUNT_REASON(R, counter) \
  case FrontReason::R:               \
    counters_.counter.Add();         \
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
#undef MTP_COUNT_REASON
  }
  const std::shared_ptr<const TlsDomainInfo> info = config_.tls.registry->Get(domain_index);
  const SocketAddress target = info->FrontFor(listener_ports_[s.listener]);
  s.tls.domain_index = static_cast<uint8_t>(domain_index);  // names the site in FrontFailed
  if (!target.valid()) {
    FrontFailed(slot, s, "its address is unknown (the name did not resolve)");
    return;
  }
  OutboundOptions options;
  if (config_.outbound_bind && config_.outbound_bind->family() == target.family()) {
    options.bind_address = config_.outbound_bind;
  }
  auto fd = engine_->OpenOutbound(target.family(), options);
  if (!fd.ok()) {
    FrontFailed(slot, s, std::string(fd.status().message()));
    return;
  }
  MTP_LOG(1, "shard %u: client %u: proxying to %s (%s) for %s", index_, slot,
          target.ToString(), info->name, FrontReasonName(reason));
  s.fronting = true;
  s.tls.phase = TlsPhase::kOff;  // no more framing either way; queued output still goes out
  s.up.fd = *fd;
  // Everything the client sent and we did not consume goes first, from its first byte. It is a
  // send queue from now on (bounded by the queue cap), no longer unserved input.
  chains_.SetCharge(s.in, Charge::kQueue);
  holders_.Set(slot, Charge::kQueue);
  s.up.out = s.in;
  s.in = BufferChain{};
  counters_.tls_fronting_active.Add();
  Transition(s, SessionState::kConnecting);
  engine_->Connect(s.up.fd, target.sockaddr_ptr(), target.length(),
                   Tag(OpKind::kUpstreamConnect, slot));
  s.up.BeginConnect();
  const int64_t deadline_ms = NowMs() + config_.tls.front_connect_timeout_ms;
  front_deadlines_.Push({slot, sessions_.generation(slot), deadline_ms},
                        [&](const DeadlineFifo::Entry& e) { OnFrontConnectExpired(e); });
}

void ProxyShard::OnTlsHandshakeExpired(const DeadlineFifo::Entry& e) {
  ClientSession* s = sessions_.Lookup(e.slot, e.generation);
  if (s == nullptr || s->fronting || !s->tls.on() || s->state != SessionState::kHandshake) return;
  MTP_LOG(1, "shard %u: client %u: fake-TLS handshake not completed in time", index_, e.slot);
  StartFronting(e.slot, *s, 0, FrontReason::kTimeout);
}

void ProxyShard::OnFrontConnectExpired(const DeadlineFifo::Entry& e) {
  ClientSession* s = sessions_.Lookup(e.slot, e.generation);
  if (s == nullptr || !s->fronting || !s->up.connecting) return;
  FrontFailed(e.slot, *s,
              absl::StrFormat("connect timed out after %u ms", config_.tls.front_connect_timeout_ms));
}

void ProxyShard::FrontFailed(uint32_t slot, ClientSession& s, std::string_view why) {
  counters_.tls_front_failed.Add();
  // A censor probing while the site is down would otherwise write one line per connection.
  const int64_t now_ms = NowMs();
  if (front_fail_logged_ms_ == INT64_MIN || now_ms - front_fail_logged_ms_ >= 1000) {
    const std::shared_ptr<const TlsDomainInfo> info =
        config_.tls.registry->Get(s.tls.domain_index);
    const SocketAddress target = info->FrontFor(listener_ports_[s.listener]);
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
  CloseSession(slot, s, CloseReason::kUpstreamError);
}

void ProxyShard::TlsTick() {
  if (!config_.tls.enabled()) return;
  const int64_t now_ms = NowMs();
  tls_deadlines_.PopExpired(now_ms, kMaxExpiriesPerTick,
                            [&](const DeadlineFifo::Entry& e) { OnTlsHandshakeExpired(e); });
  front_deadlines_.PopExpired(now_ms, kMaxExpiriesPerTick,
                              [&](const DeadlineFifo::Entry& e) { OnFrontConnectExpired(e); });
}

}  // namespace mtp
