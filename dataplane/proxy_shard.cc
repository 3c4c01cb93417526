// ProxyShard: creation, the completion loop, dispatch, accept, the flush pass, periodic tick,
// session close/finalize and shutdown.
#include "dataplane/proxy_shard.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/log.h"
#include "core/socket_address.h"
#include "core/socket_util.h"
#include "crypto/random.h"
#include "dataplane/ext_conn_id.h"

namespace mtp {
namespace {

// "ip:port" of a socket's peer, for connection-level log lines.
std::string PeerText(IoEngine& engine, int fd) {
  absl::StatusOr<SocketAddress> peer = engine.PeerAddressOf(fd);
  return peer.ok() ? peer->ToString() : std::string("?");
}

constexpr double kTickS = 0.1;          // ME pool maintenance period (the reference's 0.1 s)
constexpr double kShutdownGraceS = 3.0;  // bound on waiting for cancelled ops at stop
constexpr uint32_t kCompletionBatch = 256;
// Buffers kept out of the chains' budget so receives and control packets never starve.
constexpr uint32_t kBufferReserve = 64;
// Completions of one batch hold their buffers until dispatched: kept out of the budget too.
constexpr uint32_t kCompletionBatchBuffers = 256;

}  // namespace

std::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClientEof:
      return "client closed";
    case CloseReason::kClientError:
      return "client socket error";
    case CloseReason::kUpstreamEof:
      return "upstream closed";
    case CloseReason::kUpstreamError:
      return "upstream error";
    case CloseReason::kFrameError:
      return "bad frame";
    case CloseReason::kFlood:
      return "buffer cap exceeded";
    case CloseReason::kNoBuffers:
      return "buffer pool exhausted";
    case CloseReason::kNoMeAfterDrop:
      return "ME available again after a dropped frame";
    case CloseReason::kCloseExt:
      return "RPC_CLOSE_EXT";
    case CloseReason::kMeLinkLost:
      return "ME link lost";
    case CloseReason::kCryptoFailure:
      return "cipher failure";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kRateLimited:
      return "handshake rate limit";
    case CloseReason::kHandshakeTimeout:
      return "handshake timeout";
    case CloseReason::kNoUpstream:
      return "no upstream within the handshake timeout";
    case CloseReason::kIdleTimeout:
      return "idle timeout";
    case CloseReason::kWriteStall:
      return "write stall";
    case CloseReason::kShed:
      return "shed under buffer pressure";
    case CloseReason::kUpstreamWriteStall:
      return "DC write stall";
    case CloseReason::kShedPreAuth:
      return "shed: unauthenticated bytes held too long under buffer pressure";
    case CloseReason::kShedPartial:
      return "shed: partial frame held too long under buffer pressure";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<ProxyShard>> ProxyShard::Create(uint32_t index,
                                                               uint32_t shard_count,
                                                               const DataplaneConfig& config) {
  if (index >= kMaxShards) return absl::InvalidArgumentError("too many shards");
  auto engine = CreateIoEngine(config.backend, config.engine);
  if (!engine.ok()) return engine.status();
  return Create(index, shard_count, config, std::move(*engine), SystemClock());
}

absl::StatusOr<std::unique_ptr<ProxyShard>> ProxyShard::Create(uint32_t index,
                                                               uint32_t shard_count,
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
  uint32_t by_pool = pool.buffer_count() > 2 * kept ? pool.buffer_count() - kept
                                                     : pool.buffer_count() / 2;
  return static_cast<uint32_t>(std::min<uint64_t>(by_bytes, by_pool));
}

static uint32_t TotalLinkCapacity(const DataplaneConfig& config) {
  uint32_t n = 0;
  for (const MeTargetSpec& t : config.routing.targets()) n += std::max(t.max_connections, 1u);
  return std::max(n, 1u) + config.me_link_headroom;
}

ProxyShard::ProxyShard(uint32_t index, uint32_t shard_count, const DataplaneConfig& config,
                       std::unique_ptr<IoEngine> engine, const Clock& clock)
    : index_(index),
      config_(config),
      clock_(clock),
      engine_(std::move(engine)),
      chains_(engine_->buffers(), ShardBudgetBuffers(config, engine_->buffers())),
      sessions_(std::max<uint32_t>(
          1, std::min(config.max_connections,
                      (config.max_client_connections + shard_count - 1) / shard_count))),
      links_(config.mode == UpstreamMode::kMiddleEnd ? TotalLinkCapacity(config) : 1),
      // One handshake entry per accepted fake-TLS session; twice the slab covers the sessions
      // closed within one timeout (a full queue expires its oldest entry early).
      holders_(sessions_.capacity()),
      tls_deadlines_(config.tls.enabled() ? 2 * sessions_.capacity() : 1),
      front_deadlines_(config.tls.enabled() ? 2 * sessions_.capacity() : 1),
      completions_(kCompletionBatch) {
  // The reserve keeps Acquire() (output appends within the budget) fed; a small pool (tests)
  // keeps an eighth of itself.
  engine_->buffers().SetFreeReserve(
      std::min(kBufferReserve, engine_->buffers().buffer_count() / 8));
  recv_waiters_.reserve(sessions_.capacity());
  auto live = std::make_shared<LiveConfig>();
  live->generation = config.config_generation;
  live->secrets = config.secrets;
  live->routing = config.routing;
  live->proxy_secret = config.proxy_secret;
  live_ = std::move(live);
  adopted_generation_.store(live_->generation, std::memory_order_release);
  if (index < config.accept_budgets.size()) accept_budget_ = &config.accept_budgets[index];
  if (index < config.handshake_budgets.size()) {
    handshake_budget_ = &config.handshake_budgets[index];
  }
  max_clients_ = sessions_.capacity();
  me_link_pause_bytes_ = std::min<uint64_t>(
      config.me_link_queue_cap_bytes, uint64_t{chains_.budget()} * chains_.buffer_size() / 4);
  dirty_sessions_.reserve(std::min<uint32_t>(max_clients_, 65536));
  dirty_links_.reserve(links_.capacity());
  if (config.mode == UpstreamMode::kMiddleEnd) {
    targets_.resize(live_->routing.targets().size());
    for (size_t i = 0; i < targets_.size(); ++i) {
      targets_[i].address = live_->routing.targets()[i].address;
      targets_[i].backoff =
          ReconnectBackoff(static_cast<double>(FastRandomBelow(1000)) / 1000.0);
    }
  }
}

ProxyShard::~ProxyShard() {
  for (int fd : listener_fds_) {
    if (fd >= 0) engine_->Close(fd);
  }
}

absl::Status ProxyShard::OpenListeners() {
  for (const ListenerSpec& spec : config_.listeners) {
    ListenOptions options;
    options.address = spec.address;
    options.dual_stack = spec.dual_stack;
    options.reuse_port = true;
    options.backlog = config_.backlog;
    options.window_clamp_bytes = config_.window_clamp_bytes;
    auto fd = engine_->OpenListener(options);
    if (!fd.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot open http/tcp server socket at port ",
                                                 spec.address.port(), ": ",
                                                 fd.status().message()));
    }
    auto local = engine_->LocalAddressOf(*fd);
    listener_fds_.push_back(*fd);
    listener_ports_.push_back(local.ok() ? local->port() : spec.address.port());
    accept_armed_.push_back(false);
  }
  return absl::OkStatus();
}

