// InputBudget: charges, shares, shedding and the receive waiters (see input_budget.h).
#include "dataplane/session/input_budget.h"

#include <algorithm>

#include "core/check.h"
#include "core/log.h"
#include "dataplane/session/client_sessions.h"

namespace mtp {

namespace {

// Shares of the chains' budget, in 1/1024: unauthenticated bytes (fake-TLS hellos; obfuscated2
// headers live in the session) and partial frames. Queues of authenticated clients are bounded
// per session (queue cap, flood cap) and by the stalled-holder shedding below.
constexpr uint32_t kPreAuthShare1024 = 128;  // 1/8
constexpr uint32_t kPartialShare1024 = 512;  // 1/2
// Waiting receives re-armed per flush pass (each takes at least one buffer when data comes).
constexpr uint32_t kRearmPerPass = 64;
constexpr int64_t kShedLogIntervalMs = 1000;
constexpr double kShedPauseS = 0.5;     // after shedding stalled holders: let the closed ones free
constexpr double kShedMinStallS = 1.0;  // a holder sending within this long is spared

uint32_t ShareOf(uint32_t budget, uint32_t share_1024) {
  return std::max<uint32_t>(1, static_cast<uint32_t>(uint64_t{budget} * share_1024 / 1024));
}

}  // namespace

void InputBudget::ChargeInput(uint32_t slot, ClientSession& s) {
  Charge c = Charge::kQueue;
  if (!s.in.empty()) {
    if (s.state == SessionState::kHandshake || s.state == SessionState::kProxyHeader) {
      c = Charge::kPreAuth;
    } else if (s.state == SessionState::kRelaying) {
      c = Charge::kPartial;
    }
  }
  ctx_.chains.SetCharge(s.in, c);
  holders_.Set(slot, c);
}

uint32_t InputBudget::ShedOldest(Charge c) {
  if (c == Charge::kQueue) {
    const uint32_t victim = ShedOldest(Charge::kPartial);
    return victim != HolderLedger::kNone ? victim : ShedOldest(Charge::kPreAuth);
  }
  const uint32_t victim = holders_.Oldest(c);
  if (victim != HolderLedger::kNone) ShedHolder(victim, c);
  return victim;
}

bool InputBudget::EnforceInputShares(uint32_t slot) {
  bool self_alive = true;
  auto shed_oldest = [&](Charge c) {
    const uint32_t victim = ShedOldest(c);
    if (victim == slot) self_alive = false;
    return victim != HolderLedger::kNone;
  };
  const uint32_t budget = ctx_.chains.budget();
  const struct {
    Charge charge;
    uint32_t share;
  } classes[] = {{Charge::kPreAuth, ShareOf(budget, kPreAuthShare1024)},
                 {Charge::kPartial, ShareOf(budget, kPartialShare1024)}};
  for (const auto& k : classes) {
    while (ctx_.chains.held_by(k.charge) > k.share) {
      if (!shed_oldest(k.charge)) {
        MTP_VERIFY(false, "charge class over its share with no holder on file");
        break;
      }
    }
  }
  // The whole budget: unserved input goes before anything else (partial frames first: they
  // are the larger holders) -- but only while shedding input can cover the excess. When the
  // excess is output (non-readers' queues, until the tick sheds them as stalled holders),
  // shedding input would close clients whose one frame is still arriving and free too little;
  // the receive that went over pauses instead (OnClientRecv), and resumes as buffers return.
  while (ctx_.chains.held() + ctx_.chains.promised() > budget) {
    const uint32_t excess = ctx_.chains.held() + ctx_.chains.promised() - budget;
    const uint32_t input =
        ctx_.chains.held_by(Charge::kPartial) + ctx_.chains.held_by(Charge::kPreAuth);
    if (input < excess || !shed_oldest(Charge::kQueue)) break;
  }
  return self_alive;
}

void InputBudget::ShedHolder(uint32_t slot, Charge charge) {
  ClientSession& s = ctx_.sessions.at(slot);
  const uint32_t held = s.in.bytes;
  if (charge == Charge::kPreAuth) {
    ctx_.counters.client_shed_pre_auth.Add();
  } else {
    ctx_.counters.client_shed_partial.Add();
  }
  // A crowd of slow senders would otherwise write one line per connection.
  const int64_t now_ms = ctx_.NowMs();
  if (shed_logged_ms_ == INT64_MIN || now_ms - shed_logged_ms_ >= kShedLogIntervalMs) {
    MTP_WARN(
        "shard %u: buffers at %u of %u: shed client %u holding %u %s byte(s) since %.1f s "
        "(%llu more shed since the last message)",
        ctx_.index, ctx_.chains.held(), ctx_.chains.budget(), slot, held,
        charge == Charge::kPreAuth ? "unauthenticated" : "partial-frame",
        ctx_.now_s - s.last_active_s, static_cast<unsigned long long>(shed_unlogged_));
    shed_logged_ms_ = now_ms;
    shed_unlogged_ = 0;
  } else {
    ++shed_unlogged_;
  }
  clients_->CloseSession(
      slot, s, charge == Charge::kPreAuth ? CloseReason::kShedPreAuth : CloseReason::kShedPartial);
}

bool InputBudget::RoomForOutput(size_t bytes, uint32_t slot) {
  bool self_alive = true;
  while (!ctx_.chains.CanTake(bytes)) {
    const uint32_t victim = ShedOldest(Charge::kQueue);
    if (victim == HolderLedger::kNone) break;
    if (victim == slot) self_alive = false;
  }
  if (!self_alive) return false;
  if (ctx_.chains.CanTake(bytes)) return true;
  if (!ctx_.chains.PoolCanSupply(bytes)) return false;
  next_shed_check_s_ = 0;  // the next tick looks for stalled holders to bring it back
  return true;
}

bool InputBudget::RecvMayArm() const {
  return ctx_.engine->buffers().recv_available() > 0 &&
         ctx_.chains.held() + ctx_.chains.promised() < ctx_.chains.budget();
}

void InputBudget::PauseForBudget(uint32_t slot, ClientSession& s) {
  if (s.budget_cancel) return;
  s.budget_cancel = true;
  ctx_.engine->CancelOp(s.client.fd, ctx_.Tag(OpKind::kClientRecv, slot));
}

void InputBudget::WaitForRecvBuffers(uint32_t slot, ClientSession& s) {
  if (s.recv_waiting) return;
  s.recv_waiting = true;
  ctx_.counters.recv_buffer_waits.Add();
  recv_waiters_.push_back({slot, ctx_.sessions.generation(slot)});
}

void InputBudget::ArmWaitingReceives() {
  if (recv_waiters_head_ < recv_waiters_.size()) ctx_.engine->buffers().Restock();
  uint32_t armed = 0;
  while (recv_waiters_head_ < recv_waiters_.size() && armed < kRearmPerPass && RecvMayArm()) {
    const Waiter w = recv_waiters_[recv_waiters_head_++];
    ClientSession* s = ctx_.sessions.Lookup(w.slot, w.generation);
    if (s == nullptr || !s->recv_waiting) continue;
    s->recv_waiting = false;
    if (s->state == SessionState::kClosing || s->state == SessionState::kDraining) continue;
    // FlushSession arms it (or files it again if it must still wait).
    ctx_.MarkDirty(w.slot, *s);
    ++armed;
  }
  if (recv_waiters_head_ == recv_waiters_.size()) {
    recv_waiters_.clear();
    recv_waiters_head_ = 0;
  } else if (recv_waiters_head_ > recv_waiters_.size() / 2) {
    recv_waiters_.erase(recv_waiters_.begin(),
                        recv_waiters_.begin() + static_cast<std::ptrdiff_t>(recv_waiters_head_));
    recv_waiters_head_ = 0;
  }
}

void InputBudget::ShedLargestHolders() {
  const uint64_t unit = ctx_.chains.buffer_size();
  const uint64_t held = uint64_t{ctx_.chains.held()} * unit;
  const uint64_t budget = uint64_t{ctx_.chains.budget()} * unit;
  if (held * 4 <= budget * 3) return;
  // Down to 5/8 of the budget, so a shard at the threshold does not shed every second.
  const uint64_t excess = held - budget * 5 / 8;
  // Victims: clients whose queues are not moving (send stuck or nothing in or out for a
  // while), largest first: closing an idle connection that holds nothing frees nothing, and a
  // client draining its queue at speed is not the problem.
  shed_candidates_.clear();
  ctx_.sessions.ForEachLive([&](uint32_t slot, ClientSession& s) {
    if (s.state == SessionState::kClosing) return;
    const uint64_t bytes = uint64_t{s.in.bytes} + s.client.out.bytes + s.up_out_bytes();
    if (bytes == 0) return;
    const bool send_stuck =
        s.client.send_inflight && ctx_.now_s - s.client.send_started_s >= kShedMinStallS;
    const bool quiet = ctx_.now_s - s.last_active_s >= kShedMinStallS;
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
    ctx_.counters.client_failed_shed.Add();
    clients_->CloseSession(c.slot, ctx_.sessions.at(c.slot), CloseReason::kShed);
    freed += c.bytes;
    ++closed;
  }
  if (closed == 0) return;  // nothing stalled to shed: appends fail (kNoBuffers) if it fills
  MTP_WARN(
      "shard %u: buffers at %llu of %llu bytes: closed %u stalled client(s) holding %llu "
      "bytes (%zu candidate(s))",
      ctx_.index, static_cast<unsigned long long>(held), static_cast<unsigned long long>(budget),
      closed, static_cast<unsigned long long>(freed), shed_candidates_.size());
}

void InputBudget::Tick() {
  if (ctx_.stopping) return;
  // Checked every tick (the reference: every second) so stalled holders go before the budget
  // runs dry and an innocent append fails; a walk happens only above the threshold.
  const bool over = uint64_t{ctx_.chains.held()} * 4 > uint64_t{ctx_.chains.budget()} * 3;
  if (over && ctx_.now_s >= next_shed_check_s_) {
    next_shed_check_s_ = ctx_.now_s + kShedPauseS;
    ShedLargestHolders();
  }
}

}  // namespace mtp
