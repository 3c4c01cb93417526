// One dataplane shard: a pinned thread's whole world — its IoEngine and buffer pool, its
// SO_REUSEPORT listeners, the client session slab, the ME link pool (ME mode) and counters.
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
#include "dataplane/buffer_chain.h"
#include "dataplane/client_session.h"
#include "dataplane/deadline_fifo.h"
#include "dataplane/holder_ledger.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/me_link.h"
#include "dataplane/op_tag.h"
#include "dataplane/reconnect_backoff.h"
#include "dataplane/session_slab.h"
#include "dataplane/shard_counters.h"

namespace mtp {

// Why a client session ends (logged at verbosity 1; small enum on the hot path).
enum class CloseReason : uint8_t {
  kClientEof,
  kClientError,
  kUpstreamEof,
  kUpstreamError,
  kFrameError,
  kFlood,
  kNoBuffers,
  kNoMeAfterDrop,   // §8.3: an ME became available after a dropped frame
  kCloseExt,        // the ME sent RPC_CLOSE_EXT
  kMeLinkLost,      // the bound ME link failed
  kCryptoFailure,
  kShutdown,
  kRateLimited,     // --max-dh-accept-rate: no handshake budget left
  kHandshakeTimeout,  // no valid header (or skip mode) within the handshake timeout
  kNoUpstream,        // no DC connect / no ME within the handshake timeout
  kIdleTimeout,       // nothing in or out for the idle timeout
  kWriteStall,        // the client stopped reading its output
  kShed,              // shard buffer budget over 3/4: the largest holders go first
  kUpstreamWriteStall,  // direct mode: the DC stopped reading
  kShedPreAuth,   // unauthenticated holders over their share of the budget: oldest first
  kShedPartial,   // partial-frame holders over their share of the budget: oldest first
};
std::string_view CloseReasonName(CloseReason reason);

// Why a fake-TLS connection is piped to the real site (ClientHelloStatus rejections, plus the
// handshake timer and a wrong inner transport).
enum class FrontReason : uint8_t {
  kNotTls,
  kBadSni,
  kUnknownSni,
  kPort80,
  kExtraBytes,
  kTooBig,
  kReplay,
  kBadDigest,
  kBadTimestamp,
  kNoTls13Cipher,
  kTimeout,
  kBadInnerTag,
  kBadFragments,  // a ClientHello split over records that cannot be reassembled
};
std::string_view FrontReasonName(FrontReason reason);

// ProxyShard::Audit(): a recount of what a shard holds, for the simulator's invariants.
struct ShardAudit {
  struct Owner {      // one live session, ME link or listener and the descriptors it owns
    char kind = 's';  // 's' client session, 'l' ME link, 'L' listener
    uint32_t slot = 0;
    uint8_t state = 0;     // SessionState / MeLinkState (0 for listeners)
    int fd = -1;
    int up_fd = -1;        // sessions: the DC (or fronting) socket, -1 if none
    uint32_t inflight = 0; // ops it counts in flight on fd and up_fd (armed accept: 1)
    // Sessions: recv_armed 1, send_inflight 2, recv_paused 4, out_paused 8, want_recv 16,
    // dirty 32, bound 64, dropped 128; links: recv_armed 1, send_inflight 2, want_recv 16.
    uint32_t flags = 0;
    uint32_t queued = 0;   // bytes in its chains (in + out + up_out; links: out + unsealed)
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

  uint32_t index() const { return index_; }
  std::string_view backend_name() const { return engine_->name(); }
  const ShardCounters& counters() const { return counters_; }
  // Local port of listener `i` (useful when the config asked for port 0).
  uint16_t listener_port(size_t i) const { return listener_ports_[i]; }
  // Recounts buffers, in-flight ops and bindings from the slabs (between RunOnce() calls, on
  // the shard thread; cold: walks every slot). proxy_shard_audit.cc.
  ShardAudit Audit() const;

 private:
  struct TargetState {
    SocketAddress address;
    // Removed by a reload: no new bindings or connects; its ready links serve their bound
    // clients and close once none is left.
    bool retired = false;
    ReconnectBackoff backoff;
    std::vector<uint32_t> links;  // link slots (any state), at most max_connections
    uint32_t ready = 0;
    // Unreachable reporting (logged once when it goes down, then once per interval).
    bool down = false;
    double down_since_s = 0;
    double next_report_s = 0;
    uint32_t failures_since_report = 0;
  };

  ProxyShard(uint32_t index, uint32_t shard_count, const DataplaneConfig& config,
             std::unique_ptr<IoEngine> engine, const Clock& clock);
  absl::Status OpenListeners();

  // ---- loop (proxy_shard.cc) ----
  // Quiet point of the loop: adopts a published LiveConfig, starts a requested drain.
  void PollControl();
  void AdoptLive(std::shared_ptr<const LiveConfig> next);
  void StopAccepting();
  void Dispatch(const IoCompletion& c);
  void FlushDirty();
  void FlushDirtyLinks();
  void Tick();
  void Shutdown();
  double NowSeconds() const { return now_s_; }
  void UpdateClock();