uint64_t ProxyShard::Tag(OpKind op, uint32_t slot) const {
  return PackOpTag(op, sessions_.generation(slot), slot);
}
uint64_t ProxyShard::LinkTag(OpKind op, uint32_t link) const {
  return PackOpTag(op, links_.generation(link), link);
}

void ProxyShard::UpdateClock() { now_s_ = clock_.MonotonicSeconds(); }

void ProxyShard::RequestStop() {
  stop_.store(true, std::memory_order_relaxed);
  engine_->Wake();
}

void ProxyShard::RequestDrain() {
  drain_.store(true, std::memory_order_relaxed);
  engine_->Wake();
}

void ProxyShard::PollControl() {
  if (config_.live_updates != nullptr) {
    if (std::shared_ptr<const LiveConfig> next = config_.live_updates->Poll(&live_seen_)) {
      AdoptLive(std::move(next));
    }
    config_.live_updates->Ack(index_, live_->generation);
  }
  if (!draining_ && drain_.load(std::memory_order_relaxed)) {
    draining_ = true;
    StopAccepting();
  }
}

void ProxyShard::StopAccepting() {
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
    if (listener_fds_[i] < 0) continue;
    if (accept_armed_[i]) {
      engine_->CancelAll(listener_fds_[i]);  // closed by OnAccept once the op has ended
    } else {
      engine_->Close(listener_fds_[i]);
      listener_fds_[i] = -1;
    }
  }
  MTP_LOG(1, "shard %u: draining, %u client session(s) open", index_, sessions_.live());
}

