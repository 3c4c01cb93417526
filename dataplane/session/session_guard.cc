// SessionGuard: service deadline, idle timeout and write stalls, from the tick.
#include "dataplane/session/session_guard.h"

#include "core/log.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/upstream_socks5.h"

namespace mtp {

namespace {

constexpr uint32_t kGuardSweepTicks = 10;  // each slot visited once per 10 ticks (~1 s)

double Seconds(uint32_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

void SessionGuard::Tick() {
  if (ctx_.stopping) return;
  const uint32_t n = ctx_.sessions.constructed();
  const uint32_t visits = (n + kGuardSweepTicks - 1) / kGuardSweepTicks;
  for (uint32_t i = 0; i < visits; ++i) {
    if (guard_cursor_ >= n) guard_cursor_ = 0;
    const uint32_t slot = guard_cursor_++;
    if (ctx_.sessions.is_live(slot)) GuardSession(slot, ctx_.sessions.at(slot));
  }
}

void SessionGuard::GuardSession(uint32_t slot, ClientSession& s) {
  if (s.state == SessionState::kClosing || s.state == SessionState::kFree) return;
  const double now = ctx_.now_s;
  // Fronted connections and fake-TLS hellos run on their own timers (tls/tls_front.cc).
  if (s.serve_deadline_s > 0 && !s.fronting && s.tls_phase() != TlsPhase::kClientHello) {
    const bool waiting_for_me = s.state == SessionState::kRelaying && s.dropped && !s.bound;
    if (s.state == SessionState::kRelaying && !waiting_for_me) {
      s.serve_deadline_s = 0;  // served
    } else if (now >= s.serve_deadline_s) {
      switch (s.state) {
        case SessionState::kProxyHeader:
          ctx_.counters.client_proxy_header_timeouts.Add();
          clients_->CloseSession(slot, s, CloseReason::kProxyHeaderTimeout);
          return;
        case SessionState::kHandshake:
          ctx_.counters.client_handshake_timeouts.Add();
          clients_->CloseSession(slot, s, CloseReason::kHandshakeTimeout);
          return;
        case SessionState::kSkip:
          // Its handshake already ended (no_secret_match, as the reference decides at the
          // 64th byte); only the close is ours. The peer sees the same close either way.
          ctx_.counters.client_skip_closes.Add();
          clients_->CloseSession(slot, s, CloseReason::kHandshakeTimeout);
          return;
        case SessionState::kConnecting:
        case SessionState::kRelaying:
          if (s.up != nullptr && s.up->socks5.active()) {  // --upstream-socks5: unfinished
            NoteSocks5Failure(ctx_, *s.up, Socks5Error::kTimeout, "DC leg");
          }
          ctx_.counters.client_upstream_timeouts.Add();
          clients_->CloseSession(slot, s, CloseReason::kNoUpstream);
          return;
        default:
          break;
      }
    }
  }
  if (ctx_.config.write_stall_timeout_ms > 0 && s.client.send_inflight &&
      now - s.client.send_started_s >= Seconds(ctx_.config.write_stall_timeout_ms)) {
    ctx_.counters.client_write_stalls.Add();
    MTP_LOG(1, "shard %u: client %u: no send progress for %.1f s with %u byte(s) queued",
            ctx_.index, slot, now - s.client.send_started_s, s.client.out.bytes);
    clients_->CloseSession(slot, s, CloseReason::kWriteStall);
    return;
  }
  // The same bound on the upstream leg: a DC (direct mode) or, under -D, the real site that
  // stops reading would otherwise hold the session and its queued bytes until the idle
  // timeout, if any.
  if (ctx_.config.write_stall_timeout_ms > 0 && s.up != nullptr && s.up->send_inflight &&
      now - s.up->send_started_s >= Seconds(ctx_.config.write_stall_timeout_ms)) {
    if (s.fronting) {
      ctx_.counters.tls_front_write_stalls.Add();
      MTP_LOG(1,
              "shard %u: client %u: no send progress to the real site for %.1f s with %u "
              "byte(s) queued",
              ctx_.index, slot, now - s.up->send_started_s, s.up->out.bytes);
      clients_->CloseSession(slot, s, CloseReason::kFrontWriteStall);
      return;
    }
    ctx_.counters.dc_write_stalls.Add();
    MTP_LOG(1, "shard %u: client %u: no send progress to DC %d for %.1f s with %u byte(s) queued",
            ctx_.index, slot, s.dc_id, now - s.up->send_started_s, s.up->out.bytes);
    clients_->CloseSession(slot, s, CloseReason::kUpstreamWriteStall);
    return;
  }
  if (ctx_.config.idle_timeout_ms > 0 &&
      now - s.last_active_s >= Seconds(ctx_.config.idle_timeout_ms)) {
    ctx_.counters.client_idle_timeouts.Add();
    clients_->CloseSession(slot, s, CloseReason::kIdleTimeout);
    return;
  }
}

}  // namespace mtp
