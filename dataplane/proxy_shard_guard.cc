// ProxyShard guards against bad peers and overload: the service (handshake) deadline, the
// idle timeout, client and direct-mode DC write stalls, per-client output backpressure in ME mode, shedding the
// largest stalled buffer holders when the shard's budget runs low, and rate-limited reports
// of unreachable ME targets. Everything here runs from the 0.1-s tick or on cold edges; the
// relay path only stores timestamps.
#include <algorithm>

#include "core/log.h"
#include "dataplane/proxy_shard.h"

namespace mtp {
namespace {

constexpr uint32_t kGuardSweepTicks = 10;      // each slot visited once per 10 ticks (~1 s)
constexpr double kShedPauseS = 0.5;            // after shedding: let the closed ones free
constexpr double kShedMinStallS = 1.0;         // a holder sending within this long is spared
constexpr double kUnreachableReportS = 60.0;   // one "still unreachable" line per interval

double Seconds(uint32_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

void ProxyShard::GuardTick() {
  if (stopping_) return;
  const uint32_t n = sessions_.constructed();
  const uint32_t visits = (n + kGuardSweepTicks - 1) / kGuardSweepTicks;
  for (uint32_t i = 0; i < visits; ++i) {
    if (guard_cursor_ >= n) guard_cursor_ = 0;
    const uint32_t slot = guard_cursor_++;
    if (sessions_.is_live(slot)) GuardSession(slot, sessions_.at(slot));
  }
  // Checked every tick (the reference: every second) so stalled holders go before the budget
  // runs dry and an innocent append fails; a walk happens only above the threshold.
  const bool over = uint64_t{chains_.held()} * 4 > uint64_t{chains_.budget()} * 3;
  if (over && now_s_ >= next_shed_check_s_) {
    next_shed_check_s_ = now_s_ + kShedPauseS;
    ShedLargestHolders();
  }
}

void ProxyShard::GuardSession(uint32_t slot, ClientSession& s) {
  if (s.state == SessionState::kClosing || s.state == SessionState::kFree) return;
  const double now = now_s_;
  // Fronted connections and fake-TLS hellos run on their own timers (proxy_shard_tls.cc).
  if (s.serve_deadline_s > 0 && !s.fronting && s.tls.phase != TlsPhase::kClientHello) {
    const bool waiting_for_me = s.state == SessionState::kRelaying && s.dropped && !s.bound;
    if (s.state == SessionState::kRelaying && !waiting_for_me) {
      s.serve_deadline_s = 0;  // served
    } else if (now >= s.serve_deadline_s) {
      switch (s.state) {
        case SessionState::kHandshake:
          counters_.client_handshake_timeouts.Add();
          CloseSession(slot, s, CloseReason::kHandshakeTimeout);
          return;
        case SessionState::kSkip:
          // Its handshake already ended (no_secret_match, as the reference decides at the
          // 64th byte); only the close is ours. The peer sees the same close either way.
          counters_.client_skip_closes.Add();
          CloseSession(slot, s, CloseReason::kHandshakeTimeout);
          return;
        case SessionState::kConnecting:
        case SessionState::kRelaying:
          counters_.client_upstream_timeouts.Add();
          CloseSession(slot, s, CloseReason::kNoUpstream);
          return;
        default:
          break;
      }
    }
  }
  if (config_.write_stall_timeout_ms > 0 && s.client.send_inflight &&
      now - s.client.send_started_s >= Seconds(config_.write_stall_timeout_ms)) {
    counters_.client_write_stalls.Add();
    MTP_LOG(1, "shard %u: client %u: no send progress for %.1f s with %u byte(s) queued", index_,
            slot, now - s.client.send_started_s, s.client.out.bytes);
    CloseSession(slot, s, CloseReason::kWriteStall);
    return;
  }
  // Direct mode: the same bound on the send to the DC (a DC that stops reading would otherwise
  // hold the session and its queued bytes until the idle timeout, if any). Fronted pipes are
  // left to the idle timer.
  if (config_.write_stall_timeout_ms > 0 && s.up.send_inflight && !s.fronting &&
      now - s.up.send_started_s >= Seconds(config_.write_stall_timeout_ms)) {
    counters_.dc_write_stalls.Add();
    MTP_LOG(1, "shard %u: client %u: no send progress to DC %d for %.1f s with %u byte(s) queued",
            index_, slot, s.dc_id, now - s.up.send_started_s, s.up.out.bytes);
    CloseSession(slot, s, CloseReason::kUpstreamWriteStall);
    return;
  }
  if (config_.idle_timeout_ms > 0 && now - s.last_active_s >= Seconds(config_.idle_timeout_ms)) {
    counters_.client_idle_timeouts.Add();
    CloseSession(slot, s, CloseReason::kIdleTimeout);
    return;
  }
}

void ProxyShard::ShedLargestHolders() {
  const uint64_t unit = chains_.buffer_size();
  const uint64_t held = uint64_t{chains_.held()} * unit;
  const uint64_t budget = uint64_t{chains_.budget()} * unit;
  if (held * 4 <= budget * 3) return;
  // Down to 5/8 of the budget, so a shard at the threshold does not shed every second.
  const uint64_t excess = held - budget * 5 / 8;
  // Victims: clients whose queues are not moving (send stuck or nothing in or out for a
  // while), largest first: closing an idle connection that holds nothing frees nothing, and a
  // client draining its queue at speed is not the problem.
  shed_candidates_.clear();
  sessions_.ForEachLive([&](uint32_t slot, ClientSession& s) {
    if (s.state == SessionState::kClosing) return;
    const uint64_t bytes = uint64_t{s.in.bytes} + s.client.out.bytes + s.up.out.bytes;
    if (bytes == 0) return;
    const bool send_stuck = s.client.send_inflight && now_s_ - s.client.send_started_s >= kShedMinStallS;
    const bool quiet = now_s_ - s.last_active_s >= kShedMinStallS;
    if (send_stuck || quiet) shed_candidates_.push_back({bytes, s.last_active_s, slot});
  });
  std::sort(shed_candidates_.begin(), shed_candidates_.end(),
            [](const ShedCandidate& a, const ShedCandidate& b) {
              if (a.bytes != b.bytes) return a.bytes > b.bytes;
              return a.last_active_s < b.last_active_s;
            });
  uint64_t freed = 0;
  uint32_t closed = 0;
  for (const ShedCandidate& c : shed_candidates_) {
    if (freed >= excess) break;
    counters_.client_failed_shed.Add();
    CloseSession(c.slot, sessions_.at(c.slot), CloseReason::kShed);
    freed += c.bytes;
    ++closed;
  }
  if (closed == 0) return;  // nothing stalled to shed: appends fail (kNoBuffers) if it fills
  MTP_WARN("shard %u: buffers at %llu of %llu bytes: closed %u stalled client(s) holding %llu "
           "bytes (%zu candidate(s))",
           index_, static_cast<unsigned long long>(held),
           static_cast<unsigned long long>(budget), closed,
           static_cast<unsigned long long>(freed), shed_candidates_.size());
}

void ProxyShard::PauseForOwnOutput(uint32_t slot, ClientSession& s) {
  if (s.out_paused) return;
  s.out_paused = true;
  counters_.client_out_paused.Add();
  if (s.client.recv_armed && !s.client.recv_paused) engine_->CancelOp(s.client.fd, Tag(OpKind::kClientRecv, slot));
}

void ProxyShard::ResumeFromOwnOutput(uint32_t slot, ClientSession& s) {
  s.out_paused = false;
  if (!s.client.recv_paused) {
    s.client.want_recv = true;
    MarkDirty(slot, s);
  }
}

void ProxyShard::NoteMeTargetFailure(uint32_t target, const char* why) {
  TargetState& ts = targets_[target];
  if (ts.ready > 0 || ts.retired) return;  // other links serve it: not unreachable
  ++ts.failures_since_report;
  if (!ts.down) {
    ts.down = true;
    ts.down_since_s = now_s_;
    ts.next_report_s = now_s_ + kUnreachableReportS;
    ts.failures_since_report = 0;
    counters_.me_unreachable_reports.Add();
    MTP_WARN("shard %u: middle-end %s unreachable (%s); retrying with backoff, its clients are "
             "closed after the handshake timeout",
             index_, ts.address.ToString(), why);
    return;
  }
  if (now_s_ >= ts.next_report_s) {
    counters_.me_unreachable_reports.Add();
    MTP_WARN("shard %u: middle-end %s still unreachable after %.0f s (%u failed attempt(s) "
             "since the last report, last: %s)",
             index_, ts.address.ToString(), now_s_ - ts.down_since_s, ts.failures_since_report,
             why);
    ts.next_report_s = now_s_ + kUnreachableReportS;
    ts.failures_since_report = 0;
  }
}

void ProxyShard::NoteMeTargetReady(uint32_t target) {
  TargetState& ts = targets_[target];
  if (!ts.down) return;
  ts.down = false;
  MTP_WARN("shard %u: middle-end %s reachable again after %.1f s", index_,
           ts.address.ToString(), now_s_ - ts.down_since_s);
}

}  // namespace mtp