void ProxyShard::AdoptLive(std::shared_ptr<const LiveConfig> next) {
  if (config_.mode == UpstreamMode::kMiddleEnd) {
    // Carry every target that is still configured (same address) over with its links and
    // backoff; retire the others: links not yet ready go now, ready ones keep serving their
    // bound clients and are closed by MaintainMePool once they have none.
    const auto& specs = next->routing.targets();
    std::vector<TargetState> next_targets(specs.size());
    std::vector<uint32_t> remap(targets_.size(), kNoSlot);
    std::vector<bool> carried(specs.size(), false);
    for (uint32_t j = 0; j < specs.size(); ++j) {
      next_targets[j].address = specs[j].address;
      for (uint32_t i = 0; i < targets_.size(); ++i) {
        if (remap[i] == kNoSlot && !targets_[i].retired && targets_[i].address == specs[j].address) {
          next_targets[j] = std::move(targets_[i]);
          remap[i] = j;
          carried[j] = true;
          break;
        }
      }
      if (!carried[j]) {
        next_targets[j].backoff =
            ReconnectBackoff(static_cast<double>(FastRandomBelow(1000)) / 1000.0);
      }
    }
    for (uint32_t i = 0; i < targets_.size(); ++i) {
      if (remap[i] != kNoSlot || targets_[i].links.empty()) continue;
      remap[i] = static_cast<uint32_t>(next_targets.size());
      next_targets.push_back(std::move(targets_[i]));
      next_targets.back().retired = true;
    }
    links_.ForEachLive([&](uint32_t, MeLink& l) { l.target = remap[l.target]; });
    targets_ = std::move(next_targets);
    uint32_t retired_links = 0;
    for (size_t t = specs.size(); t < targets_.size(); ++t) {
      std::vector<uint32_t> links = targets_[t].links;  // FailMeLink edits the list
      for (uint32_t link : links) {
        MeLink& l = links_.at(link);
        if (l.state == MeLinkState::kConnecting || l.state == MeLinkState::kHandshake) {
          FailMeLink(link, l, "target removed by a reload");
        } else {
          ++retired_links;
        }
      }
    }
    MTP_LOG(1, "shard %u: configuration generation %llu: %zu ME targets, %u link(s) of removed "
               "targets draining",
            index_, static_cast<unsigned long long>(next->generation), specs.size(),
            retired_links);
  }
  live_ = std::move(next);
  adopted_generation_.store(live_->generation, std::memory_order_release);
}

void ProxyShard::Run() {
  Start();
  while (RunOnce(-1)) {
  }
}

void ProxyShard::Start() {
  UpdateClock();
  next_tick_s_ = now_s_;
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
}

