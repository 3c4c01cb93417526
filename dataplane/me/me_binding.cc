// MePool, clients: binding to a link, RPC_PROXY_REQ out, and RPC_PROXY_ANS / RPC_SIMPLE_ACK /
// RPC_CLOSE_EXT back to clients.
#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "crypto/random.h"
#include "dataplane/me/ext_conn_id.h"
#include "dataplane/me/me_pool.h"
#include "dataplane/session/client_sessions.h"
#include "proto/framing.h"
#include "proto/mtproto_filter.h"
#include "proto/rpc_messages.h"

namespace mtp {

namespace {

constexpr int kTargetPicks = 5;  // §8.2: random target picks per bind
// A target's links grow past min_connections once every link carries this many clients.
constexpr uint32_t kClientsPerLinkToGrow = 2;

RpcClientFraming FramingOf(Transport t) {
  switch (t) {
    case Transport::kAbridged:
      return RpcClientFraming::kAbridged;
    case Transport::kIntermediate:
      return RpcClientFraming::kIntermediate;
    case Transport::kPadded:
      return RpcClientFraming::kPaddedIntermediate;
  }
  return RpcClientFraming::kIntermediate;
}

}  // namespace

MeLink* MePool::BoundLink(const ClientSession& s) {
  if (!s.bound) return nullptr;
  return ctx_.links.Lookup(s.me_link, s.me_link_generation);
}

uint32_t MePool::LinksWanted(const TargetState& ts, const MeTargetSpec& spec) const {
  const uint32_t floor = std::min(spec.min_connections, spec.max_connections);
  const uint32_t cap =
      std::min<uint32_t>(spec.max_connections, static_cast<uint32_t>(AesCbc::BatchLanes()));
  const uint32_t have = static_cast<uint32_t>(ts.links.size());
  if (have < floor || have >= cap || ts.ready != have) return floor;
  // Every link is ready and shared: one client's stream cannot leave its link, so only links
  // opened now spread the clients that come next over more CBC chains. Links opened this way
  // stay like the first ones (the cap bounds them); a failed one is replaced only if the rule
  // still asks for it.
  for (uint32_t link : ts.links) {
    if (ctx_.links.at(link).bound_count < kClientsPerLinkToGrow) return floor;
  }
  return have + 1;
}

uint32_t MePool::LeastLoadedLink(const TargetState& ts) const {
  // The reference picks a random link. Here the client goes to the ready link with the fewest
  // bound clients, then the least queued output: spread evenly, the links' flushes land in the
  // same pass more often, and AesCbc::ProcessBatch runs their CBC chains side by side (one
  // link's chain is serial). Ties start from a random link so equal links share new clients.
  const size_t n = ts.links.size();
  if (n == 0) return kNoSlot;
  const size_t start = FastRandomBelow(static_cast<uint32_t>(n));
  uint32_t best = kNoSlot;
  uint32_t best_clients = 0;
  uint64_t best_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t link = ts.links[(start + i) % n];
    const MeLink& l = ctx_.links.at(link);
    if (l.state != MeLinkState::kReady) continue;
    const uint64_t bytes = uint64_t{l.leg.out.bytes} + l.rpc->PendingOutputBytes();
    if (best == kNoSlot || l.bound_count < best_clients ||
        (l.bound_count == best_clients && bytes < best_bytes)) {
      best = link;
      best_clients = l.bound_count;
      best_bytes = bytes;
    }
  }
  return best;
}

bool MePool::BindSession(uint32_t slot, ClientSession& s) {
  const MeClusterSpec* cluster = ctx_.live->routing.ClusterFor(s.dc_id);
  if (cluster == nullptr || cluster->targets.empty()) return false;
  uint32_t chosen = kNoSlot;
  for (int attempt = 0; attempt < kTargetPicks && chosen == kNoSlot; ++attempt) {
    uint32_t t = cluster->targets[FastRandomBelow(static_cast<uint32_t>(cluster->targets.size()))];
    TargetState& ts = targets_[t];
    if (ts.ready == 0) continue;
    chosen = LeastLoadedLink(ts);
  }
  // The reference's five extra picks within the last target cannot change the outcome here:
  // nothing becomes ready while this shard is choosing.
  if (chosen == kNoSlot) return false;

  if (!s.peer_known) {  // else the PROXY header named the client
    auto peer = ctx_.engine->PeerAddressOf(s.client.fd);
    if (peer.ok()) {
      s.peer_ip = peer->ipv6();
      s.peer_port = peer->port();
    }
  }
  auto local = ctx_.engine->LocalAddressOf(s.client.fd);
  if (local.ok()) {
    SocketAddress self = local->is_v4_mapped() ? local->Unmapped() : *local;
    s.local_ip =
        self.is_v4() ? Ipv4MappedIpv6(ctx_.config.nat.Translate(self.ipv4())) : self.ipv6();
    s.local_port = self.port();
  } else {
    s.local_port = ctx_.listener_ports[s.listener];
  }
  MeLink& l = ctx_.links.at(chosen);
  s.bound = true;
  s.me_link = chosen;
  s.me_link_generation = ctx_.links.generation(chosen);
  s.ext_conn_id = MakeExtConnId(ctx_.index, ctx_.sessions.generation(slot), slot);
  s.link_prev = kNoSlot;
  s.link_next = l.bound_head;
  if (l.bound_head != kNoSlot) ctx_.sessions.at(l.bound_head).link_prev = slot;
  l.bound_head = slot;
  ++l.bound_count;
  ctx_.counters.ext_connections.Add();
  ctx_.counters.ext_connections_created.Add();
  return true;
}

