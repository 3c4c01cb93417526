// ProxyShard: creation, listeners and accept, the completion loop, dispatch to the parts, the
// flush pass, the periodic tick, reload adoption and shutdown.
#include "dataplane/shard/proxy_shard.h"

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "dataplane/me/ext_conn_id.h"
#include "dataplane/session/secret_admission_gate.h"

namespace mtp {
namespace {

constexpr double kTickS = 0.1;           // ME pool maintenance period (the reference's 0.1 s)
constexpr double kShutdownGraceS = 3.0;  // bound on waiting for cancelled ops at stop
constexpr uint32_t kCompletionBatch = 256;
// Buffers kept out of the chains' budget so receives and control packets never starve.
constexpr uint32_t kBufferReserve = 64;
// Completions of one batch hold their buffers until dispatched: kept out of the budget too.
constexpr uint32_t kCompletionBatchBuffers = 256;

}  // namespace

absl::StatusOr<std::unique_ptr<ProxyShard>> ProxyShard::Create(uint32_t index, uint32_t shard_count,
                                                               const DataplaneConfig& config) {
  if (index >= kMaxShards) return absl::InvalidArgumentError("too many shards");
  auto engine = CreateIoEngine(config.backend, config.engine);
  if (!engine.ok()) return engine.status();
  return Create(index, shard_count, config, std::move(*engine), SystemClock());
}

absl::StatusOr<std::unique_ptr<ProxyShard>> ProxyShard::Create(uint32_t index, uint32_t shard_count,
                                                               const DataplaneConfig& config,
                                                               std::unique_ptr<IoEngine> engine,
                                                               const Clock& clock) {
  if (index >= kMaxShards) return absl::InvalidArgumentError("too many shards");
  if (engine == nullptr) return absl::InvalidArgumentError("no engine");
  std::unique_ptr<ProxyShard> shard(
      new ProxyShard(index, shard_count, config, std::move(engine), clock));
  absl::Status st = shard->OpenListeners();
  if (!st.ok()) return st;
  return shard;
}

// The chains' budget: what --msg-buffers-size gives this shard, and never more than the pool
// can back while the receive set stays full (ring + a batch of completions + the reserve), so
// the ring is always refilled from the free list and a full budget cannot starve receives.
static uint32_t ShardBudgetBuffers(const DataplaneConfig& config, BufferPool& pool) {
  uint64_t by_bytes = config.shard_buffer_bytes / pool.buffer_size();
  uint32_t recv = std::min(config.engine.recv_ring_count, pool.buffer_count());
  uint32_t kept = recv + kBufferReserve + kCompletionBatchBuffers;
  // A pool with a quarter of itself to spare beyond what is kept backs everything else; a
  // smaller one (tests, the simulator) gets half, which its small ring leaves room for.
  const uint32_t count = pool.buffer_count();
  uint32_t by_pool = count > kept + count / 4 ? count - kept : count / 2;
  return static_cast<uint32_t>(std::min<uint64_t>(by_bytes, by_pool));
}

static uint32_t TotalLinkCapacity(const DataplaneConfig& config) {
  uint32_t n = 0;
  for (const MeTargetSpec& t : config.routing.targets()) n += std::max(t.max_connections, 1u);
  return std::max(n, 1u) + config.me_link_headroom;
}

ProxyShard::ProxyShard(uint32_t index, uint32_t shard_count, const DataplaneConfig& config,
                       std::unique_ptr<IoEngine> engine, const Clock& clock)
    : ctx_(index, config, clock, std::move(engine), &ShardBudgetBuffers,
           std::max<uint32_t>(
               1, std::min(config.max_connections,
                           (config.max_client_connections + shard_count - 1) / shard_count)),
           config.mode == UpstreamMode::kMiddleEnd ? TotalLinkCapacity(config) : 1),
      clients_(ctx_),
      budget_(ctx_),
      guard_(ctx_),
      direct_(ctx_),
      me_(ctx_),
      tls_(ctx_),
      completions_(kCompletionBatch) {
  clients_.Connect(budget_, me_, tls_, direct_);
  budget_.Connect(clients_);
  guard_.Connect(clients_);
  direct_.Connect(clients_, tls_);
  me_.Connect(clients_, budget_);
  tls_.Connect(clients_, budget_);
  // The reserve keeps Acquire() (output appends within the budget) fed; a small pool (tests)
  // keeps an eighth of itself.
  ctx_.engine->buffers().SetFreeReserve(
      std::min(kBufferReserve, ctx_.engine->buffers().buffer_count() / 8));
  adopted_generation_.store(ctx_.live->generation, std::memory_order_release);
  if (index < config.accept_budgets.size()) accept_budget_ = &config.accept_budgets[index];
  if (index < config.handshake_budgets.size()) {
    ctx_.handshake_budget = &config.handshake_budgets[index];
  }
  max_clients_ = ctx_.sessions.capacity();
  ctx_.dirty_sessions.reserve(std::min<uint32_t>(max_clients_, 65536));
  ctx_.dirty_links.reserve(ctx_.links.capacity());
}

ProxyShard::~ProxyShard() {
  for (int fd : listener_fds_) {
    if (fd >= 0) ctx_.engine->Close(fd);
  }
}

absl::Status ProxyShard::OpenListeners() {
  for (const ListenerSpec& spec : ctx_.config.listeners) {
    ListenOptions options;
    options.address = spec.address;
    options.dual_stack = spec.dual_stack;
    options.reuse_port = true;
    options.backlog = ctx_.config.backlog;
    options.window_clamp_bytes = ctx_.config.window_clamp_bytes;
    options.max_segment_bytes = ctx_.config.client_mss;
    auto fd = ctx_.engine->OpenListener(options);
    if (!fd.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot open http/tcp server socket at port ",
                                                 spec.address.port(), ": ", fd.status().message()));
    }
    auto local = ctx_.engine->LocalAddressOf(*fd);
    listener_fds_.push_back(*fd);
    ctx_.listener_ports.push_back(local.ok() ? local->port() : spec.address.port());
    accept_armed_.push_back(false);
  }
  return absl::OkStatus();
}