bool ProxyShard::RunOnce(int64_t max_wait_us) {
  if (finished_) return false;
  PollControl();
  if (!stopping_ && stop_.load(std::memory_order_relaxed)) {
    stopping_ = true;
    stop_deadline_s_ = now_s_ + kShutdownGraceS;
    Shutdown();
  }
  if (stopping_) {
    bool accepts_done = std::none_of(accept_armed_.begin(), accept_armed_.end(),
                                     [](bool armed) { return armed; });
    bool done = sessions_.live() == 0 && links_.live() == 0 && accepts_done;
    if (!done && now_s_ > stop_deadline_s_) {
      MTP_WARN("shard %u: %u sessions and %u ME links still had operations in flight at exit",
               index_, sessions_.live(), links_.live());
      done = true;
    }
    if (done) {
      for (int& fd : listener_fds_) {
        if (fd >= 0) engine_->Close(fd);
        fd = -1;
      }
      finished_ = true;
      return false;
    }
  }
  int64_t wait_us = static_cast<int64_t>(std::max(0.0, next_tick_s_ - now_s_) * 1e6);
  if (max_wait_us >= 0) wait_us = std::min(wait_us, max_wait_us);
  int n = engine_->Poll(std::span<IoCompletion>(completions_), wait_us);
  UpdateClock();
  for (int i = 0; i < n; ++i) Dispatch(completions_[i]);
  FlushDirty();
  if (now_s_ >= next_tick_s_) {
    Tick();
    next_tick_s_ = now_s_ + kTickS;
  }
  return true;
}

void ProxyShard::Shutdown() {
  for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
    if (accept_armed_[i]) engine_->CancelAll(listener_fds_[i]);
  }
  sessions_.ForEachLive([&](uint32_t slot, ClientSession& s) {
    if (s.state != SessionState::kClosing) CloseSession(slot, s, CloseReason::kShutdown);
  });
  links_.ForEachLive([&](uint32_t link, MeLink& l) {
    if (l.state != MeLinkState::kClosing) FailMeLink(link, l, "shutdown");
  });
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
      ClientSession* s = sessions_.Lookup(tag.slot, tag.generation);
      if (s == nullptr) break;
      switch (tag.op) {
        case OpKind::kClientRecv:
          OnClientRecv(tag.slot, *s, c);
          break;
        case OpKind::kClientSend:
          OnClientSend(tag.slot, *s, c);
          break;
        case OpKind::kUpstreamConnect:
          OnUpstreamConnect(tag.slot, *s, c);
          break;
        case OpKind::kUpstreamRecv:
          OnUpstreamRecv(tag.slot, *s, c);
          break;
        default:
          OnUpstreamSend(tag.slot, *s, c);
          break;
      }
      if (s->state == SessionState::kClosing && s->inflight() == 0) FinalizeSession(tag.slot, *s);
      return;
    }
    case OpKind::kMeConnect:
    case OpKind::kMeRecv:
    case OpKind::kMeSend: {
      MeLink* l = links_.Lookup(tag.slot, tag.generation);
      if (l == nullptr) break;
      if (tag.op == OpKind::kMeConnect) {
        OnMeConnect(tag.slot, *l, c);
      } else if (tag.op == OpKind::kMeRecv) {
        OnMeRecv(tag.slot, *l, c);
      } else {
        OnMeSend(tag.slot, *l, c);
      }
      MeLinkOpDone(tag.slot, *l);
      return;
    }
    case OpKind::kNone:
      break;
  }
  // A completion whose slot was recycled: every op is counted down before a slot is freed, so
  // this is a bug in the accounting. Keep the buffer pool whole and say so loudly.
  if (c.buffer_id >= 0) engine_->buffers().Release(c.buffer_id);
  MTP_ERROR("shard %u: stale completion op=%d slot=%u gen=%u result=%d", index_,
            static_cast<int>(tag.op), tag.slot, tag.generation, c.result);
}

// ---- accept ------------------------------------------------------------------------------

