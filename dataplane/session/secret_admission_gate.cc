// Admission of clients of secrets with limits, on the shard (see secret_admission.h).
#include "dataplane/session/secret_admission_gate.h"

#include <algorithm>

#include "core/log.h"
#include "dataplane/session/client_sessions.h"

namespace mtp {
namespace {

ShardCounter& RefusalCounter(ShardCounters& k, SecretRefusal reason) {
  switch (reason) {
    case SecretRefusal::kConnLimit:
      return k.client_secret_conn_limit;
    case SecretRefusal::kIpLimit:
      return k.client_secret_ip_limit;
    case SecretRefusal::kQuota:
      return k.client_secret_quota;
    case SecretRefusal::kExpired:
      return k.client_secret_expired;
    case SecretRefusal::kNone:
    case SecretRefusal::kDisabled:
      break;
  }
  return k.client_secret_disabled;
}

// One line per second per shard at most, with how many were not logged.
void LogRefusal(ShardContext& ctx, uint32_t slot, int secret_index, SecretRefusal reason,
                bool closing) {
  SecretShardState& st = ctx.secret;
  if (st.log_after_s > ctx.now_s) {
    ++st.unlogged;
    return;
  }
  st.log_after_s = ctx.now_s + 1.0;
  const std::string name =
      secret_index >= 0 && static_cast<size_t>(secret_index) < ctx.live->secret_names.size()
          ? ctx.live->secret_names[secret_index]
          : std::string("?");
  MTP_WARN("shard %u: client %u of secret '%s' %s: %s (%u more not logged)", ctx.index, slot, name,
           closing ? "closed" : "refused", SecretRefusalName(reason), st.unlogged);
  st.unlogged = 0;
}

}  // namespace

std::string_view SecretRefusalName(SecretRefusal reason) {
  switch (reason) {
    case SecretRefusal::kNone:
      return "none";
    case SecretRefusal::kConnLimit:
      return "secret_conn_limit";
    case SecretRefusal::kIpLimit:
      return "secret_ip_limit";
    case SecretRefusal::kQuota:
      return "secret_quota";
    case SecretRefusal::kExpired:
      return "secret_expired";
    case SecretRefusal::kDisabled:
      return "secret_disabled";
  }
  return "?";
}

bool TryTakeSecretConnection(SecretBoard::SharedSlot& slot, uint32_t cap) {
  uint32_t live = slot.live.load(std::memory_order_relaxed);
  do {
    if (cap != 0 && live >= cap) return false;
  } while (!slot.live.compare_exchange_weak(live, live + 1, std::memory_order_relaxed));
  return true;
}

SecretRefusal AdmitSecretClient(ShardContext& ctx, uint32_t slot, ClientSession& s,
                                int secret_index) {
  SecretShardState& st = ctx.secret;
  if (st.board == nullptr || st.admission == nullptr || secret_index < 0 ||
      static_cast<size_t>(secret_index) >= ctx.live->secret_slots.size() || s.limit_slot >= 0) {
    return SecretRefusal::kNone;
  }
  const int limit_slot = ctx.live->secret_slots[secret_index];
  if (limit_slot < 0) return SecretRefusal::kNone;
  const SecretSlotAdmission& a = st.admission->slots[limit_slot];
  SecretRefusal why = SecretRefusal::kNone;
  SecretBoard::SharedSlot& shared = st.board->slot(limit_slot);
  if (a.gate != SecretGate::kOpen) {
    why = a.reason;
  } else if (!TryTakeSecretConnection(shared, a.max_connections)) {
    why = SecretRefusal::kConnLimit;
  } else if (a.max_unique_ips != 0) {
    ClientIp ip = s.peer_ip;
    if (!s.peer_known) {
      absl::StatusOr<SocketAddress> peer = ctx.engine->PeerAddressOf(s.client.fd);
      if (peer.ok()) ip = peer->ipv6();
    }
    std::vector<SecretShardState::NewIp>& mine = st.new_ips[limit_slot];
    const bool known =
        std::binary_search(a.window_ips.begin(), a.window_ips.end(), ip) ||
        std::any_of(mine.begin(), mine.end(), [&](const auto& n) { return n.ip == ip; });
    if (!known) {
      if (a.window_ips.size() + mine.size() >= a.max_unique_ips) {
        why = SecretRefusal::kIpLimit;
        shared.live.fetch_sub(1, std::memory_order_relaxed);
      } else {
        mine.push_back({ip, st.adoptions});
      }
    }
    // Every admitted address refreshes its place in the window.
    if (why == SecretRefusal::kNone) {
      st.mine->ips.Push(IpEvent{static_cast<uint8_t>(limit_slot), ip});
    }
  }
  if (why != SecretRefusal::kNone) {
    RefusalCounter(ctx.counters, why).Add();
    LogRefusal(ctx, slot, secret_index, why, false);
    return why;
  }
  s.limit_slot = static_cast<int8_t>(limit_slot);
  return SecretRefusal::kNone;
}

void ReleaseSecretClient(ShardContext& ctx, ClientSession& s) {
  if (s.limit_slot < 0 || ctx.secret.board == nullptr) return;
  ctx.secret.board->slot(s.limit_slot).live.fetch_sub(1, std::memory_order_relaxed);
  s.limit_slot = -1;
}

bool AdoptSecretAdmission(ShardContext& ctx, ClientSessions& clients) {
  SecretShardState& st = ctx.secret;
  if (st.board == nullptr) return false;
  std::shared_ptr<const SecretAdmission> next = st.board->admission().Poll(&st.seen);
  if (next == nullptr) return false;
  st.admission = std::move(next);
  // Addresses the control thread has now seen are in the window; the others stay counted here
  // for one more snapshot (an address whose event the full ring dropped goes then).
  ++st.adoptions;
  for (size_t i = 0; i < kMaxLimitSlots; ++i) {
    const std::vector<ClientIp>& window = st.admission->slots[i].window_ips;
    std::erase_if(st.new_ips[i], [&](const SecretShardState::NewIp& n) {
      return n.added_at + 2 <= st.adoptions ||
             std::binary_search(window.begin(), window.end(), n.ip);
    });
  }
  st.board->admission().Ack(ctx.index, st.seen);
  bool any_closed = false;
  for (const SecretSlotAdmission& a : st.admission->slots) {
    any_closed = any_closed || a.gate == SecretGate::kCloseAll;
  }
  if (!any_closed) return true;
  ctx.sessions.ForEachLive([&](uint32_t slot, ClientSession& s) {
    if (s.limit_slot < 0 || s.state == SessionState::kClosing) return;
    const SecretSlotAdmission& a = st.admission->slots[s.limit_slot];
    if (a.gate != SecretGate::kCloseAll) return;
    RefusalCounter(ctx.counters, a.reason).Add();
    LogRefusal(ctx, slot, s.secret_index, a.reason, true);
    clients.CloseSession(slot, s, CloseReason::kSecretLimit);
  });
  return true;
}

}  // namespace mtp