void MePool::UnbindSession(uint32_t /*slot*/, ClientSession& s, bool send_close_conn) {
  MeLink* l = BoundLink(s);
  if (l != nullptr) {
    if (s.link_prev != kNoSlot) {
      ctx_.sessions.at(s.link_prev).link_next = s.link_next;
    } else {
      l->bound_head = s.link_next;
    }
    if (s.link_next != kNoSlot) ctx_.sessions.at(s.link_next).link_prev = s.link_prev;
    --l->bound_count;
    if (s.client.recv_paused && l->paused_count > 0) --l->paused_count;
    if (send_close_conn) SendCloseConn(*l, s.me_link, s.ext_conn_id);
  }
  s.bound = false;
  s.link_prev = s.link_next = kNoSlot;
  ctx_.counters.ext_connections.Sub();
}

void MePool::SendCloseConn(MeLink& l, uint32_t link, uint64_t ext_conn_id) {
  if (l.state != MeLinkState::kReady) return;
  uint8_t msg[kRpcCloseBytes];
  EncodeRpcClose(kRpcCloseConn, ext_conn_id, msg);
  if (l.rpc->SendMessage(msg) == RpcError::kOk) ctx_.counters.close_conn_sent.Add();
  ctx_.MarkLinkDirty(link, l);
}

FrameOutcome MePool::ForwardToMe(uint32_t slot, ClientSession& s, ByteSpan payload,
                                 bool quick_ack, uint32_t extra_flags) {
  if (!s.bound) {
    if (!BindSession(slot, s)) {
      // §8.3: drop, and remember it so the stream is not resumed with a hole. The client is
      // closed if no ME turns up within the handshake timeout (session/session_guard.cc).
      ctx_.counters.dropped_queries.Add();
      if (!s.dropped && ctx_.config.handshake_timeout_ms > 0) {
        s.serve_deadline_s = ctx_.now_s + ctx_.config.handshake_timeout_ms / 1000.0;
      }
      s.dropped = true;
      return FrameOutcome::kDone;
    }
    if (s.dropped) {
      clients_->CloseSession(slot, s, CloseReason::kNoMeAfterDrop);
      return FrameOutcome::kClosed;
    }
  }
  MeLink* l = BoundLink(s);
  if (l == nullptr || l->state != MeLinkState::kReady) {
    ctx_.counters.client_me_link_lost.Add();
    clients_->CloseSession(slot, s, CloseReason::kMeLinkLost);
    return FrameOutcome::kClosed;
  }
  RpcProxyReqHeader h;
  bool has_tag = ctx_.config.ad_tag.has_value();
  h.flags = MakeRpcProxyReqFlags(FramingOf(s.transport), has_tag,
                                 (extra_flags & kProxyReqFlagUnencrypted) != 0, quick_ack);
  h.ext_conn_id = s.ext_conn_id;
  h.client_ip = s.peer_ip;
  h.client_port = s.peer_port;
  h.proxy_ip = s.local_ip;
  h.proxy_port = s.local_port;
  if (has_tag) h.ad_tag = ByteSpan(ctx_.config.ad_tag->data(), ctx_.config.ad_tag->size());
  size_t header_bytes = RpcProxyReqHeaderSize(h.flags, h.ad_tag.size());
  MutableByteSpan msg = l->rpc->BeginMessage(header_bytes + payload.size());
  if (msg.empty() && l->rpc->last_output_error() != RpcError::kBufferLimit) {
    ctx_.counters.dropped_queries.Add();  // a payload RPC_PROXY_REQ cannot carry
    return FrameOutcome::kDone;
  }
  if (msg.empty()) {
    // The link's output bound. Clients stop being read once the link passes
    // me_link_pause_bytes_, but frames already received (a multishot receive's completions
    // before its cancel lands, several clients' queued input) can still exceed it. Dropping
    // one would leave a hole in the client's stream: the frame waits in the client's input
    // instead, and the client is paused with the link's other paused clients.
    if (!s.input_held) ctx_.counters.me_frames_held.Add();  // once per wait, not per retry
    clients_->PauseClientRecv(slot, s);
    return FrameOutcome::kHeld;
  }
  EncodeRpcProxyReqHeader(h, msg);
  std::memcpy(msg.data() + header_bytes, payload.data(), payload.size());
  l->rpc->CommitMessage();
  ctx_.counters.forwarded_queries.Add();
  if (s.me_asked_s == 0) s.me_asked_s = ctx_.now_s;  // the first request: round trip starts
  ctx_.MarkLinkDirty(s.me_link, *l);
  // Sealed and unsealed output both count: when the shard's budget is short the unsealed part
  // is what grows, and past RpcLink's bound frames would be dropped.
  if (l->leg.out.bytes + l->rpc->PendingOutputBytes() > me_link_pause_bytes_) {
    clients_->PauseClientRecv(slot, s);
  }
  return FrameOutcome::kDone;
}

