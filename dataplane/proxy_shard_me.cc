// ProxyShard, ME mode: the per-shard pool of TCP-RPC links to each middle-end target
// (connect, handshake via RpcLink, timeouts, reconnect backoff), binding clients to links,
// RPC_PROXY_REQ out, and RPC_PROXY_ANS / RPC_SIMPLE_ACK / RPC_CLOSE_EXT back to clients.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/check.h"
#include "core/log.h"
#include "core/socket_util.h"
#include "crypto/random.h"
#include "dataplane/ext_conn_id.h"
#include "proto/framing.h"
#include "proto/mtproto_filter.h"
#include "dataplane/proxy_shard.h"
#include "proto/rpc_messages.h"

namespace mtp {
namespace {

constexpr double kMeConnectTimeoutS = 3.0;    // TCP connect, then again for the handshake
constexpr int kTargetPicks = 5;               // §8.2: random target picks per bind
// Largest ME packet accepted: a client frame's maximum payload plus room for the RPC headers.
constexpr uint32_t kMaxMePacketBytes = kMaxFramePayloadBytes + (64u << 10);

class LinkVisitor final : public RpcLinkVisitor {
 public:
  LinkVisitor(ProxyShard* shard, uint32_t link,
              void (ProxyShard::*on_ready)(uint32_t, MeLink&),
              void (ProxyShard::*on_message)(uint32_t, MeLink&, uint32_t, ByteSpan), MeLink* l)
      : shard_(shard), link_(link), on_ready_(on_ready), on_message_(on_message), l_(l) {}
  void OnRpcLinkReady(RpcLink&, const RpcHandshake&) override { (shard_->*on_ready_)(link_, *l_); }
  void OnRpcMessage(RpcLink&, uint32_t type, ByteSpan payload) override {
    (shard_->*on_message_)(link_, *l_, type, payload);
  }

