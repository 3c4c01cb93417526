// InputBudget: who may hold the shard's receive buffers, and who goes when they run short.
// Every received buffer that outlives its completion is charged to a session under a bound
// for the session's state (unauthenticated bytes, a partial frame, a queue) and to the shard's
// budget. Classes of unserved input have shares of the budget; a class over its share sheds
// its oldest holders first, so a crowd of slow senders loses its own connections before a
// flowing client notices. Above 3/4 of the budget the tick also sheds the largest stalled
// holders. Receives that cannot be armed (no buffer, budget spent) wait in one FIFO and are
// re-armed a bounded number per pass: no herd, no spin. See "Buffer ownership" in
// docs/architecture.md for the bounds.
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/holder_ledger.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

class ClientSessions;

class InputBudget {
 public:
  explicit InputBudget(ShardContext& ctx) : ctx_(ctx), holders_(ctx.sessions.capacity()) {
    recv_waiters_.reserve(ctx.sessions.capacity());
  }
  void Connect(ClientSessions& clients) { clients_ = &clients; }

  // Charges the session's unserved input (s.in) to its class (pre-auth, partial frame) and
  // files it in the holder ledger.
  void ChargeInput(uint32_t slot, ClientSession& s);
  // The session holds no unserved input any more (closed, or its input became a queue).
  void Forget(uint32_t slot) { holders_.Set(slot, Charge::kQueue); }
  // Sheds the oldest holders of a class over its share, then of any class while the budget is
  // exceeded. False if `slot` itself was shed.
  bool EnforceInputShares(uint32_t slot);
  // Sheds the oldest holder of `c`, or of any unserved input (partial frames first: they are
  // the larger holders) for Charge::kQueue. Returns the slot shed, kNone if nobody holds any.
  uint32_t ShedOldest(Charge c);
  // Room for `bytes` of output to session `slot` (kNoSlot: not a session): unserved input is
  // shed first, oldest partial frames then hellos; then an authenticated client may go over
  // the budget while the pool can back it (the next tick sheds stalled queue holders). False
  // if there is no room or `slot` itself was shed.
  bool RoomForOutput(size_t bytes, uint32_t slot);
  // A receive may be armed: the receive set has a buffer and the budget is not exhausted.
  bool RecvMayArm() const;
  // Queues a session whose receive could not be armed; ArmWaitingReceives re-arms waiters in
  // FIFO order, a bounded number per flush pass, as buffers and budget come back.
  void WaitForRecvBuffers(uint32_t slot, ClientSession& s);
  void ArmWaitingReceives();
  // Budget exhausted after shedding: cancels the client's receive until buffers come back.
  void PauseForBudget(uint32_t slot, ClientSession& s);
  // From the tick: above 3/4 of the budget, sheds the largest stalled holders (at most once
  // per half second).
  void Tick();

 private:
  void ShedHolder(uint32_t slot, Charge charge);
  void ShedLargestHolders();

  ShardContext& ctx_;
  ClientSessions* clients_ = nullptr;
  HolderLedger holders_;
  struct Waiter {
    uint32_t slot;
    uint32_t generation;
  };
  std::vector<Waiter> recv_waiters_;  // each session at most once (recv_waiting)
  size_t recv_waiters_head_ = 0;
  int64_t shed_logged_ms_ = INT64_MIN;  // ShedHolder's log rate limit
  uint64_t shed_unlogged_ = 0;
  double next_shed_check_s_ = 0;
  struct ShedCandidate {
    uint64_t bytes;
    double last_active_s;
    uint32_t slot;
  };
  std::vector<ShedCandidate> shed_candidates_;  // reused; grown only under pressure
};

}  // namespace mtp
