// ProxyShard::Audit: recounts, from the session and link slabs, the buffers every chain holds,
// the ops every owner has in flight and the ME bindings, and compares them with the shard's
// own running totals. Read-only and cold (it walks every slot); the simulator calls it after
// every step, tests may call it between RunOnce() calls.
#include <cstdint>

#include "absl/strings/str_format.h"
#include "dataplane/shard/proxy_shard.h"

namespace mtp {

ShardAudit ProxyShard::Audit() const {
  ShardAudit a;
  a.chains_held = ctx_.chains.held();
  a.pool_in_use = ctx_.engine->buffers().in_use();
  a.budget = ctx_.chains.budget();
  const uint32_t unit = ctx_.chains.buffer_size();
  auto problem = [&a](const std::string& what) {
    if (!a.problems.empty()) a.problems += "; ";
    a.problems += what;
  };
  // A chain's byte count must fit the buffers it links, and an empty chain holds none.
  auto count_chain = [&](const BufferChain& chain, const char* owner, uint32_t slot,
                         const char* name) {
    const uint32_t n = ctx_.chains.CountBuffers(chain);
    a.chain_buffers += n;
    if ((n == 0) != chain.empty() || uint64_t{chain.bytes} > uint64_t{n} * unit) {
      problem(absl::StrFormat("%s %u: chain %s has %u bytes in %u buffers (head %d tail %d)", owner,
                              slot, name, chain.bytes, n, chain.head, chain.tail));
    }
  };

  uint32_t bound_sessions = 0;
  // A session without an upstream leg (ME mode) reads as one that is idle: no fd, no ops,
  // nothing queued.
  const UpstreamLeg no_up;
  for (uint32_t slot = 0; slot < ctx_.sessions.constructed(); ++slot) {
    if (!ctx_.sessions.is_live(slot)) continue;
    const ClientSession& s = ctx_.sessions.at(slot);
    ++a.sessions;
    const uint32_t flags = (s.client.recv_armed ? 1u : 0u) | (s.client.send_inflight ? 2u : 0u) |
                           (s.client.recv_paused ? 4u : 0u) | (s.out_paused ? 8u : 0u) |
                           (s.client.want_recv ? 16u : 0u) | (s.dirty ? 32u : 0u) |
                           (s.bound ? 64u : 0u) | (s.dropped ? 128u : 0u);
    const UpstreamLeg& up = s.up != nullptr ? *s.up : no_up;
    a.owners.push_back({'s', slot, static_cast<uint8_t>(s.state), s.client.fd, up.fd,
                        s.inflight(), flags, s.in.bytes + s.client.out.bytes + up.out.bytes});
    if (s.state == SessionState::kFree) problem(absl::StrFormat("session %u: live but free", slot));
    if (s.client.fd < 0) problem(absl::StrFormat("session %u: no client fd", slot));
    const uint32_t flagged = uint32_t{s.client.recv_armed} + s.client.send_inflight +
                             up.recv_armed + up.send_inflight + up.connecting;
    if (flagged != s.inflight()) {
      problem(absl::StrFormat(
          "session %u (%s): inflight %u but recv %d send %d up_recv %d up_send %d connect %d", slot,
          SessionStateName(s.state), s.inflight(), s.client.recv_armed, s.client.send_inflight,
          up.recv_armed, up.send_inflight, up.connecting));
    }
    if ((up.recv_armed || up.send_inflight || up.connecting) && up.fd < 0) {
      problem(absl::StrFormat("session %u: upstream ops without an upstream fd", slot));
    }
    count_chain(s.in, "session", slot, "in");
    count_chain(s.client.out, "session", slot, "out");
    count_chain(up.out, "session", slot, "up_out");
    if (s.bound) ++bound_sessions;
  }

  uint32_t listed_bound = 0;
  for (uint32_t link = 0; link < ctx_.links.constructed(); ++link) {
    if (!ctx_.links.is_live(link)) continue;
    const MeLink& l = ctx_.links.at(link);
    ++a.links;
    const uint32_t flags = (l.leg.recv_armed ? 1u : 0u) | (l.leg.send_inflight ? 2u : 0u) |
                           (l.leg.want_recv ? 16u : 0u);
    const uint32_t pending = l.rpc ? static_cast<uint32_t>(l.rpc->PendingOutputBytes()) : 0;
    a.owners.push_back({'l', link, static_cast<uint8_t>(l.state), l.leg.fd, -1, l.leg.inflight,
                        flags, l.leg.out.bytes + pending});
    if (l.state == MeLinkState::kFree) problem(absl::StrFormat("link %u: live but free", link));
    const uint32_t flagged = uint32_t{l.leg.recv_armed} + l.leg.send_inflight;
    // A connect in flight has no flag of its own: at most one op beyond the flagged ones.
    if (l.leg.inflight < flagged || l.leg.inflight > flagged + 1 ||
        (l.leg.inflight == flagged + 1 && l.state != MeLinkState::kConnecting &&
         l.state != MeLinkState::kClosing)) {
      problem(absl::StrFormat("link %u (state %d): inflight %u but recv %d send %d", link,
                              static_cast<int>(l.state), l.leg.inflight, l.leg.recv_armed,
                              l.leg.send_inflight));
    }
    count_chain(l.leg.out, "link", link, "out");
    uint32_t walked = 0;
    for (uint32_t slot = l.bound_head; slot != kNoSlot && walked <= ctx_.sessions.capacity();
         slot = ctx_.sessions.at(slot).link_next) {
      ++walked;
      if (!ctx_.sessions.is_live(slot)) {
        problem(absl::StrFormat("link %u: bound list names free session %u", link, slot));
        break;
      }
      const ClientSession& s = ctx_.sessions.at(slot);
      if (!s.bound || s.me_link != link || s.me_link_generation != ctx_.links.generation(link)) {
        problem(
            absl::StrFormat("link %u: bound list names session %u bound elsewhere", link, slot));
      }
    }
    listed_bound += walked;
    if (walked != l.bound_count) {
      problem(absl::StrFormat("link %u: bound_count %u but %u on its list", link, l.bound_count,
                              walked));
    }
    if (l.paused_count > l.bound_count) {
      problem(absl::StrFormat("link %u: paused_count %u > bound_count %u", link, l.paused_count,
                              l.bound_count));
    }
  }
  if (listed_bound != bound_sessions) {
    problem(
        absl::StrFormat("%u bound session(s) but %u on link lists", bound_sessions, listed_bound));
  }

  for (uint32_t i = 0; i < listener_fds_.size(); ++i) {
    if (listener_fds_[i] < 0) continue;
    a.owners.push_back({'L', i, 0, listener_fds_[i], -1, accept_armed_[i] ? 1u : 0u, 0, 0});
  }

  if (a.chain_buffers != a.chains_held) {
    problem(absl::StrFormat("chains hold %u buffer(s) but BufferChains::held() says %u",
                            a.chain_buffers, a.chains_held));
  }
  if (a.pool_in_use != a.chains_held) {
    problem(absl::StrFormat("pool has %u buffer(s) in use but the chains hold %u", a.pool_in_use,
                            a.chains_held));
  }
  return a;
}

}  // namespace mtp