void ProxyShard::ArmAccept(uint32_t listener) {
  if (accept_armed_[listener] || stopping_ || draining_ || listener_fds_[listener] < 0) return;
  engine_->Accept(listener_fds_[listener], PackOpTag(OpKind::kAccept, 0, listener));
  accept_armed_[listener] = true;
}

void ProxyShard::OnAccept(uint32_t listener, const IoCompletion& c) {
  if (listener >= listener_fds_.size()) return;
  if (!c.more) accept_armed_[listener] = false;
  if (draining_ && !accept_armed_[listener] && listener_fds_[listener] >= 0) {
    engine_->Close(listener_fds_[listener]);
    listener_fds_[listener] = -1;
  }
  if (c.result < 0) {
    if (c.result != -ECANCELED) MTP_LOG(1, "shard %u: accept failed: %d", index_, -c.result);
    return;  // re-armed by the tick unless paused or stopping
  }
  int fd = c.result;
  if (stopping_ || draining_) {
    engine_->Close(fd);
    return;
  }
  if (accept_budget_ != nullptr && !accept_budget_->TryConsume()) {
    engine_->Close(fd);  // --max-accept-rate; the budget counts the refusal
    return;
  }
  if (static_cast<uint32_t>(fd) >= config_.max_connections || sessions_.live() >= max_clients_) {
    engine_->Close(fd);
    counters_.client_rejected_limit.Add();
    if (sessions_.live() >= max_clients_ && !accept_paused_) {
      // -C reached: stop accepting (new connections wait in the kernel backlog) until a
      // session ends, like the reference removing its listeners from epoll.
      accept_paused_ = true;
      for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
        if (accept_armed_[i]) {
          engine_->CancelOp(listener_fds_[i], PackOpTag(OpKind::kAccept, 0, i));
        }
      }
    }
    return;
  }
  uint32_t slot = sessions_.Allocate();
  if (slot == SessionSlab<ClientSession>::kInvalidSlot) {
    engine_->Close(fd);
    counters_.client_rejected_limit.Add();
    return;
  }
  ClientSession& s = sessions_.at(slot);
  s.client.fd = fd;
  s.listener = static_cast<uint16_t>(listener);
  s.last_active_s = now_s_;
  if (config_.handshake_timeout_ms > 0) {
    s.serve_deadline_s = now_s_ + static_cast<double>(config_.handshake_timeout_ms) / 1000.0;
  }
  Transition(s, SessionState::kHandshake);
  counters_.client_accepted.Add();
  s.accepted_s = now_s_;
  counters_.client_active.Add();
  // -v: the reference's connection-level line (the peer is looked up only when logged).
  MTP_LOG(1, "shard %u: New inbound connection #%d %s -> port %u (client %u)", index_, fd,
          PeerText(*engine_, fd), listener_port(listener), slot);
  BeginTls(slot, s);
  engine_->TuneAccepted(fd, config_.window_clamp_bytes);
  ArmClientRecv(slot, s);
}

// ---- session life cycle --------------------------------------------------------------------

void ProxyShard::Transition(ClientSession& s, SessionState to) {
  if (!IsLegalSessionTransition(s.state, to)) {
    MTP_ERROR("shard %u: illegal session transition %s -> %s", index_,
              SessionStateName(s.state), SessionStateName(to));
    assert(false);
  }
  s.state = to;
}

void ProxyShard::MarkDirty(uint32_t slot, ClientSession& s) {
  if (s.dirty) return;
  s.dirty = true;
  dirty_sessions_.push_back(slot);
}