void ProxyShard::UpdateClock() { ctx_.now_s = ctx_.clock.MonotonicSeconds(); }

void ProxyShard::RequestStop() {
  stop_.store(true, std::memory_order_relaxed);
  ctx_.engine->Wake();
}

void ProxyShard::RequestDrain() {
  drain_.store(true, std::memory_order_relaxed);
  ctx_.engine->Wake();
}

void ProxyShard::PollControl() {
  if (ctx_.config.live_updates != nullptr) {
    if (std::shared_ptr<const LiveConfig> next = ctx_.config.live_updates->Poll(&live_seen_)) {
      AdoptLive(std::move(next));
    }
    ctx_.config.live_updates->Ack(ctx_.index, ctx_.live->generation);
  }
  AdoptSecretAdmission(ctx_, clients_);  // named secrets' limits; closes what they close
  if (!draining_ && drain_.load(std::memory_order_relaxed)) {
    draining_ = true;
    StopAccepting();
  }
}

void ProxyShard::StopAccepting() {
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
    if (listener_fds_[i] < 0) continue;
    if (accept_armed_[i]) {
      ctx_.engine->CancelAll(listener_fds_[i]);  // closed by OnAccept once the op has ended
    } else {
      ctx_.engine->Close(listener_fds_[i]);
      listener_fds_[i] = -1;
    }
  }
  MTP_LOG(1, "shard %u: draining, %u client session(s) open", ctx_.index, ctx_.sessions.live());
}

void ProxyShard::AdoptLive(std::shared_ptr<const LiveConfig> next) {
  me_.AdoptRouting(*next);
  ctx_.live = std::move(next);
  adopted_generation_.store(ctx_.live->generation, std::memory_order_release);
}

void ProxyShard::Run() {
  Start();
  while (RunOnce(-1)) {
  }
}

void ProxyShard::Start() {
  UpdateClock();
  next_tick_s_ = ctx_.now_s;
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
}

