// What every part of one shard shares: the config, the clock, the IoEngine and its buffer
// chains, the session and ME link slabs, the counters, the live config snapshot, the loop's
// time and the dirty lists of the flush pass. ProxyShard owns it; the parts (ClientSessions,
// InputBudget, SessionGuard, DirectUpstream, MePool, TlsFront) hold a reference.
//
// Thread ownership: the shard thread, except `counters` (read by the control thread).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/io_engine.h"
#include "crypto/lean_ctr.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/me/me_link.h"
#include "dataplane/op_tag.h"
#include "dataplane/session/client_session.h"
#include "dataplane/session/secret_admission.h"
#include "dataplane/session_slab.h"
#include "dataplane/shard_counters.h"

namespace mtp {

struct ShardContext {
  // `budget_of` sizes the chains' budget from the config and the engine's pool. The live
  // config starts as the one the shard was created with.
  ShardContext(uint32_t index, const DataplaneConfig& config, const Clock& clock,
               std::unique_ptr<IoEngine> engine,
               uint32_t (*budget_of)(const DataplaneConfig&, BufferPool&), uint32_t max_sessions,
               uint32_t max_links)
      : index(index),
        config(config),
        clock(clock),
        engine(std::move(engine)),
        chains(this->engine->buffers(), budget_of(config, this->engine->buffers())),
        sessions(max_sessions),
        links(max_links) {
    auto first = std::make_shared<LiveConfig>();
    first->generation = config.config_generation;
    first->secrets = config.secrets;
    first->routing = config.routing;
    first->proxy_secret = config.proxy_secret;
    first->ip_access = config.ip_access;
    live = std::move(first);
    secret.board = config.secret_board;
    if (secret.board != nullptr) secret.mine = &secret.board->shard(index);
  }
  ShardContext(const ShardContext&) = delete;
  ShardContext& operator=(const ShardContext&) = delete;

  // Op tags name the slot and its generation, so a completion for a recycled slot is caught.
  uint64_t Tag(OpKind op, uint32_t slot) const {
    return PackOpTag(op, sessions.generation(slot), slot);
  }
  uint64_t LinkTag(OpKind op, uint32_t link) const {
    return PackOpTag(op, links.generation(link), link);
  }
  int64_t NowMs() const { return static_cast<int64_t>(now_s * 1000.0); }
  // Queues a session (link) for the flush pass at the end of the completion batch; each is
  // queued at most once (its dirty flag), so the lists are bounded by the slabs.
  void MarkDirty(uint32_t slot, ClientSession& s) {
    if (s.dirty) return;
    s.dirty = true;
    dirty_sessions.push_back(slot);
  }
  void MarkLinkDirty(uint32_t link, MeLink& l) {
    if (l.dirty) return;
    l.dirty = true;
    dirty_links.push_back(link);
  }

  const uint32_t index;
  const DataplaneConfig& config;
  const Clock& clock;
  std::unique_ptr<IoEngine> engine;
  BufferChains chains;
  // Round keys of the CTR streams in use (LeanAesCtr: the client streams, and direct mode's
  // DC-leg streams): 1024 two-way sets, 528 KB, fixed.
  CtrKeyCache ctr_keys;
  SessionSlab<ClientSession> sessions;
  SessionSlab<MeLink> links;
  ShardCounters counters;
  // Secrets, routing and proxy secret in force (replaced by reloads; ME links keep the one
  // they were created with alive).
  std::shared_ptr<const LiveConfig> live;
  SecretShardState secret;  // named secrets' limits (session/secret_admission_gate.h)
  ShardRateBudget* handshake_budget = nullptr;  // --max-dh-accept-rate; null = no limit
  double now_s = 0;                             // the loop's clock, read once per completion batch
  bool stopping = false;                        // RequestStop() seen: everything is closing
  std::vector<uint16_t> listener_ports;         // local port of each listener (by listener index)
  std::vector<uint32_t> dirty_sessions;
  std::vector<uint32_t> dirty_links;
  std::vector<uint8_t> scratch;  // linearises a payload straddling buffers (<= 1 MiB)
};

}  // namespace mtp
