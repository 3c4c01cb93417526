// MePool, link I/O: receives (RpcLink parses them), sends, and the flush pass that seals
// every dirty link in one CBC batch.
#include <algorithm>
#include <cerrno>

#include "core/check.h"
#include "core/log.h"
#include "dataplane/me/me_pool.h"
#include "dataplane/session/input_budget.h"
#include "dataplane/session/leg_send.h"
#include "dataplane/upstream_socks5.h"

namespace mtp {
namespace {

// Routes RpcLink's callbacks for one link back to the pool.
class LinkVisitor final : public RpcLinkVisitor {
 public:
  LinkVisitor(MePool* pool, uint32_t link, void (MePool::*on_ready)(uint32_t, MeLink&),
              void (MePool::*on_message)(uint32_t, MeLink&, uint32_t, ByteSpan), MeLink* l)
      : pool_(pool), link_(link), on_ready_(on_ready), on_message_(on_message), l_(l) {}
  void OnRpcLinkReady(RpcLink&, const RpcHandshake&) override { (pool_->*on_ready_)(link_, *l_); }
  void OnRpcMessage(RpcLink&, uint32_t type, ByteSpan payload) override {
    (pool_->*on_message_)(link_, *l_, type, payload);
  }

 private:
  MePool* pool_;
  uint32_t link_;
  void (MePool::*on_ready_)(uint32_t, MeLink&);
  void (MePool::*on_message_)(uint32_t, MeLink&, uint32_t, ByteSpan);
  MeLink* l_;
};

// What one ready link seals per flush pass, at most: kMeFlushCapBytes, or an eighth of its
// pending output if that is more. The pass encrypts all links in one multi-lane CBC batch,
// which lasts as long as its longest chain; with whole backlogs sealed (uneven: 300 KB on one
// link, 30 KB on another) the longest ran alone on one lane after the others had ended, and a
// link alone in a pass had no company at all. With every chain at most the cap, the batches
// hold more chains of the same length, and the rest of a capped link joins the next passes:
// it has a send in flight (SendMeLink queued the capped part), whose completion marks it dirty
// again. The eighth keeps a link that receives faster than the cap drains from falling
// further behind: its backlog shrinks geometrically, in a few passes (measured:
// docs/performance.md, "Even CBC chains").
constexpr size_t kMeFlushCapBytes = 32 * 1024;

size_t LinkFlushCap(size_t pending) { return std::max(kMeFlushCapBytes, pending / 8); }

// The bytes this pass seals of `rpc`'s pending output (a link not yet ready sends its
// handshake whole).
size_t FlushBytes(const RpcLink& rpc) {
  const size_t all = rpc.PendingOutputBytes();
  return rpc.ready() ? rpc.PendingOutputBytes(LinkFlushCap(all)) : all;
}

}  // namespace

void MePool::OnMeRecv(uint32_t link, MeLink& l, const IoCompletion& c) {
  if (!c.more) l.leg.EndRecv();
  l.active_s = ctx_.now_s;
  if (l.state == MeLinkState::kSocks5) {
    OnMeSocks5Recv(link, l, c);
    return;
  }
  if (c.result > 0 && c.buffer_id >= 0) {
    if (l.state == MeLinkState::kClosing) {
      ctx_.engine->buffers().Release(c.buffer_id);
      return;
    }
    ctx_.counters.me_bytes_in.Add(static_cast<uint32_t>(c.result));
    LinkVisitor visitor(this, link, &MePool::OnMeReady, &MePool::OnMeMessage, &l);
    RpcError e = l.rpc->Feed(
        ByteSpan(ctx_.engine->buffers().Data(c.buffer_id), static_cast<size_t>(c.result)), visitor);
    ctx_.engine->buffers().Release(c.buffer_id);
    if (l.rpc->HasPendingOutput()) ctx_.MarkLinkDirty(link, l);
    if (e != RpcError::kOk) {
      MTP_WARN("shard %u: ME link %u: protocol error %s", ctx_.index, link, RpcErrorName(e));
      FailMeLink(link, l, "protocol error");
      return;
    }
    if (l.leg.recv_armed && !l.leg.recv_paused && BudgetSpent()) {
      // Answers arriving now could only be queued to their clients over the budget, or close
      // them for want of a buffer: stop reading this link (the ME keeps the bytes) until the
      // clients' queues drain or the tick sheds stalled holders. Maintain resumes it.
      l.leg.recv_paused = true;
      ctx_.counters.me_recv_pauses.Add();
      ctx_.engine->CancelOp(l.leg.fd, ctx_.LinkTag(OpKind::kMeRecv, link));
    }
  } else if (c.result == 0) {
    FailMeLink(link, l, "closed by the ME");
    return;
  } else if (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED) {
    FailMeLink(link, l, "receive error");
    return;
  }
  if (!c.more && l.state != MeLinkState::kClosing) {
    l.leg.want_recv = true;
    ctx_.MarkLinkDirty(link, l);
  }
}

bool MePool::BudgetSpent() const {
  return ctx_.chains.held() + ctx_.chains.promised() >= ctx_.chains.budget();
}

void MePool::OnMeSend(uint32_t link, MeLink& l, const IoCompletion& c) {
  l.leg.EndSend();
  l.active_s = ctx_.now_s;
  if (l.state == MeLinkState::kClosing) return;
  if (c.result < 0) {
    if (l.leg.socks5.active()) NoteSocks5Failure(ctx_, l.leg, Socks5Error::kIoError, "ME link");
    FailMeLink(link, l, "send error");
    return;
  }
  if (l.state == MeLinkState::kSocks5) {
    if (OnSocks5Sent(ctx_, l.leg, static_cast<uint32_t>(c.result),
                     ctx_.LinkTag(OpKind::kMeSend, link)) == Socks5Progress::kDone) {
      OnMeSocks5Done(link, l);
    }
    return;
  }
  ctx_.counters.me_bytes_out.Add(static_cast<uint32_t>(c.result));
  ctx_.chains.Consume(l.leg.out, static_cast<uint32_t>(c.result));
  if (l.paused_count > 0 &&
      l.leg.out.bytes + l.rpc->PendingOutputBytes() <= me_link_pause_bytes_ / 2) {
    ResumePausedClients(l);
  }
  ctx_.MarkLinkDirty(link, l);
}

void MePool::Flush() {
  // Bounded snapshot: a link that re-marks itself (no buffers yet) is retried next batch.
  // Seal every link first, encrypt all of them in one batch, then queue and send.
  size_t n = ctx_.dirty_links.size();
  MakeRoomForLinks(n);
  link_jobs_.clear();
  for (size_t i = 0; i < n; ++i) {
    uint32_t link = ctx_.dirty_links[i];
    if (!ctx_.links.is_live(link)) continue;
    MeLink& l = ctx_.links.at(link);
    if (!l.dirty) continue;
    l.dirty = false;
    SealMeLink(link, l, link_jobs_);
  }
  AesCbc::ProcessBatch(link_jobs_);
  for (size_t i = 0; i < n; ++i) {
    uint32_t link = ctx_.dirty_links[i];
    if (!ctx_.links.is_live(link)) continue;
    MeLink& l = ctx_.links.at(link);
    SendMeLink(link, l);
    MeLinkOpDone(link, l);
  }
  ctx_.dirty_links.erase(ctx_.dirty_links.begin(), ctx_.dirty_links.begin() + n);
}

void MePool::SealMeLink(uint32_t link, MeLink& l, std::vector<AesCbc::Job>& jobs) {
  l.sealed = {};
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  if (l.leg.recv_paused && !BudgetSpent()) l.leg.recv_paused = false;
  if (l.leg.want_recv && !l.leg.recv_armed && !l.leg.recv_paused) {
    if (ctx_.engine->buffers().recv_available() > 0) {
      l.leg.want_recv = false;
      ctx_.engine->Recv(l.leg.fd, ctx_.LinkTag(OpKind::kMeRecv, link));
      l.leg.BeginRecv();
    } else {
      ctx_.MarkLinkDirty(link, l);
    }
  }
  if (l.rpc && l.rpc->HasPendingOutput()) {
    const size_t pending = FlushBytes(*l.rpc);
    // A link with nothing queued may go over the budget (while the pool can back it): its
    // clients are paused on it, and the buffers that would have to come back may be held by
    // those same clients, so waiting could be forever. The overshoot is bounded by the
    // link's pause point plus one batch of frames; the next receive sheds unserved input to
    // bring the shard back under its budget.
    const bool idle = l.leg.out.empty() && !l.leg.send_inflight;
    if (idle && !ctx_.chains.CanTake(pending)) {
      // MakeRoomForLinks shed unserved input for this link before any link was sealed (shedding
      // here would queue RPC_CLOSE_CONN on links already sealed in this pass).
      if (!ctx_.chains.PoolCanSupply(pending)) {
        // The output can never be queued (a pool far too small for one batch of frames): the
        // link goes, counted, rather than wait forever.
        ctx_.counters.me_flush_failures.Add();
        FailMeLink(link, l, "pending output larger than the buffer pool can hold");
        return;
      }
    }
    if (!ctx_.chains.CanTake(pending) && !(idle && ctx_.chains.PoolCanSupply(pending))) {
      ctx_.MarkLinkDirty(link, l);  // wait for buffers to come back; clients are paused meanwhile
    } else {
      // Promised now: the other links sealed in this pass see it, so together they cannot
      // overshoot the budget and leave ciphertext with nowhere to go.
      MTP_VERIFY(l.promised == 0, "ME link sealed twice in one pass");
      l.promised = ctx_.chains.PromiseBytes(pending);
      AesCbc::Job job;
      l.sealed = l.rpc->BeginFlush(&job, pending);
      MTP_VERIFY(l.sealed.size() == pending, "ME link sealed other than it promised");
      if (job.n > 0) jobs.push_back(job);
    }
  }
}

void MePool::MakeRoomForLinks(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t link = ctx_.dirty_links[i];
    if (!ctx_.links.is_live(link)) continue;
    MeLink& l = ctx_.links.at(link);
    if (!l.dirty || !l.rpc || l.state == MeLinkState::kClosing) continue;
    if (!l.leg.out.empty() || l.leg.send_inflight) continue;
    // Unserved input (partial frames, hellos) may be held by the very clients paused on this
    // idle link: shed it, oldest first, until the pool can back the link's output. A shed
    // client's RPC_CLOSE_CONN joins the pending output, hence the re-read.
    while (!ctx_.chains.CanTake(FlushBytes(*l.rpc)) &&
           !ctx_.chains.PoolCanSupply(FlushBytes(*l.rpc)) &&
           budget_->ShedOldest(Charge::kQueue) != HolderLedger::kNone) {
    }
  }
}

void MePool::SendMeLink(uint32_t link, MeLink& l) {
  ctx_.chains.KeepPromise(l.promised);
  l.promised = 0;
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  if (l.leg.socks5.active()) return;  // the SOCKS5 requests go one at a time (upstream_socks5.h)
  if (!l.sealed.empty()) {
    // The CBC state has advanced over these bytes: losing any would corrupt the stream for
    // every client on the link. If they cannot all be queued, the link goes (counted), never
    // a silent hole.
    const bool queued = ctx_.chains.AppendCopy(l.leg.out, l.sealed);
    l.sealed = {};
    if (!queued) {
      ctx_.counters.me_flush_failures.Add();
      FailMeLink(link, l, "no buffer for sealed output");
      return;
    }
  }
  if (!l.leg.send_inflight && !l.leg.out.empty()) {
    SubmitLegSend(ctx_, l.leg, ctx_.LinkTag(OpKind::kMeSend, link));
  }
  // The rest of a capped flush: a send is in flight here (the capped part was queued), and
  // its completion marks the link dirty again. Without one, the next pass takes it.
  if (!l.leg.send_inflight && l.rpc && l.rpc->HasPendingOutput()) ctx_.MarkLinkDirty(link, l);
}

}  // namespace mtp