bool ProxyShard::RunOnce(int64_t max_wait_us) {
  if (finished_) return false;
  PollControl();
  if (!ctx_.stopping && stop_.load(std::memory_order_relaxed)) {
    ctx_.stopping = true;
    stop_deadline_s_ = ctx_.now_s + kShutdownGraceS;
    Shutdown();
  }
  if (ctx_.stopping) {
    bool accepts_done =
        std::none_of(accept_armed_.begin(), accept_armed_.end(), [](bool armed) { return armed; });
    bool done = ctx_.sessions.live() == 0 && ctx_.links.live() == 0 && accepts_done;
    if (!done && ctx_.now_s > stop_deadline_s_) {
      MTP_WARN("shard %u: %u sessions and %u ME links still had operations in flight at exit",
               ctx_.index, ctx_.sessions.live(), ctx_.links.live());
      done = true;
    }
    if (done) {
      for (int& fd : listener_fds_) {
        if (fd >= 0) ctx_.engine->Close(fd);
        fd = -1;
      }
      finished_ = true;
      return false;
    }
  }
  int64_t wait_us = static_cast<int64_t>(std::max(0.0, next_tick_s_ - ctx_.now_s) * 1e6);
  if (max_wait_us >= 0) wait_us = std::min(wait_us, max_wait_us);
  int n = ctx_.engine->Poll(std::span<IoCompletion>(completions_), wait_us);
  UpdateClock();
  for (int i = 0; i < n; ++i) Dispatch(completions_[i]);
  FlushDirty();
  if (ctx_.now_s >= next_tick_s_) {
    Tick();
    next_tick_s_ = ctx_.now_s + kTickS;
  }
  return true;
}

void ProxyShard::Shutdown() {
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
    if (accept_armed_[i]) ctx_.engine->CancelAll(listener_fds_[i]);
  }
  ctx_.sessions.ForEachLive([&](uint32_t slot, ClientSession& s) {
    if (s.state != SessionState::kClosing) {
      clients_.CloseSession(slot, s, CloseReason::kShutdown);
    }
  });
  me_.FailAll("shutdown");
}

void ProxyShard::Dispatch(const IoCompletion& c) {
  OpTag tag = UnpackOpTag(c.user_data);
  switch (tag.op) {
    case OpKind::kAccept:
      OnAccept(tag.slot, c);
      return;
    case OpKind::kClientRecv:
    case OpKind::kClientSend:
    case OpKind::kUpstreamConnect:
    case OpKind::kUpstreamRecv:
    case OpKind::kUpstreamSend: {
      ClientSession* s = ctx_.sessions.Lookup(tag.slot, tag.generation);
      if (s == nullptr) break;
      switch (tag.op) {
        case OpKind::kClientRecv:
          clients_.OnClientRecv(tag.slot, *s, c);
          break;
        case OpKind::kClientSend:
          clients_.OnClientSend(tag.slot, *s, c);
          break;
        case OpKind::kUpstreamConnect:
          direct_.OnUpstreamConnect(tag.slot, *s, c);
          break;
        case OpKind::kUpstreamRecv:
          direct_.OnUpstreamRecv(tag.slot, *s, c);
          break;
        default:
          direct_.OnUpstreamSend(tag.slot, *s, c);
          break;
      }
      MaybeFinalize(tag.slot, *s);
      return;
    }
    case OpKind::kMeConnect:
    case OpKind::kMeRecv:
    case OpKind::kMeSend: {
      MeLink* l = ctx_.links.Lookup(tag.slot, tag.generation);
      if (l == nullptr) break;
      if (tag.op == OpKind::kMeConnect) {
        me_.OnMeConnect(tag.slot, *l, c);
      } else if (tag.op == OpKind::kMeRecv) {
        me_.OnMeRecv(tag.slot, *l, c);
      } else {
        me_.OnMeSend(tag.slot, *l, c);
      }
      me_.MeLinkOpDone(tag.slot, *l);
      return;
    }
    case OpKind::kNone:
      break;
  }
  // A completion whose slot was recycled: every op is counted down before a slot is freed, so
  // this is a bug in the accounting. Keep the buffer pool whole and say so loudly.
  if (c.buffer_id >= 0) ctx_.engine->buffers().Release(c.buffer_id);
  MTP_ERROR("shard %u: stale completion op=%d slot=%u gen=%u result=%d", ctx_.index,
            static_cast<int>(tag.op), tag.slot, tag.generation, c.result);
}