void ProxyShard::FlushDirtyLinks() {
  // Bounded snapshot: a link that re-marks itself (no buffers yet) is retried next batch.
  // Seal every link first, encrypt all of them in one batch, then queue and send.
  size_t n = dirty_links_.size();
  MakeRoomForLinks(n);
  link_jobs_.clear();
  for (size_t i = 0; i < n; ++i) {
    uint32_t link = dirty_links_[i];
    if (!links_.is_live(link)) continue;
    MeLink& l = links_.at(link);
    if (!l.dirty) continue;
    l.dirty = false;
    SealMeLink(link, l, link_jobs_);
  }
  AesCbc::ProcessBatch(link_jobs_);
  for (size_t i = 0; i < n; ++i) {
    uint32_t link = dirty_links_[i];
    if (!links_.is_live(link)) continue;
    MeLink& l = links_.at(link);
    SendMeLink(link, l);
    MeLinkOpDone(link, l);
  }
  dirty_links_.erase(dirty_links_.begin(), dirty_links_.begin() + n);
}

void ProxyShard::FlushDirty() {
  ArmWaitingReceives();
  // Links first: their queue sizes decide which clients get paused or resumed.
  FlushDirtyLinks();
  // Flushing a session can mark others (and links) dirty again: iterate over a bounded
  // snapshot; anything added is handled at the end of the next batch.
  size_t n = dirty_sessions_.size();
  for (size_t i = 0; i < n; ++i) {
    uint32_t slot = dirty_sessions_[i];
    if (!sessions_.is_live(slot)) continue;
    ClientSession& s = sessions_.at(slot);
    if (!s.dirty) continue;
    s.dirty = false;
    FlushSession(slot, s);
    if (s.state == SessionState::kClosing && s.inflight() == 0) FinalizeSession(slot, s);
  }
  dirty_sessions_.erase(dirty_sessions_.begin(), dirty_sessions_.begin() + n);
  // Links dirtied by session flushes (RPC_CLOSE_CONN, forwarded frames) go out now.
  FlushDirtyLinks();
}

void ProxyShard::FlushSession(uint32_t slot, ClientSession& s) {
  if (s.state == SessionState::kClosing || s.state == SessionState::kFree) return;
  if (s.client.want_recv && !s.client.recv_armed && !s.client.recv_paused && !s.out_paused &&
      s.state != SessionState::kDraining) {
    if (RecvMayArm()) {
      s.client.want_recv = false;
      ArmClientRecv(slot, s);
    } else {
      WaitForRecvBuffers(slot, s);  // re-armed in FIFO order as buffers come back
    }
  }
  if (!s.client.send_inflight && !s.client.out.empty()) {
    if (!WrapTlsOutput(chains_, s.client.out, s.tls, NowMs())) {  // -D: records, sized per flush
      counters_.client_failed_no_buffers.Add();
      CloseSession(slot, s, CloseReason::kNoBuffers);
      return;
    }
    ByteSpan front = chains_.Front(s.client.out);
    s.client.send_len = TlsSendableBytes(s.tls, static_cast<uint32_t>(front.size()));
    engine_->Send(s.client.fd, front.data(), s.client.send_len, Tag(OpKind::kClientSend, slot));
    s.client.send_started_s = now_s_;
    s.client.BeginSend();
  }
  if (s.up.fd >= 0 && !s.up.connecting) {
    if (s.up.want_recv && !s.up.recv_armed && !s.up.recv_paused &&
        s.state == SessionState::kRelaying) {
      s.up.want_recv = false;
      ArmUpstreamRecv(slot, s);
    }
    if (!s.up.send_inflight && !s.up.out.empty() && s.state == SessionState::kRelaying) {
      ByteSpan front = chains_.Front(s.up.out);
      s.up.send_len = static_cast<uint32_t>(front.size());
      engine_->Send(s.up.fd, front.data(), s.up.send_len, Tag(OpKind::kUpstreamSend, slot));
      s.up.send_started_s = now_s_;
      s.up.BeginSend();
    }
  }
  if (s.state == SessionState::kDraining && s.client.out.empty() && !s.client.send_inflight) {
    CloseSession(slot, s, CloseReason::kUpstreamEof);
  }
}

void ProxyShard::ArmClientRecv(uint32_t slot, ClientSession& s) {
  if (s.client.recv_armed) return;
  engine_->Recv(s.client.fd, Tag(OpKind::kClientRecv, slot));
  s.client.BeginRecv();
  s.budget_cancel = false;
}