 private:
  ProxyShard* shard_;
  uint32_t link_;
  void (ProxyShard::*on_ready_)(uint32_t, MeLink&);
  void (ProxyShard::*on_message_)(uint32_t, MeLink&, uint32_t, ByteSpan);
  MeLink* l_;
};

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

void ProxyShard::MarkLinkDirty(uint32_t link, MeLink& l) {
  if (l.dirty) return;
  l.dirty = true;
  dirty_links_.push_back(link);
}

MeLink* ProxyShard::BoundLink(const ClientSession& s) {
  if (!s.bound) return nullptr;
  return links_.Lookup(s.me_link, s.me_link_generation);
}

// ---- pool maintenance ---------------------------------------------------------------------

void ProxyShard::MaintainMePool() {
  const auto& specs = live_->routing.targets();
  for (uint32_t t = 0; t < targets_.size(); ++t) {
    TargetState& ts = targets_[t];
    if (ts.retired) {
      // Removed by a reload: a link whose last client has gone (and whose output has been
      // written) closes; nothing reconnects.
      std::vector<uint32_t> links = ts.links;
      for (uint32_t link : links) {
        MeLink& l = links_.at(link);
        if (l.state == MeLinkState::kReady && l.bound_count == 0 && l.leg.out.empty() &&
            !l.leg.send_inflight) {
          FailMeLink(link, l, "target removed by a reload, its clients are gone");
        }
      }
      continue;
    }
    // Set-up timeouts (the reference's check_ready: 3 s for connect, 3 s for the handshake).
    for (size_t i = 0; i < ts.links.size();) {
      uint32_t link = ts.links[i];
      MeLink& l = links_.at(link);
      if ((l.state == MeLinkState::kConnecting || l.state == MeLinkState::kHandshake) &&
          now_s_ > l.deadline_s) {
        FailMeLink(link, l, l.state == MeLinkState::kConnecting ? "connect timeout"
                                                                  : "handshake timeout");
        continue;  // FailMeLink removed it from ts.links
      }
      if (l.state == MeLinkState::kReady && l.leg.send_inflight && config_.write_stall_timeout_ms > 0 &&
          now_s_ - l.leg.send_started_s >= config_.write_stall_timeout_ms / 1000.0) {
        counters_.me_write_stalls.Add();
        FailMeLink(link, l, "write stall: the ME stopped reading");
        continue;
      }
      ++i;
    }
    uint32_t want = std::min(specs[t].min_connections, specs[t].max_connections);
    if (ts.links.size() >= want) continue;
    bool connected = std::any_of(ts.links.begin(), ts.links.end(), [&](uint32_t link) {
      MeLinkState st = links_.at(link).state;
      return st == MeLinkState::kHandshake || st == MeLinkState::kReady;
    });
    if (!ts.backoff.MayConnect(now_s_, connected)) continue;
    if (!connected) ts.backoff.OnAttempt(now_s_, FastRandomBelow(1000) / 1000.0);
    while (ts.links.size() < want) {
      size_t before = ts.links.size();
      StartMeLink(t);
      if (ts.links.size() == before) break;  // socket or slab failure: retry next attempt
    }
  }
}

void ProxyShard::StartMeLink(uint32_t target) {
  const MeTargetSpec& spec = live_->routing.targets()[target];
  OutboundOptions options;
  if (config_.outbound_bind && config_.outbound_bind->family() == spec.address.family()) {
    options.bind_address = config_.outbound_bind;
  }
  auto fd = engine_->OpenOutbound(spec.address.family(), options);
  if (!fd.ok()) {
    MTP_WARN("shard %u: cannot create a socket for ME %s: %s", index_, spec.address.ToString(),
             fd.status().message());
    return;
  }
  uint32_t link = links_.Allocate();
  if (link == SessionSlab<MeLink>::kInvalidSlot) {
    engine_->Close(*fd);
    return;
  }
  MeLink& l = links_.at(link);
  l.state = MeLinkState::kConnecting;
  l.target = target;
  l.live = live_;
  l.leg.fd = *fd;
  l.deadline_s = now_s_ + kMeConnectTimeoutS;
  engine_->Connect(l.leg.fd, spec.address.sockaddr_ptr(), spec.address.length(),
                   LinkTag(OpKind::kMeConnect, link));
  l.leg.BeginConnect();
  targets_[target].links.push_back(link);
  counters_.me_connects.Add();
  counters_.me_links.Add();
  MTP_LOG(1, "shard %u: connecting to ME %s (link %u)", index_, spec.address.ToString(), link);
}

void ProxyShard::OnMeConnect(uint32_t link, MeLink& l, const IoCompletion& c) {
  l.leg.EndConnect();
  if (l.state != MeLinkState::kConnecting) return;
  const SocketAddress& target_address = targets_[l.target].address;
  if (c.result < 0) {
    MTP_LOG(1, "shard %u: connect to ME %s failed: %s", index_, target_address.ToString(),
            strerror(-c.result));
    FailMeLink(link, l, "connect failed");
    return;
  }
  auto local = engine_->LocalAddressOf(l.leg.fd);
  if (!local.ok()) {
    FailMeLink(link, l, "getsockname failed");
    return;
  }
  RpcLinkConfig rc;
  rc.role = RpcRole::kClient;
  rc.secret = ByteSpan(l.live->proxy_secret.data(), l.live->proxy_secret.size());
  SocketAddress me = target_address;
  SocketAddress self = *local;
  if (me.is_v4_mapped()) me = me.Unmapped();
  if (self.is_v4_mapped()) self = self.Unmapped();
  rc.addresses.ipv6 = me.is_v6();
  if (me.is_v6()) {
    rc.addresses.client_ipv6 = self.ipv6();
    rc.addresses.server_ipv6 = me.ipv6();
  } else {
    rc.addresses.client_ipv4 = self.ipv4();
    rc.addresses.server_ipv4 = me.ipv4();
  }
  rc.addresses.client_port = self.port();
  rc.addresses.server_port = me.port();
  rc.nat = &config_.nat;
  rc.own_pid = config_.own_pid;
  // Bounds of the link's own buffers: an ME packet larger than any client frame cannot be
  // delivered anyway, and clients stop being read once the link's output passes
  // me_link_pause_bytes_, so more output than that plus one frame is never needed.
  rc.max_packet_bytes = kMaxMePacketBytes;
  rc.max_output_bytes = me_link_pause_bytes_ + kMaxMePacketBytes;
  auto rpc = RpcLink::Create(rc);
  if (!rpc.ok()) {
    MTP_WARN("shard %u: ME link set-up failed: %s", index_, rpc.status().message());
    FailMeLink(link, l, "rpc link set-up failed");
    return;
  }
  l.rpc = std::move(*rpc);
  l.rpc->Start(clock_.UnixSeconds());
  l.state = MeLinkState::kHandshake;
  l.deadline_s = now_s_ + kMeConnectTimeoutS;
  targets_[l.target].backoff.OnConnected();
  engine_->Recv(l.leg.fd, LinkTag(OpKind::kMeRecv, link));
  l.leg.BeginRecv();
  MarkLinkDirty(link, l);  // sends RPC_NONCE
}

void ProxyShard::OnMeReady(uint32_t link, MeLink& l) {
  if (l.state != MeLinkState::kHandshake) return;
  l.state = MeLinkState::kReady;
  NoteMeTargetReady(l.target);
  ++targets_[l.target].ready;
  counters_.me_links_ready.Add();
  MTP_LOG(1, "shard %u: ME link %u to %s ready (crc32c=%d)", index_, link,
          targets_[l.target].address.ToString(),
          l.rpc->crc() == RpcCrc::kCrc32c ? 1 : 0);
}

void ProxyShard::OnMeRecv(uint32_t link, MeLink& l, const IoCompletion& c) {
  if (!c.more) l.leg.EndRecv();
  if (c.result > 0 && c.buffer_id >= 0) {
    if (l.state == MeLinkState::kClosing) {
      engine_->buffers().Release(c.buffer_id);
      return;
    }
    counters_.me_bytes_in.Add(static_cast<uint32_t>(c.result));
    LinkVisitor visitor(this, link, &ProxyShard::OnMeReady, &ProxyShard::OnMeMessage, &l);
    RpcError e = l.rpc->Feed(
        ByteSpan(engine_->buffers().Data(c.buffer_id), static_cast<size_t>(c.result)), visitor);
    engine_->buffers().Release(c.buffer_id);
    if (l.rpc->HasPendingOutput()) MarkLinkDirty(link, l);
    if (e != RpcError::kOk) {
      MTP_WARN("shard %u: ME link %u: protocol error %s", index_, link, RpcErrorName(e));
      FailMeLink(link, l, "protocol error");
      return;
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
    MarkLinkDirty(link, l);
  }
}

void ProxyShard::OnMeSend(uint32_t link, MeLink& l, const IoCompletion& c) {
  l.leg.EndSend();
  if (l.state == MeLinkState::kClosing) return;
  if (c.result < 0) {
    FailMeLink(link, l, "send error");
    return;
  }
  counters_.me_bytes_out.Add(static_cast<uint32_t>(c.result));
  chains_.Consume(l.leg.out, static_cast<uint32_t>(c.result));
  if (l.paused_count > 0 &&
      l.leg.out.bytes + l.rpc->PendingOutputBytes() <= me_link_pause_bytes_ / 2) {
    ResumePausedClients(l);
  }
  MarkLinkDirty(link, l);
}

void ProxyShard::SealMeLink(uint32_t link, MeLink& l, std::vector<AesCbc::Job>& jobs) {
  l.sealed = {};
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  if (l.leg.want_recv && !l.leg.recv_armed) {
    if (engine_->buffers().recv_available() > 0) {
      l.leg.want_recv = false;
      engine_->Recv(l.leg.fd, LinkTag(OpKind::kMeRecv, link));
      l.leg.BeginRecv();
    } else {
      MarkLinkDirty(link, l);
    }
  }
  if (l.rpc && l.rpc->HasPendingOutput()) {
    size_t pending = l.rpc->PendingOutputBytes();
    // A link with nothing queued may go over the budget (while the pool can back it): its
    // clients are paused on it, and the buffers that would have to come back may be held by
    // those same clients, so waiting could be forever. The overshoot is bounded by the
    // link's pause point plus one batch of frames; the next receive sheds unserved input to
    // bring the shard back under its budget.
    const bool idle = l.leg.out.empty() && !l.leg.send_inflight;
    if (idle && !chains_.CanTake(pending)) {
      // MakeRoomForLinks shed unserved input for this link before any link was sealed (shedding
      // here would queue RPC_CLOSE_CONN on links already sealed in this pass).
      if (!chains_.PoolCanSupply(pending)) {
        // The output can never be queued (a pool far too small for one batch of frames): the
        // link goes, counted, rather than wait forever.
        counters_.me_flush_failures.Add();
        FailMeLink(link, l, "pending output larger than the buffer pool can hold");
        return;
      }
    }
    if (!chains_.CanTake(pending) && !(idle && chains_.PoolCanSupply(pending))) {
      MarkLinkDirty(link, l);  // wait for buffers to come back; clients are paused meanwhile
    } else {
      // Promised now: the other links sealed in this pass see it, so together they cannot
      // overshoot the budget and leave ciphertext with nowhere to go.
      MTP_VERIFY(l.promised == 0, "ME link sealed twice in one pass");
      l.promised = chains_.PromiseBytes(pending);
      AesCbc::Job job;
      l.sealed = l.rpc->BeginFlush(&job);
      if (job.n > 0) jobs.push_back(job);
    }
  }
}

void ProxyShard::MakeRoomForLinks(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t link = dirty_links_[i];
    if (!links_.is_live(link)) continue;
    MeLink& l = links_.at(link);
    if (!l.dirty || !l.rpc || l.state == MeLinkState::kClosing) continue;
    if (!l.leg.out.empty() || l.leg.send_inflight) continue;
    // Unserved input (partial frames, hellos) may be held by the very clients paused on this
    // idle link: shed it, oldest first, until the pool can back the link's output. A shed
    // client's RPC_CLOSE_CONN joins the pending output, hence the re-read.
    while (!chains_.CanTake(l.rpc->PendingOutputBytes()) &&
           !chains_.PoolCanSupply(l.rpc->PendingOutputBytes()) &&
           ShedOldest(Charge::kQueue) != HolderLedger::kNone) {
    }
  }
}

void ProxyShard::SendMeLink(uint32_t link, MeLink& l) {
  chains_.KeepPromise(l.promised);
  l.promised = 0;
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  if (!l.sealed.empty()) {
    // The CBC state has advanced over these bytes: losing any would corrupt the stream for
    // every client on the link. If they cannot all be queued, the link goes (counted), never
    // a silent hole.
    const bool queued = chains_.AppendCopy(l.leg.out, l.sealed);
    l.sealed = {};
    if (!queued) {
      counters_.me_flush_failures.Add();
      FailMeLink(link, l, "no buffer for sealed output");
      return;
    }
  }
  if (!l.leg.send_inflight && !l.leg.out.empty()) {
    ByteSpan front = chains_.Front(l.leg.out);
    if (front.empty()) return;
    l.leg.send_len = static_cast<uint32_t>(front.size());
    engine_->Send(l.leg.fd, front.data(), l.leg.send_len, LinkTag(OpKind::kMeSend, link));
    l.leg.send_started_s = now_s_;
    l.leg.BeginSend();
  }
}

void ProxyShard::FailMeLink(uint32_t link, MeLink& l, const char* why) {
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  TargetState& ts = targets_[l.target];
  MTP_LOG(l.state == MeLinkState::kReady ? 0 : 1, "shard %u: ME link %u to %s closed: %s",
          index_, link, targets_[l.target].address.ToString(), why);
  if (l.state == MeLinkState::kReady) {
    --ts.ready;
    counters_.me_links_ready.Sub();
    counters_.me_link_closed.Add();
  } else {
    counters_.me_connect_failures.Add();
    if (!stopping_) NoteMeTargetFailure(l.target, why);
  }
  std::erase(ts.links, link);
  l.state = MeLinkState::kClosing;
  // Every client bound to this link is closed: its stream would otherwise have a hole.
  while (l.bound_head != kNoSlot) {
    uint32_t slot = l.bound_head;
    counters_.client_me_link_lost.Add();
    CloseSession(slot, sessions_.at(slot), CloseReason::kMeLinkLost);
  }
  if (l.leg.inflight > 0) engine_->CancelAll(l.leg.fd);
  MarkLinkDirty(link, l);  // freed by the flush pass once nothing is in flight
}

void ProxyShard::MeLinkOpDone(uint32_t link, MeLink& l) {
  if (l.state != MeLinkState::kClosing || l.leg.inflight != 0) return;
  if (l.leg.fd >= 0) engine_->Close(l.leg.fd);
  chains_.Clear(l.leg.out);
  l = MeLink{};
  links_.Free(link);
  counters_.me_links.Sub();
}

// ---- binding and forwarding ---------------------------------------------------------------

bool ProxyShard::BindSession(uint32_t slot, ClientSession& s) {
  const MeClusterSpec* cluster = live_->routing.ClusterFor(s.dc_id);
  if (cluster == nullptr || cluster->targets.empty()) return false;
  uint32_t chosen = kNoSlot;
  for (int attempt = 0; attempt < kTargetPicks && chosen == kNoSlot; ++attempt) {
    uint32_t t = cluster->targets[FastRandomBelow(static_cast<uint32_t>(cluster->targets.size()))];
    TargetState& ts = targets_[t];
    if (ts.ready == 0) continue;
    uint32_t k = FastRandomBelow(ts.ready);
    for (uint32_t link : ts.links) {
      if (links_.at(link).state != MeLinkState::kReady) continue;
      if (k-- == 0) {
        chosen = link;
        break;
      }
    }
  }
  // The reference's five extra picks within the last target cannot change the outcome here:
  // nothing becomes ready while this shard is choosing.
  if (chosen == kNoSlot) return false;

  auto peer = engine_->PeerAddressOf(s.client.fd);
  auto local = engine_->LocalAddressOf(s.client.fd);
  if (peer.ok()) {
    s.peer_ip = peer->ipv6();
    s.peer_port = peer->port();
  }
  if (local.ok()) {
    SocketAddress self = local->is_v4_mapped() ? local->Unmapped() : *local;
    s.local_ip = self.is_v4() ? Ipv4MappedIpv6(config_.nat.Translate(self.ipv4())) : self.ipv6();
    s.local_port = self.port();
  } else {
    s.local_port = listener_ports_[s.listener];
  }
  MeLink& l = links_.at(chosen);
  s.bound = true;
  s.me_link = chosen;
  s.me_link_generation = links_.generation(chosen);
  s.ext_conn_id = MakeExtConnId(index_, sessions_.generation(slot), slot);
  s.link_prev = kNoSlot;
  s.link_next = l.bound_head;
  if (l.bound_head != kNoSlot) sessions_.at(l.bound_head).link_prev = slot;
  l.bound_head = slot;
  ++l.bound_count;
  counters_.ext_connections.Add();
  counters_.ext_connections_created.Add();
  return true;
}

void ProxyShard::UnbindSession(uint32_t /*slot*/, ClientSession& s, bool send_close_conn) {
  MeLink* l = BoundLink(s);
  if (l != nullptr) {
    if (s.link_prev != kNoSlot) {
      sessions_.at(s.link_prev).link_next = s.link_next;
    } else {
      l->bound_head = s.link_next;
    }
    if (s.link_next != kNoSlot) sessions_.at(s.link_next).link_prev = s.link_prev;
    --l->bound_count;
    if (s.client.recv_paused && l->paused_count > 0) --l->paused_count;
    if (send_close_conn) SendCloseConn(*l, s.me_link, s.ext_conn_id);
  }
  s.bound = false;
  s.link_prev = s.link_next = kNoSlot;
  counters_.ext_connections.Sub();
}

void ProxyShard::SendCloseConn(MeLink& l, uint32_t link, uint64_t ext_conn_id) {
  if (l.state != MeLinkState::kReady) return;
  uint8_t msg[kRpcCloseBytes];
  EncodeRpcClose(kRpcCloseConn, ext_conn_id, msg);
  if (l.rpc->SendMessage(msg) == RpcError::kOk) counters_.close_conn_sent.Add();
  MarkLinkDirty(link, l);
}

bool ProxyShard::ForwardToMe(uint32_t slot, ClientSession& s, ByteSpan payload, bool quick_ack,
                             uint32_t extra_flags) {
  if (!s.bound) {
    if (!BindSession(slot, s)) {
      // §8.3: drop, and remember it so the stream is not resumed with a hole. The client is
      // closed if no ME turns up within the handshake timeout (proxy_shard_guard.cc).
      counters_.dropped_queries.Add();
      if (!s.dropped && config_.handshake_timeout_ms > 0) {
        s.serve_deadline_s = now_s_ + config_.handshake_timeout_ms / 1000.0;
      }
      s.dropped = true;
      return true;
    }
    if (s.dropped) {
      CloseSession(slot, s, CloseReason::kNoMeAfterDrop);
      return false;
    }
  }
  MeLink* l = BoundLink(s);
  if (l == nullptr || l->state != MeLinkState::kReady) {
    counters_.client_me_link_lost.Add();
    CloseSession(slot, s, CloseReason::kMeLinkLost);
    return false;
  }
  RpcProxyReqHeader h;
  bool has_tag = config_.ad_tag.has_value();
  h.flags = MakeRpcProxyReqFlags(FramingOf(s.transport), has_tag,
                                 (extra_flags & kProxyReqFlagUnencrypted) != 0, quick_ack);
  h.ext_conn_id = s.ext_conn_id;
  h.client_ip = s.peer_ip;
  h.client_port = s.peer_port;
  h.proxy_ip = s.local_ip;
  h.proxy_port = s.local_port;
  if (has_tag) h.ad_tag = ByteSpan(config_.ad_tag->data(), config_.ad_tag->size());
  size_t header_bytes = RpcProxyReqHeaderSize(h.flags, h.ad_tag.size());
  MutableByteSpan msg = l->rpc->BeginMessage(header_bytes + payload.size());
  if (msg.empty()) {
    counters_.dropped_queries.Add();  // the link's output bound: treat like no ME
    return true;
  }
  EncodeRpcProxyReqHeader(h, msg);
  std::memcpy(msg.data() + header_bytes, payload.data(), payload.size());
  l->rpc->CommitMessage();
  counters_.forwarded_queries.Add();
  if (s.me_asked_s == 0) s.me_asked_s = now_s_;  // the first request: round trip starts
  MarkLinkDirty(s.me_link, *l);
  // Sealed and unsealed output both count: when the shard's budget is short the unsealed part
  // is what grows, and past RpcLink's bound frames would be dropped.
  if (l->leg.out.bytes + l->rpc->PendingOutputBytes() > me_link_pause_bytes_) {
    PauseClientRecv(slot, s);
  }
  return true;
}

void ProxyShard::ResumePausedClients(MeLink& l) {
  for (uint32_t slot = l.bound_head; slot != kNoSlot && l.paused_count > 0;) {
    ClientSession& s = sessions_.at(slot);
    uint32_t next = s.link_next;
    if (s.client.recv_paused) {
      s.client.recv_paused = false;
      --l.paused_count;
      s.client.want_recv = true;
      MarkDirty(slot, s);
    }
    slot = next;
  }
}

// ---- messages from the ME ------------------------------------------------------------------

void ProxyShard::OnMeMessage(uint32_t link, MeLink& l, uint32_t type, ByteSpan payload) {
  uint64_t id = 0;
  switch (type) {
    case kRpcProxyAns: {
      RpcProxyAns ans;
      if (!DecodeRpcProxyAns(payload, &ans)) return;  // < 16 bytes: ignored (§7.6)
      id = ans.ext_conn_id;
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == index_) s = sessions_.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->me_link != link || s->ext_conn_id != id ||
          s->state != SessionState::kRelaying || ans.data.size() % 4 != 0) {
        counters_.dropped_responses.Add();
        SendCloseConn(l, link, id);
        return;
      }
      if (!CheckClientBuffers(p.slot, *s)) return;
      if (s->me_asked_s > 0) counters_.me_round_trip_seconds.Observe(now_s_ - s->me_asked_s);
      s->me_asked_s = -1;  // only the first answer is a round trip
      if (QueueClientFrame(p.slot, *s, ans.data)) counters_.forwarded_responses.Add();
      return;
    }
    case kRpcSimpleAck: {
      RpcSimpleAck ack;
      if (!DecodeRpcSimpleAck(payload, &ack)) return;
      id = ack.ext_conn_id;
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == index_) s = sessions_.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->me_link != link || s->ext_conn_id != id ||
          s->state != SessionState::kRelaying) {
        counters_.dropped_simple_acks.Add();
        SendCloseConn(l, link, id);
        return;
      }
      if (!CheckClientBuffers(p.slot, *s)) return;
      uint8_t bytes[kMaxServerQuickAckBytes];
      size_t n = EncodeServerQuickAck(s->transport, ack.confirm, DrawQuickAckRandom(),
                                      std::span<uint8_t, kMaxServerQuickAckBytes>(bytes));
      if (QueueClientRaw(p.slot, *s, ByteSpan(bytes, n))) counters_.forwarded_simple_acks.Add();
      return;
    }
    case kRpcCloseExt: {
      if (!DecodeRpcClose(payload, kRpcCloseExt, &id)) return;
      counters_.close_ext_received.Add();
      ExtConnIdParts p;
      ClientSession* s = nullptr;
      if (ParseExtConnId(id, &p) && p.shard == index_) s = sessions_.Lookup(p.slot, p.generation);
      if (s == nullptr || !s->bound || s->ext_conn_id != id) return;  // unknown: ignored
      UnbindSession(p.slot, *s, /*send_close_conn=*/false);
      if (s->state == SessionState::kRelaying && (!s->client.out.empty() || s->client.send_inflight)) {
        // Deliver what the ME already answered, then close.
        Transition(*s, SessionState::kDraining);
        if (s->client.recv_armed) engine_->CancelOp(s->client.fd, Tag(OpKind::kClientRecv, p.slot));
        MarkDirty(p.slot, *s);
      } else {
        CloseSession(p.slot, *s, CloseReason::kCloseExt);
      }
      return;
    }
    default:
      MTP_LOG(2, "shard %u: ME link %u: ignoring message type %08x (%zu bytes)", index_, link,
              type, payload.size());
      return;
  }
}

}  // namespace mtp