// ---- accept ------------------------------------------------------------------------------

void ProxyShard::ArmAccept(uint32_t listener) {
  if (accept_armed_[listener] || ctx_.stopping || draining_ || listener_fds_[listener] < 0) return;
  ctx_.engine->Accept(listener_fds_[listener], PackOpTag(OpKind::kAccept, 0, listener));
  accept_armed_[listener] = true;
}

void ProxyShard::OnAccept(uint32_t listener, const IoCompletion& c) {
  if (listener >= listener_fds_.size()) return;
  if (!c.more) accept_armed_[listener] = false;
  if (draining_ && !accept_armed_[listener] && listener_fds_[listener] >= 0) {
    ctx_.engine->Close(listener_fds_[listener]);
    listener_fds_[listener] = -1;
  }
  if (c.result < 0) {
    if (c.result != -ECANCELED) MTP_LOG(1, "shard %u: accept failed: %d", ctx_.index, -c.result);
    return;  // re-armed by the tick unless paused or stopping
  }
  int fd = c.result;
  if (ctx_.stopping || draining_) {
    ctx_.engine->Close(fd);
    return;
  }
  if (accept_budget_ != nullptr && !accept_budget_->TryConsume()) {
    ctx_.engine->Close(fd);  // --max-accept-rate; the budget counts the refusal
    return;
  }
  if (static_cast<uint32_t>(fd) >= ctx_.config.max_connections ||
      ctx_.sessions.live() >= max_clients_) {
    ctx_.engine->Close(fd);
    ctx_.counters.client_rejected_limit.Add();
    if (ctx_.sessions.live() >= max_clients_ && !accept_paused_) {
      // -C reached: stop accepting (new connections wait in the kernel backlog) until a
      // session ends, like the reference removing its listeners from epoll.
      accept_paused_ = true;
      for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
        if (accept_armed_[i]) {
          ctx_.engine->CancelOp(listener_fds_[i], PackOpTag(OpKind::kAccept, 0, i));
        }
      }
    }
    return;
  }
  if (!clients_.Open(fd, static_cast<uint16_t>(listener))) {
    ctx_.engine->Close(fd);
    ctx_.counters.client_rejected_limit.Add();
  }
}

// ---- flush and tick ---------------------------------------------------------------------

void ProxyShard::MaybeFinalize(uint32_t slot, ClientSession& s) {
  if (s.state != SessionState::kClosing || s.inflight() != 0) return;
  if (!clients_.FinalizeSession(slot, s)) return;
  if (accept_paused_ && ctx_.sessions.live() < max_clients_ && !ctx_.stopping) {
    accept_paused_ = false;
    for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
  }
}

void ProxyShard::FlushDirty() {
  budget_.ArmWaitingReceives();
  // Links first: their queue sizes decide which clients get paused or resumed.
  me_.Flush();
  // Flushing a session can mark others (and links) dirty again: iterate over a bounded
  // snapshot; anything added is handled at the end of the next batch.
  const size_t n = ctx_.dirty_sessions.size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t slot = ctx_.dirty_sessions[i];
    if (!ctx_.sessions.is_live(slot)) continue;
    ClientSession& s = ctx_.sessions.at(slot);
    if (!s.dirty) continue;
    s.dirty = false;
    clients_.FlushSession(slot, s);
    MaybeFinalize(slot, s);
  }
  ctx_.dirty_sessions.erase(ctx_.dirty_sessions.begin(), ctx_.dirty_sessions.begin() + n);
  // Links dirtied by session flushes (RPC_CLOSE_CONN, forwarded frames) go out now.
  me_.Flush();
}

void ProxyShard::Tick() {
  tls_.Tick();
  guard_.Tick();
  budget_.Tick();
  if (ctx_.config.mode == UpstreamMode::kMiddleEnd && !ctx_.stopping) me_.Maintain();
  if (!accept_paused_ && !ctx_.stopping) {
    for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
  }
  ctx_.counters.buffers_in_use.Set(ctx_.chains.held());
  me_.UpdateGauges();
}

}  // namespace mtp