  // ---- client sessions (proxy_shard.cc / proxy_shard_client.cc) ----
  void ArmAccept(uint32_t listener);
  void OnAccept(uint32_t listener, const IoCompletion& c);
  void Transition(ClientSession& s, SessionState to);
  void MarkDirty(uint32_t slot, ClientSession& s);
  void FlushSession(uint32_t slot, ClientSession& s);
  void ArmClientRecv(uint32_t slot, ClientSession& s);
  void OnClientRecv(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnClientSend(uint32_t slot, ClientSession& s, const IoCompletion& c);
  // Handshake state: collects the 64-byte header in the session (no pool buffer held) and
  // queues what follows it; runs OnHandshakeBytes once the header is complete.
  void TakeHeaderBytes(uint32_t slot, ClientSession& s, int32_t buffer_id, uint32_t n);
  void OnHandshakeBytes(uint32_t slot, ClientSession& s);
  void ProcessClientFrames(uint32_t slot, ClientSession& s);
  // Frame payload at `offset` of s.in, `len` bytes: forward, answer PING, or drop.
  // Returns false if the session was closed.
  bool HandleClientFrame(uint32_t slot, ClientSession& s, size_t offset, uint32_t len,
                         bool quick_ack);
  // Appends `prefix`+`payload`+random padding as one encrypted frame to the client queue.
  bool QueueClientFrame(uint32_t slot, ClientSession& s, ByteSpan payload);
  bool QueueClientRaw(uint32_t slot, ClientSession& s, ByteSpan plaintext);
  bool CheckClientBuffers(uint32_t slot, ClientSession& s);
  void CloseSession(uint32_t slot, ClientSession& s, CloseReason reason);
  void OpDone(uint32_t slot, ClientSession& s);
  void FinalizeSession(uint32_t slot, ClientSession& s);
  void PauseClientRecv(uint32_t slot, ClientSession& s);

  // ---- fake-TLS and fronting (proxy_shard_tls.cc) ----
  void BeginTls(uint32_t slot, ClientSession& s);
  // Client bytes while fake-TLS is on: true when the buffer was taken care of (hello phase,
  // fronting, or released); false to go on with the normal path using the unwrapped *n bytes.
  bool TlsClientBytes(uint32_t slot, ClientSession& s, int32_t buffer_id, uint32_t* n);
  void OnClientHelloBytes(uint32_t slot, ClientSession& s);
  // After the inner obfuscated2 header: false (and fronting started) for a wrong transport.
  bool CheckTlsInnerTag(uint32_t slot, ClientSession& s, Transport transport);
  void StartFronting(uint32_t slot, ClientSession& s, size_t domain_index, FrontReason reason);
  void OnTlsHandshakeExpired(const DeadlineFifo::Entry& e);
  void OnFrontConnectExpired(const DeadlineFifo::Entry& e);
  // The real site could not be reached (no address, socket, connect error or timeout): counts
  // it, logs it (warning, at most one line per second per shard) and closes the client.
  void FrontFailed(uint32_t slot, ClientSession& s, std::string_view why);
  void TlsTick();
  int64_t NowMs() const { return static_cast<int64_t>(now_s_ * 1000.0); }

  // ---- timeouts, write stalls and shedding (proxy_shard_guard.cc) ----
  // Visits a tenth of the session slots per tick (each about once a second).
  void GuardTick();
  void GuardSession(uint32_t slot, ClientSession& s);
  void ShedLargestHolders();
  // ---- buffer ownership (proxy_shard_buffers.cc) ----
  // Charges the session's unserved input (s.in) to its class (pre-auth, partial frame) and
  // files it in holders_.
  void ChargeInput(uint32_t slot, ClientSession& s);
  // Sheds the oldest holders of a class over its share, then of any class while the budget is
  // exceeded. False if `slot` itself was shed.
  bool EnforceInputShares(uint32_t slot);
  void ShedHolder(uint32_t slot, Charge charge);
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
  // A client's own output is over the queue cap: stop reading it until it drains.
  void PauseForOwnOutput(uint32_t slot, ClientSession& s);
  void ResumeFromOwnOutput(uint32_t slot, ClientSession& s);
  // ME target reachability reports (rate-limited; per attempt only at verbosity 1).
  void NoteMeTargetFailure(uint32_t target, const char* why);
  void NoteMeTargetReady(uint32_t target);

  // ---- ME mode (proxy_shard_me.cc) ----
  void MaintainMePool();
  void StartMeLink(uint32_t target);
  void OnMeConnect(uint32_t link, MeLink& l, const IoCompletion& c);
  void OnMeRecv(uint32_t link, MeLink& l, const IoCompletion& c);
  void OnMeSend(uint32_t link, MeLink& l, const IoCompletion& c);
  // A link's flush in two halves around one AesCbc::ProcessBatch over every dirty link (the
  // CBC chains of several links advance together): SealMeLink re-arms the receive and seals
  // the pending output (its encryption added to `jobs`); SendMeLink queues the ciphertext and
  // starts the send.
  void SealMeLink(uint32_t link, MeLink& l, std::vector<AesCbc::Job>& jobs);
  void SendMeLink(uint32_t link, MeLink& l);
  // Before a flush pass seals anything: sheds unserved input so idle links' output fits the
  // pool (shedding queues RPC_CLOSE_CONN, which must not land on an already sealed link).
  void MakeRoomForLinks(size_t n);
  void MarkLinkDirty(uint32_t link, MeLink& l);
  void FailMeLink(uint32_t link, MeLink& l, const char* why);
  void MeLinkOpDone(uint32_t link, MeLink& l);
  void OnMeMessage(uint32_t link, MeLink& l, uint32_t type, ByteSpan payload);
  // Binds the session to a ready link of its DC's cluster; false if none (§8.2).
  bool BindSession(uint32_t slot, ClientSession& s);
  void UnbindSession(uint32_t slot, ClientSession& s, bool send_close_conn);
  // Sends one filtered client payload as RPC_PROXY_REQ (binding first if needed). Returns
  // false if the session was closed.
  bool ForwardToMe(uint32_t slot, ClientSession& s, ByteSpan payload, bool quick_ack,
                   uint32_t extra_flags);
  void OnMeReady(uint32_t link, MeLink& l);
  MeLink* BoundLink(const ClientSession& s);
  void SendCloseConn(MeLink& l, uint32_t link, uint64_t ext_conn_id);
  void ResumePausedClients(MeLink& l);

  // ---- direct mode (proxy_shard_direct.cc) ----
  void StartDirectUpstream(uint32_t slot, ClientSession& s);
  void OnUpstreamConnect(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnUpstreamRecv(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnUpstreamSend(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void RelayClientToDc(uint32_t slot, ClientSession& s);
  void ArmUpstreamRecv(uint32_t slot, ClientSession& s);

  uint64_t Tag(OpKind op, uint32_t slot) const;
  uint64_t LinkTag(OpKind op, uint32_t link) const;

  const uint32_t index_;
  const DataplaneConfig& config_;
  const Clock& clock_;
  // Secrets, routing and proxy secret in force (replaced by reloads; ME links keep the one
  // they were created with alive).
  std::shared_ptr<const LiveConfig> live_;
  uint64_t live_seen_ = 0;  // live_updates generation last polled
  std::atomic<uint64_t> adopted_generation_{0};
  ShardRateBudget* accept_budget_ = nullptr;     // null = no limit
  ShardRateBudget* handshake_budget_ = nullptr;  // null = no limit
  std::atomic<bool> drain_{false};
  bool draining_ = false;
  std::unique_ptr<IoEngine> engine_;
  BufferChains chains_;
  SessionSlab<ClientSession> sessions_;
  SessionSlab<MeLink> links_;
  ShardCounters counters_;
  std::atomic<bool> stop_{false};
  bool stopping_ = false;

  uint32_t max_clients_;
  // An ME link's queue above which its clients' reads pause: me_link_queue_cap_bytes, or a
  // quarter of the shard's buffer budget if that is smaller.
  uint64_t me_link_pause_bytes_ = 0;
  std::vector<int> listener_fds_;
  std::vector<uint16_t> listener_ports_;
  std::vector<bool> accept_armed_;
  bool accept_paused_ = false;

  std::vector<TargetState> targets_;

  // Buffer ownership: holders of unserved input by class, and sessions waiting to re-arm a
  // receive (FIFO of slot + generation, each session at most once: recv_waiting).
  HolderLedger holders_;
  struct Waiter {
    uint32_t slot;
    uint32_t generation;
  };
  std::vector<Waiter> recv_waiters_;
  size_t recv_waiters_head_ = 0;
  int64_t shed_logged_ms_ = INT64_MIN;  // ShedHolder's log rate limit
  uint64_t shed_unlogged_ = 0;

  // Fake-TLS timers: handshake (10 s from accept) and fronting connect, fixed lengths each.
  DeadlineFifo tls_deadlines_;
  DeadlineFifo front_deadlines_;
  int64_t front_fail_logged_ms_ = INT64_MIN;  // FrontFailed's log rate limit
  uint64_t front_fail_unlogged_ = 0;

  std::vector<uint32_t> dirty_sessions_;  // bounded by the slab capacity (dirty flag)
  std::vector<uint32_t> dirty_links_;
  std::vector<AesCbc::Job> link_jobs_;  // FlushDirtyLinks: CBC work of one pass
  std::vector<IoCompletion> completions_;
  std::vector<uint8_t> scratch_;  // linearises a client payload straddling buffers (<= 1 MiB)
  uint32_t guard_cursor_ = 0;     // next session slot GuardTick visits
  double next_shed_check_s_ = 0;
  struct ShedCandidate {
    uint64_t bytes;
    double last_active_s;
    uint32_t slot;
  };
  std::vector<ShedCandidate> shed_candidates_;  // reused; grown only under pressure
  double now_s_ = 0;
  double next_tick_s_ = 0;
  double stop_deadline_s_ = 0;
  bool finished_ = false;
};

}  // namespace mtp