void MePool::ResumePausedClients(MeLink& l) {
  for (uint32_t slot = l.bound_head; slot != kNoSlot && l.paused_count > 0;) {
    ClientSession& s = ctx_.sessions.at(slot);
    uint32_t next = s.link_next;
    if (s.client.recv_paused) {
      s.client.recv_paused = false;
      --l.paused_count;
      s.client.want_recv = true;
      ctx_.MarkDirty(slot, s);
    }
    slot = next;
  }
}

void MePool::OnMeMessage(uint32_t link, MeLink& l, uint32_t type, ByteSpan payload) {
  uint64_t id = 0;
  switch (type) {
    case kRpcProxyAns: {
      RpcProxyAns ans;
      if (!DecodeRpcProxyAns(payload, &ans)) return;  // < 16 bytes: ignored (§7.6)
      id = ans.ext_conn_id;
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == ctx_.index)
        s = ctx_.sessions.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->me_link != link || s->ext_conn_id != id ||
          s->state != SessionState::kRelaying || ans.data.size() % 4 != 0) {
        ctx_.counters.dropped_responses.Add();
        SendCloseConn(l, link, id);
        return;
      }
      if (!clients_->CheckClientBuffers(p.slot, *s)) return;
      if (s->me_asked_s > 0)
        ctx_.counters.me_round_trip_seconds.Observe(ctx_.now_s - s->me_asked_s);
      s->me_asked_s = -1;  // only the first answer is a round trip
      if (clients_->QueueClientFrame(p.slot, *s, ans.data)) ctx_.counters.forwarded_responses.Add();
      return;
    }
    case kRpcSimpleAck: {
      RpcSimpleAck ack;
      if (!DecodeRpcSimpleAck(payload, &ack)) return;
      id = ack.ext_conn_id;
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == ctx_.index)
        s = ctx_.sessions.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->me_link != link || s->ext_conn_id != id ||
          s->state != SessionState::kRelaying) {
        ctx_.counters.dropped_simple_acks.Add();
        SendCloseConn(l, link, id);
        return;
      }
      if (!clients_->CheckClientBuffers(p.slot, *s)) return;
      uint8_t bytes[kMaxServerQuickAckBytes];
      size_t n = EncodeServerQuickAck(s->transport, ack.confirm, DrawQuickAckRandom(),
                                      std::span<uint8_t, kMaxServerQuickAckBytes>(bytes));
      if (clients_->QueueClientRaw(p.slot, *s, ByteSpan(bytes, n)))
        ctx_.counters.forwarded_simple_acks.Add();
      return;
    }
    case kRpcCloseExt: {
      if (!DecodeRpcClose(payload, kRpcCloseExt, &id)) return;
      ctx_.counters.close_ext_received.Add();
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == ctx_.index)
        s = ctx_.sessions.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->ext_conn_id != id) return;  // unknown: ignored
      UnbindSession(p.slot, *s, /*send_close_conn=*/false);
      if (s->state == SessionState::kRelaying &&
          (!s->client.out.empty() || s->client.send_inflight)) {
        // Deliver what the ME already answered, then close.
        clients_->Transition(*s, SessionState::kDraining);
        if (s->client.recv_armed)
          ctx_.engine->CancelOp(s->client.fd, ctx_.Tag(OpKind::kClientRecv, p.slot));
        ctx_.MarkDirty(p.slot, *s);
      } else {
        clients_->CloseSession(p.slot, *s, CloseReason::kCloseExt);
      }
      return;
    }
    default:
      MTP_LOG(2, "shard %u: ME link %u: ignoring message type %08x (%zu bytes)", ctx_.index, link,
              type, payload.size());
      return;
  }
}

void MePool::NoteClientPaused(const ClientSession& s) {
  MeLink* l = BoundLink(s);
  if (l != nullptr) ++l->paused_count;
}

}  // namespace mtp
