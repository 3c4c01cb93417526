// ProxyShard, buffer ownership: every received buffer that outlives its completion is charged
// to a session under a bound for the session's state (unauthenticated bytes, a partial frame,
// a queue) and to the shard's budget. Classes of unserved input have shares of the budget; a
// class over its share sheds its oldest holders first, so a crowd of slow senders loses its
// own connections before a flowing client notices. Receives that cannot be armed (no buffer,
// budget spent) wait in one FIFO and are re-armed a bounded number per pass: no herd, no spin.
#include <algorithm>

#include "core/check.h"
#include "core/log.h"
#include "dataplane/proxy_shard.h"

namespace mtp {
namespace {

// Shares of the chains' budget, in 1/1024: unauthenticated bytes (fake-TLS hellos; obfuscated2
// headers live in the session) and partial frames. Queues of authenticated clients are bounded
// per session (queue cap, flood cap) and by the stalled-holder shedding in proxy_shard_guard.cc.
constexpr uint32_t kPreAuthShare1024 = 128;  // 1/8
constexpr uint32_t kPartialShare1024 = 512;  // 1/2
// Waiting receives re-armed per flush pass (each takes at least one buffer when data comes).
constexpr uint32_t kRearmPerPass = 64;
constexpr int64_t kShedLogIntervalMs = 1000;

uint32_t ShareOf(uint32_t budget, uint32_t share_1024) {
  return std::max<uint32_t>(1, static_cast<uint32_t>(uint64_t{budget} * share_1024 / 1024));
}

}  // namespace

void ProxyShard::ChargeInput(uint32_t slot, ClientSession& s) {
  Charge c = Charge::kQueue;
  if (!s.in.empty()) {
    if (s.state == SessionState::kHandshake) {
      c = Charge::kPreAuth;
    } else if (s.state == SessionState::kRelaying) {
      c = Charge::kPartial;
    }
  }
  chains_.SetCharge(s.in, c);
  holders_.Set(slot, c);
}

uint32_t ProxyShard::ShedOldest(Charge c) {
  if (c == Charge::kQueue) {
    const uint32_t victim = ShedOldest(Charge::kPartial);
    return victim != HolderLedger::kNone ? victim : ShedOldest(Charge::kPreAuth);
  }
  const uint32_t victim = holders_.Oldest(c);
  if (victim != HolderLedger::kNone) ShedHolder(victim, c);
  return victim;
}

bool ProxyShard::EnforceInputShares(uint32_t slot) {
  bool self_alive = true;
  auto shed_oldest = [&](Charge c) {
    const uint32_t victim = ShedOldest(c);
    if (victim == slot) self_alive = false;
    return victim != HolderLedger::kNone;
  };
  const uint32_t budget = chains_.budget();
  const struct {
    Charge charge;
    uint32_t share;
  } classes[] = {{Charge::kPreAuth, ShareOf(budget, kPreAuthShare1024)},
                 {Charge::kPartial, ShareOf(budget, kPartialShare1024)}};
  for (const auto& k : classes) {
    while (chains_.held_by(k.charge) > k.share) {
      if (!shed_oldest(k.charge)) {
        MTP_VERIFY(false, "charge class over its share with no holder on file");
        break;
      }
    }
  }
  // The whole budget: unserved input goes before anything else (partial frames first: they
  // are the larger holders).
  while (chains_.held() + chains_.promised() > budget) {
    if (!shed_oldest(Charge::kQueue)) break;
  }
  return self_alive;
}

void ProxyShard::ShedHolder(uint32_t slot, Charge charge) {
  ClientSession& s = sessions_.at(slot);
  const uint32_t held = s.in.bytes;
  if (charge == Charge::kPreAuth) {
    counters_.client_shed_pre_auth.Add();
  } else {
    counters_.client_shed_partial.Add();
  }
  // A crowd of slow senders would otherwise write one line per connection.
  const int64_t now_ms = NowMs();
  if (shed_logged_ms_ == INT64_MIN || now_ms - shed_logged_ms_ >= kShedLogIntervalMs) {
    MTP_WARN("shard %u: buffers at %u of %u: shed client %u holding %u %s byte(s) since %.1f s "
             "(%llu more shed since the last message)",
             index_, chains_.held(), chains_.budget(), slot, held,
             charge == Charge::kPreAuth ? "unauthenticated" : "partial-frame",
             now_s_ - s.last_active_s, static_cast<unsigned long long>(shed_unlogged_));
    shed_logged_ms_ = now_ms;
    shed_unlogged_ = 0;
  } else {
    ++shed_unlogged_;
  }
  CloseSession(slot, s,
               charge == Charge::kPreAuth ? CloseReason::kShedPreAuth : CloseReason::kShedPartial);
}

bool ProxyShard::RoomForOutput(size_t bytes, uint32_t slot) {
  bool self_alive = true;
  while (!chains_.CanTake(bytes)) {
    const uint32_t victim = ShedOldest(Charge::kQueue);
    if (victim == HolderLedger::kNone) break;
    if (victim == slot) self_alive = false;
  }
  if (!self_alive) return false;
  if (chains_.CanTake(bytes)) return true;
  if (!chains_.PoolCanSupply(bytes)) return false;
  next_shed_check_s_ = 0;  // the next tick looks for stalled holders to bring it back
  return true;
}

bool ProxyShard::RecvMayArm() const {
  return engine_->buffers().recv_available() > 0 &&
         chains_.held() + chains_.promised() < chains_.budget();
}

void ProxyShard::PauseForBudget(uint32_t slot, ClientSession& s) {
  if (s.budget_cancel) return;
  s.budget_cancel = true;
  engine_->CancelOp(s.client.fd, Tag(OpKind::kClientRecv, slot));
}

void ProxyShard::WaitForRecvBuffers(uint32_t slot, ClientSession& s) {
  if (s.recv_waiting) return;
  s.recv_waiting = true;
  counters_.recv_buffer_waits.Add();
  recv_waiters_.push_back({slot, sessions_.generation(slot)});
}

void ProxyShard::ArmWaitingReceives() {
  if (recv_waiters_head_ < recv_waiters_.size()) engine_->buffers().Restock();
  uint32_t armed = 0;
  while (recv_waiters_head_ < recv_waiters_.size() && armed < kRearmPerPass && RecvMayArm()) {
    const Waiter w = recv_waiters_[recv_waiters_head_++];
    ClientSession* s = sessions_.Lookup(w.slot, w.generation);
    if (s == nullptr || !s->recv_waiting) continue;
    s->recv_waiting = false;
    if (s->state == SessionState::kClosing || s->state == SessionState::kDraining) continue;
    // FlushSession arms it (or files it again if it must still wait).
    MarkDirty(w.slot, *s);
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

}  // namespace mtp