void ProxyShard::CloseSession(uint32_t slot, ClientSession& s, CloseReason reason) {
  if (s.state == SessionState::kClosing) return;
  MTP_LOG(1, "shard %u: closing client %u (fd %d): %s", index_, slot, s.client.fd,
          CloseReasonName(reason));
  // A fake-TLS client past both handshakes that got no DC connect or ME.
  if (s.tls.on() && !s.fronting &&
      (reason == CloseReason::kNoUpstream ||
       (reason == CloseReason::kUpstreamError && s.state == SessionState::kConnecting))) {
    counters_.tls_failed_upstream.Add();
  }
  if (s.bound) {
    UnbindSession(slot, s,
                  reason != CloseReason::kCloseExt && reason != CloseReason::kMeLinkLost);
  }
  if (s.state == SessionState::kSkip) counters_.client_skip_mode.Sub();
  Transition(s, SessionState::kClosing);
  // Its unserved input no longer matters: give it back now (nothing in flight points into it;
  // receives completing from here on are released as they come), so shedding frees at once.
  chains_.Clear(s.in);
  holders_.Set(slot, Charge::kQueue);
  if (s.client.recv_armed || s.client.send_inflight) engine_->CancelAll(s.client.fd);
  if (s.up.fd >= 0 && (s.up.recv_armed || s.up.send_inflight || s.up.connecting)) {
    engine_->CancelAll(s.up.fd);
  }
  // Never freed inline (callers may still hold `s`): Dispatch frees it once the last op
  // completes, or the flush pass does when nothing is in flight.
  if (s.inflight() == 0) MarkDirty(slot, s);
}

void ProxyShard::FinalizeSession(uint32_t slot, ClientSession& s) {
  if (s.state != SessionState::kClosing || s.inflight() != 0) return;
  if (s.client.fd >= 0) engine_->Close(s.client.fd);
  if (s.up.fd >= 0) engine_->Close(s.up.fd);
  if (s.fronting) counters_.tls_fronting_active.Sub();
  if (s.secret_index >= 0) counters_.secrets[s.secret_index].active.Sub();
  chains_.Clear(s.in);
  chains_.Clear(s.client.out);
  chains_.Clear(s.up.out);
  holders_.Set(slot, Charge::kQueue);
  counters_.connection_seconds.Observe(now_s_ - s.accepted_s);
  MTP_LOG(2, "shard %u: client %u closed after %.3f s: secret %d, DC %d, %u bytes in, %u out",
          index_, slot, now_s_ - s.accepted_s, s.secret_index, s.dc_id, s.bytes_in, s.bytes_out);
  Transition(s, SessionState::kFree);
  s = ClientSession{};  // releases the cipher contexts
  sessions_.Free(slot);
  counters_.client_active.Sub();
  counters_.client_closed.Add();
  if (accept_paused_ && sessions_.live() < max_clients_ && !stopping_) {
    accept_paused_ = false;
    for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
  }
}

void ProxyShard::Tick() {
  TlsTick();
  GuardTick();
  if (config_.mode == UpstreamMode::kMiddleEnd && !stopping_) MaintainMePool();
  if (!accept_paused_ && !stopping_) {
    for (uint32_t i = 0; i < listener_fds_.size(); ++i) ArmAccept(i);
  }
  counters_.buffers_in_use.Set(chains_.held());
  uint64_t ready_targets = 0;
  uint64_t retired_targets = 0;
  uint64_t retired_links = 0;
  for (const TargetState& t : targets_) {
    ready_targets += (!t.retired && t.ready > 0) ? 1 : 0;
    if (t.retired && !t.links.empty()) {
      ++retired_targets;
      retired_links += t.links.size();
    }
  }
  counters_.me_targets_ready.Set(ready_targets);
  counters_.me_targets_retired.Set(retired_targets);
  counters_.me_links_retired.Set(retired_links);
}

}  // namespace mtp
