// MePool: targets, connects and handshakes, set-up timeouts, reconnect backoff, reloads and
// unreachable reports.
#include "dataplane/me/me_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "core/log.h"
#include "crypto/random.h"
#include "dataplane/session/client_sessions.h"
#include "dataplane/upstream_socks5.h"
#include "proto/framing.h"

namespace mtp {

namespace {

constexpr double kMeConnectTimeoutS = 3.0;    // TCP connect, then again for the handshake
constexpr double kUnreachableReportS = 60.0;  // one "still unreachable" line per interval
// Largest ME packet accepted: a client frame's maximum payload plus room for the RPC headers.
constexpr uint32_t kMaxMePacketBytes = kMaxFramePayloadBytes + (64u << 10);
// What an idle link keeps of its RpcLink buffers (the rest is freed at the tick).
constexpr size_t kLinkBufferKeepBytes = 64u << 10;

}  // namespace

MePool::MePool(ShardContext& ctx) : ctx_(ctx) {
  me_link_pause_bytes_ =
      std::min<uint64_t>(ctx.config.me_link_queue_cap_bytes,
                         uint64_t{ctx.chains.budget()} * ctx.chains.buffer_size() / 4);
  if (ctx.config.mode != UpstreamMode::kMiddleEnd) return;
  const auto& specs = ctx.live->routing.targets();
  targets_.resize(specs.size());
  for (size_t i = 0; i < targets_.size(); ++i) {
    targets_[i].address = specs[i].address;
    targets_[i].backoff = ReconnectBackoff(static_cast<double>(FastRandomBelow(1000)) / 1000.0);
  }
}

void MePool::AdoptRouting(const LiveConfig& next) {
  if (ctx_.config.mode != UpstreamMode::kMiddleEnd) return;
  // Carry every target that is still configured (same address) over with its links and
  // backoff; retire the others: links not yet ready go now, ready ones keep serving their
  // bound clients and are closed by Maintain once they have none.
  const auto& specs = next.routing.targets();
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
  ctx_.links.ForEachLive([&](uint32_t, MeLink& l) { l.target = remap[l.target]; });
  targets_ = std::move(next_targets);
  uint32_t retired_links = 0;
  for (size_t t = specs.size(); t < targets_.size(); ++t) {
    std::vector<uint32_t> links = targets_[t].links;  // FailMeLink edits the list
    for (uint32_t link : links) {
      MeLink& l = ctx_.links.at(link);
      if (l.state == MeLinkState::kConnecting || l.state == MeLinkState::kHandshake ||
          l.state == MeLinkState::kSocks5) {
        FailMeLink(link, l, "target removed by a reload");
      } else {
        ++retired_links;
      }
    }
  }
  MTP_LOG(1,
          "shard %u: configuration generation %llu: %zu ME targets, %u link(s) of removed "
          "targets draining",
          ctx_.index, static_cast<unsigned long long>(next.generation), specs.size(),
          retired_links);
}

void MePool::UpdateGauges() {
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
  ctx_.counters.me_targets_ready.Set(ready_targets);
  ctx_.counters.me_targets_retired.Set(retired_targets);
  ctx_.counters.me_links_retired.Set(retired_links);
  uint64_t link_buffer_bytes = 0;
  ctx_.links.ForEachLive([&](uint32_t, MeLink& l) {
    if (l.rpc) link_buffer_bytes += l.rpc->buffer_capacity();
  });
  ctx_.counters.me_link_buffer_bytes.Set(link_buffer_bytes);
}

void MePool::FailAll(const char* why) {
  ctx_.links.ForEachLive([&](uint32_t link, MeLink& l) {
    if (l.state != MeLinkState::kClosing) FailMeLink(link, l, why);
  });
}

void MePool::Maintain() {
  const auto& specs = ctx_.live->routing.targets();
  for (uint32_t t = 0; t < targets_.size(); ++t) {
    TargetState& ts = targets_[t];
    if (ts.retired) {
      // Removed by a reload: a link whose last client has gone (and whose output has been
      // written) closes; nothing reconnects.
      std::vector<uint32_t> links = ts.links;
      for (uint32_t link : links) {
        MeLink& l = ctx_.links.at(link);
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
      MeLink& l = ctx_.links.at(link);
      if ((l.state == MeLinkState::kConnecting || l.state == MeLinkState::kHandshake ||
           l.state == MeLinkState::kSocks5) &&
          ctx_.now_s > l.deadline_s) {
        if (l.leg.socks5.active()) NoteSocks5Failure(ctx_, l.leg, Socks5Error::kTimeout, "ME link");
        FailMeLink(link, l,
                   l.state == MeLinkState::kConnecting ? "connect timeout"
                   : l.state == MeLinkState::kSocks5   ? "SOCKS5 timeout"
                                                       : "handshake timeout");
        continue;  // FailMeLink removed it from ts.links
      }
      if (l.state == MeLinkState::kReady && l.leg.send_inflight &&
          ctx_.config.write_stall_timeout_ms > 0 &&
          ctx_.now_s - l.leg.send_started_s >= ctx_.config.write_stall_timeout_ms / 1000.0) {
        ctx_.counters.me_write_stalls.Add();
        FailMeLink(link, l, "write stall: the ME stopped reading");
        continue;
      }
      if (l.state == MeLinkState::kReady) {
        if (l.leg.recv_paused) {
          ctx_.MarkLinkDirty(link, l);  // the flush pass resumes it once the budget allows
        } else if (!l.dirty && !l.leg.send_inflight && l.leg.out.empty() &&
                   !l.rpc->HasPendingOutput() &&
                   ctx_.now_s - l.active_s >= ctx_.config.me_link_trim_idle_ms / 1000.0) {
          // A burst of large answers or requests grew its buffers; a quiet link gives them
          // back. Not a busy link caught idle at the tick: its next burst would allocate
          // again and fault in fresh pages (docs/performance.md, "Keeping a busy link's
          // buffers").
          if (l.rpc->Trim(kLinkBufferKeepBytes) > 0) ctx_.counters.me_link_trims.Add();
        }
      }
      ++i;
    }
    uint32_t want = LinksWanted(ts, specs[t]);
    if (ts.links.size() >= want) continue;
    bool connected = std::any_of(ts.links.begin(), ts.links.end(), [&](uint32_t link) {
      MeLinkState st = ctx_.links.at(link).state;
      return st == MeLinkState::kHandshake || st == MeLinkState::kReady;
    });
    if (!ts.backoff.MayConnect(ctx_.now_s, connected)) continue;
    if (!connected) ts.backoff.OnAttempt(ctx_.now_s, FastRandomBelow(1000) / 1000.0);
    while (ts.links.size() < want) {
      size_t before = ts.links.size();
      StartMeLink(t);
      if (ts.links.size() == before) break;  // socket or slab failure: retry next attempt
    }
  }
  UpdateFallback();
}

void MePool::StartMeLink(uint32_t target) {
  const MeTargetSpec& spec = ctx_.live->routing.targets()[target];
  // --upstream-socks5: the TCP connect goes to the SOCKS5 server (a CONNECT to the ME follows).
  const SocketAddress& peer =
      ctx_.config.upstream_socks5 ? ctx_.config.upstream_socks5->server : spec.address;
  OutboundOptions options;
  if (ctx_.config.outbound_bind && ctx_.config.outbound_bind->family() == peer.family()) {
    options.bind_address = ctx_.config.outbound_bind;
  }
  auto fd = ctx_.engine->OpenOutbound(peer.family(), options);
  if (!fd.ok()) {
    MTP_WARN("shard %u: cannot create a socket for ME %s: %s", ctx_.index, spec.address.ToString(),
             fd.status().message());
    return;
  }
  uint32_t link = ctx_.links.Allocate();
  if (link == SessionSlab<MeLink>::kInvalidSlot) {
    ctx_.engine->Close(*fd);
    return;
  }
  MeLink& l = ctx_.links.at(link);
  l.state = MeLinkState::kConnecting;
  l.target = target;
  l.live = ctx_.live;
  l.leg.fd = *fd;
  l.deadline_s = ctx_.now_s + kMeConnectTimeoutS;
  if (ctx_.config.upstream_socks5 && !QueueSocks5Requests(ctx_, l.leg, spec.address)) {
    ctx_.chains.Clear(l.leg.out);
    ctx_.engine->Close(l.leg.fd);
    l = MeLink{};
    ctx_.links.Free(link);
    return;
  }
  ctx_.engine->Connect(l.leg.fd, peer.sockaddr_ptr(), peer.length(),
                       ctx_.LinkTag(OpKind::kMeConnect, link));
  l.leg.BeginConnect();
  targets_[target].links.push_back(link);
  ctx_.counters.me_connects.Add();
  ctx_.counters.me_links.Add();
  MTP_LOG(1, "shard %u: connecting to ME %s (link %u)", ctx_.index, spec.address.ToString(), link);
}

void MePool::OnMeConnect(uint32_t link, MeLink& l, const IoCompletion& c) {
  l.leg.EndConnect();
  if (l.state != MeLinkState::kConnecting) return;
  const SocketAddress& target_address = targets_[l.target].address;
  if (c.result < 0) {
    MTP_LOG(1, "shard %u: connect to ME %s failed: %s", ctx_.index, target_address.ToString(),
            strerror(-c.result));
    if (l.leg.socks5.active()) NoteSocks5ConnectFailure(ctx_, -c.result, "ME link");
    FailMeLink(link, l, "connect failed");
    return;
  }
  if (l.leg.socks5.active()) {
    l.state = MeLinkState::kSocks5;
    l.deadline_s = ctx_.now_s + kMeConnectTimeoutS;
    BeginSocks5(ctx_, l.leg, ctx_.LinkTag(OpKind::kMeSend, link),
                ctx_.LinkTag(OpKind::kMeRecv, link));
    return;
  }
  auto local = ctx_.engine->LocalAddressOf(l.leg.fd);
  if (!local.ok()) {
    FailMeLink(link, l, "getsockname failed");
    return;
  }
  StartRpcHandshake(link, l, *local);
}

void MePool::OnMeSocks5Recv(uint32_t link, MeLink& l, const IoCompletion& c) {
  if (c.result > 0 && c.buffer_id >= 0) {
    const ByteSpan bytes(ctx_.engine->buffers().Data(c.buffer_id), static_cast<size_t>(c.result));
    const Socks5Progress p = OnSocks5Bytes(ctx_, l.leg, bytes, ctx_.LinkTag(OpKind::kMeSend, link),
                                           "ME link", &l.socks5_bound);
    ctx_.engine->buffers().Release(c.buffer_id);
    if (p == Socks5Progress::kFailed) {
      FailMeLink(link, l, "SOCKS5 exchange failed");
      return;
    }
    if (p == Socks5Progress::kDone) {
      OnMeSocks5Done(link, l);
      return;
    }
  } else if (c.result == 0 || (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED)) {
    NoteSocks5Failure(ctx_, l.leg, c.result == 0 ? Socks5Error::kClosed : Socks5Error::kIoError,
                      "ME link");
    FailMeLink(link, l, "SOCKS5 server closed the connection");
    return;
  }
  if (!c.more && l.state == MeLinkState::kSocks5) {
    l.leg.want_recv = true;  // the flush pass re-arms it
    ctx_.MarkLinkDirty(link, l);
  }
}

void MePool::OnMeSocks5Done(uint32_t link, MeLink& l) {
  // The ME derives its keys from the address it sees: the server's bound address when it
  // reports one; a server that sends 0.0.0.0:0 leaves only our own address, which works only
  // if the server's connections come from the same address and port (they do not: logged).
  SocketAddress self = l.socks5_bound;
  if (!self.valid() || self.port() == 0) {
    auto local = ctx_.engine->LocalAddressOf(l.leg.fd);
    if (!local.ok()) {
      FailMeLink(link, l, "getsockname failed");
      return;
    }
    MTP_LOG(0,
            "shard %u: ME link %u: the SOCKS5 server did not report its bound address; the "
            "middle-end will likely refuse the handshake (use a server that reports it)",
            ctx_.index, link);
    self = *local;
  }
  MTP_LOG(1, "shard %u: ME link %u: SOCKS5 CONNECT to %s done (bound %s)", ctx_.index, link,
          targets_[l.target].address.ToString(), self.ToString());
  StartRpcHandshake(link, l, self);
}

void MePool::StartRpcHandshake(uint32_t link, MeLink& l, const SocketAddress& local_address) {
  const SocketAddress& target_address = targets_[l.target].address;
  RpcLinkConfig rc;
  rc.role = RpcRole::kClient;
  rc.secret = ByteSpan(l.live->proxy_secret.data(), l.live->proxy_secret.size());
  SocketAddress me = target_address;
  SocketAddress self = local_address;
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
  rc.nat = &ctx_.config.nat;
  rc.own_pid = ctx_.config.own_pid;
  // Bounds of the link's own buffers: an ME packet larger than any client frame cannot be
  // delivered anyway, and clients stop being read once the link's output passes
  // me_link_pause_bytes_, so more output than that plus one frame is never needed.
  rc.max_packet_bytes = kMaxMePacketBytes;
  rc.max_output_bytes = me_link_pause_bytes_ + kMaxMePacketBytes;
  auto rpc = RpcLink::Create(rc);
  if (!rpc.ok()) {
    MTP_WARN("shard %u: ME link set-up failed: %s", ctx_.index, rpc.status().message());
    FailMeLink(link, l, "rpc link set-up failed");
    return;
  }
  l.rpc = std::move(*rpc);
  l.rpc->Start(ctx_.clock.UnixSeconds());
  l.state = MeLinkState::kHandshake;
  l.deadline_s = ctx_.now_s + kMeConnectTimeoutS;
  targets_[l.target].backoff.OnConnected();
  if (!l.leg.recv_armed) {  // (through SOCKS5 it is armed already)
    ctx_.engine->Recv(l.leg.fd, ctx_.LinkTag(OpKind::kMeRecv, link));
    l.leg.BeginRecv();
  }
  ctx_.MarkLinkDirty(link, l);  // sends RPC_NONCE
}

void MePool::OnMeReady(uint32_t link, MeLink& l) {
  if (l.state != MeLinkState::kHandshake) return;
  l.state = MeLinkState::kReady;
  NoteMeTargetReady(l.target);
  ++targets_[l.target].ready;
  ctx_.counters.me_links_ready.Add();
  MTP_LOG(1, "shard %u: ME link %u to %s ready (crc32c=%d)", ctx_.index, link,
          targets_[l.target].address.ToString(), l.rpc->crc() == RpcCrc::kCrc32c ? 1 : 0);
}

void MePool::FailMeLink(uint32_t link, MeLink& l, const char* why) {
  if (l.state == MeLinkState::kClosing || l.state == MeLinkState::kFree) return;
  TargetState& ts = targets_[l.target];
  MTP_LOG(l.state == MeLinkState::kReady ? 0 : 1, "shard %u: ME link %u to %s closed: %s",
          ctx_.index, link, targets_[l.target].address.ToString(), why);
  if (l.state == MeLinkState::kReady) {
    --ts.ready;
    ctx_.counters.me_links_ready.Sub();
    ctx_.counters.me_link_closed.Add();
  } else {
    ctx_.counters.me_connect_failures.Add();
    if (!ctx_.stopping) NoteMeTargetFailure(l.target, why);
  }
  std::erase(ts.links, link);
  l.state = MeLinkState::kClosing;
  // Every client bound to this link is closed: its stream would otherwise have a hole.
  while (l.bound_head != kNoSlot) {
    uint32_t slot = l.bound_head;
    ctx_.counters.client_me_link_lost.Add();
    clients_->CloseSession(slot, ctx_.sessions.at(slot), CloseReason::kMeLinkLost);
  }
  if (l.leg.inflight > 0) ctx_.engine->CancelAll(l.leg.fd);
  ctx_.MarkLinkDirty(link, l);  // freed by the flush pass once nothing is in flight
}

void MePool::MeLinkOpDone(uint32_t link, MeLink& l) {
  if (l.state != MeLinkState::kClosing || l.leg.inflight != 0) return;
  if (l.leg.fd >= 0) ctx_.engine->Close(l.leg.fd);
  ctx_.chains.Clear(l.leg.out);
  l = MeLink{};
  ctx_.links.Free(link);
  ctx_.counters.me_links.Sub();
}

void MePool::NoteMeTargetFailure(uint32_t target, const char* why) {
  TargetState& ts = targets_[target];
  if (ts.ready > 0 || ts.retired) return;  // other links serve it: not unreachable
  ++ts.failures_since_report;
  if (!ts.down) {
    ts.down = true;
    ts.down_since_s = ctx_.now_s;
    ts.next_report_s = ctx_.now_s + kUnreachableReportS;
    ts.failures_since_report = 0;
    ctx_.counters.me_unreachable_reports.Add();
    MTP_WARN("shard %u: middle-end %s unreachable (%s); retrying with backoff, %s", ctx_.index,
             ts.address.ToString(), why,
             ctx_.config.direct_fallback_after_ms > 0
                 ? "its DCs' new clients go direct if no middle-end of theirs comes back in "
                   "time (--direct-fallback-after)"
                 : "its clients are closed after the handshake timeout");
    return;
  }
  if (ctx_.now_s >= ts.next_report_s) {
    ctx_.counters.me_unreachable_reports.Add();
    MTP_WARN(
        "shard %u: middle-end %s still unreachable after %.0f s (%u failed attempt(s) "
        "since the last report, last: %s)",
        ctx_.index, ts.address.ToString(), ctx_.now_s - ts.down_since_s, ts.failures_since_report,
        why);
    ts.next_report_s = ctx_.now_s + kUnreachableReportS;
    ts.failures_since_report = 0;
  }
}

void MePool::NoteMeTargetReady(uint32_t target) {
  TargetState& ts = targets_[target];
  if (!ts.down) return;
  ts.down = false;
  MTP_WARN("shard %u: middle-end %s reachable again after %.1f s", ctx_.index,
           ts.address.ToString(), ctx_.now_s - ts.down_since_s);
}

}  // namespace mtp
