// One dataplane shard: a pinned thread's whole world. ProxyShard keeps the loop, dispatch,
// the flush pass and the tick, its SO_REUSEPORT listeners and accept; the concerns live in
// parts that share one ShardContext (shard_context.h):
//   ClientSessions  session/client_sessions.h  a client connection's state machine and leg
//   InputBudget     session/input_budget.h     buffer ownership: charges, shares, shedding
//   SessionGuard    session/session_guard.h    handshake deadline, idle and write-stall timers
//   DirectUpstream  session/direct_upstream.h  the DC leg of direct mode (and fronting's pipe)
//   MePool          me/me_pool.h               ME links, binding, RPC_PROXY_REQ/ANS
//   TlsFront        tls/tls_front.h            fake-TLS hello, records, timers and fronting
// Completions are dispatched by the op tag packed in user_data; all output is sealed and
// submitted in one flush pass at the end of each completion batch. Nothing on the relay path
// crosses to another shard.
//
// Thread ownership: Create() runs on the control thread; Run() and everything it calls on the
// shard thread; RequestStop(), RequestDrain(), adopted_generation() and counters() from any
// thread. Reloads (LiveConfig) arrive through config.live_updates and are adopted at the top
// of the loop, between completion batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/io_engine.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/me/me_pool.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/session/close_reason.h"
#include "dataplane/session/direct_upstream.h"
#include "dataplane/session/input_budget.h"
#include "dataplane/session/session_guard.h"
#include "dataplane/shard/shard_context.h"
#include "dataplane/tls/tls_front.h"

namespace mtp {

// ProxyShard::Audit(): a recount of what a shard holds, for the simulator's invariants.
struct ShardAudit {
  struct Owner {      // one live session, ME link or listener and the descriptors it owns
    char kind = 's';  // 's' client session, 'l' ME link, 'L' listener
    uint32_t slot = 0;
    uint8_t state = 0;  // SessionState / MeLinkState (0 for listeners)
    int fd = -1;
    int up_fd = -1;         // sessions: the DC (or fronting) socket, -1 if none
    uint32_t inflight = 0;  // ops it counts in flight on fd and up_fd (armed accept: 1)
    // Sessions: recv_armed 1, send_inflight 2, recv_paused 4, out_paused 8, want_recv 16,
    // dirty 32, bound 64, dropped 128; links: recv_armed 1, send_inflight 2, want_recv 16.
    uint32_t flags = 0;
    uint32_t queued = 0;  // bytes in its chains (in + out + up_out; links: out + unsealed)
  };
  std::vector<Owner> owners;
  uint32_t sessions = 0;       // live session slots
  uint32_t links = 0;          // live ME link slots
  uint32_t chain_buffers = 0;  // buffers found by walking every chain of every slot
  uint32_t chains_held = 0;    // BufferChains::held()
  uint32_t pool_in_use = 0;    // BufferPool::in_use()
  uint32_t budget = 0;         // BufferChains::budget()
  std::string problems;        // every inconsistency the recount found; empty when exact
};

class ProxyShard {
 public:
  // Creates the engine (backend per config) and this shard's listeners. `shard_count` splits
  // the -C limit and the buffer budget.
  static absl::StatusOr<std::unique_ptr<ProxyShard>> Create(uint32_t index, uint32_t shard_count,
                                                            const DataplaneConfig& config);
  // The same on a given engine and clock (the simulator's; `clock` must outlive the shard).
  // Every socket the shard opens, inspects or closes goes through `engine`.
  static absl::StatusOr<std::unique_ptr<ProxyShard>> Create(uint32_t index, uint32_t shard_count,
                                                            const DataplaneConfig& config,
                                                            std::unique_ptr<IoEngine> engine,
                                                            const Clock& clock);
  ~ProxyShard();
  ProxyShard(const ProxyShard&) = delete;
  ProxyShard& operator=(const ProxyShard&) = delete;

  // The shard loop; returns after RequestStop() once every session and link is closed.
  void Run();
  // The same loop one iteration at a time (Run() = Start() + RunOnce() until it returns false):
  // poll for at most `max_wait_us` (bounded by the next tick), dispatch, flush, tick. False once
  // the shard has stopped. For the simulator, which advances its clock between iterations.
  void Start();
  bool RunOnce(int64_t max_wait_us);
  void RequestStop();
  // Stop accepting (listening sockets closed, so new connects are refused); established
  // sessions carry on until they end or RequestStop().
  void RequestDrain();
  // LiveConfig generation this shard runs with.
  uint64_t adopted_generation() const {
    return adopted_generation_.load(std::memory_order_acquire);
  }

  uint32_t index() const { return ctx_.index; }
  std::string_view backend_name() const { return ctx_.engine->name(); }
  const ShardCounters& counters() const { return ctx_.counters; }
  // Local port of listener `i` (useful when the config asked for port 0).
  uint16_t listener_port(size_t i) const { return ctx_.listener_ports[i]; }
  // Recounts buffers, in-flight ops and bindings from the slabs (between RunOnce() calls, on
  // the shard thread; cold: walks every slot). shard_audit.cc.
  ShardAudit Audit() const;

 private:
  ProxyShard(uint32_t index, uint32_t shard_count, const DataplaneConfig& config,
             std::unique_ptr<IoEngine> engine, const Clock& clock);
  absl::Status OpenListeners();

  // Quiet point of the loop: adopts a published LiveConfig, starts a requested drain.
  void PollControl();
  void AdoptLive(std::shared_ptr<const LiveConfig> next);
  void StopAccepting();
  void Dispatch(const IoCompletion& c);
  // Frees a closing session once idle, and resumes accepting if -C had paused it.
  void MaybeFinalize(uint32_t slot, ClientSession& s);
  void FlushDirty();
  void Tick();
  void Shutdown();
  void UpdateClock();
  void ArmAccept(uint32_t listener);
  void OnAccept(uint32_t listener, const IoCompletion& c);

  ShardContext ctx_;
  ClientSessions clients_;
  InputBudget budget_;
  SessionGuard guard_;
  DirectUpstream direct_;
  MePool me_;
  TlsFront tls_;

  uint64_t live_seen_ = 0;  // live_updates generation last polled
  std::atomic<uint64_t> adopted_generation_{0};
  ShardRateBudget* accept_budget_ = nullptr;  // null = no limit
  std::atomic<bool> drain_{false};
  bool draining_ = false;
  std::atomic<bool> stop_{false};

  uint32_t max_clients_;
  std::vector<int> listener_fds_;
  std::vector<bool> accept_armed_;
  bool accept_paused_ = false;

  std::vector<IoCompletion> completions_;
  double next_tick_s_ = 0;
  double stop_deadline_s_ = 0;
  bool finished_ = false;
};

}  // namespace mtp
