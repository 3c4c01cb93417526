// MePool: a shard's TCP-RPC links to the middle-end targets of the live config. Connects and
// handshakes (RpcLink), set-up timeouts, reconnect backoff and unreachable reports
// (me_pool.cc); receives, sends and the flush pass that seals every dirty link's output in one
// CBC batch (me_link_io.cc); binding clients to links, RPC_PROXY_REQ out, and RPC_PROXY_ANS /
// RPC_SIMPLE_ACK / RPC_CLOSE_EXT back to clients (me_binding.cc).
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/io_engine.h"
#include "crypto/aes.h"
#include "dataplane/me/reconnect_backoff.h"
#include "dataplane/session/frame_outcome.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

class ClientSessions;
class InputBudget;

class MePool {
 public:
  explicit MePool(ShardContext& ctx);
  void Connect(ClientSessions& clients, InputBudget& budget) {
    clients_ = &clients;
    budget_ = &budget;
  }

  // A reload: targets still configured (same address) keep their links and backoff; removed
  // ones retire (links not yet ready go now, ready ones serve their bound clients until none
  // is left). Runs before ctx.live is replaced by `next`.
  void AdoptRouting(const LiveConfig& next);
  // From the tick: set-up timeouts, write stalls, reconnects, retired links; gauges.
  void Maintain();
  void UpdateGauges();
  // --direct-fallback-after (me_fallback.cc): should a new client of `dc_id` go to its DC
  // directly, because every middle-end of its cluster has been unreachable long enough? The
  // tick (UpdateFallback, from Maintain) decides per DC and logs and counts each switch.
  bool FallsBackToDc(int32_t dc_id) const;
  void UpdateFallback();
  // Shutdown: every link fails (its clients are already closing).
  void FailAll(const char* why);

  // Completions of a link's socket; then LinkOpDone frees a closed link once idle.
  void OnMeConnect(uint32_t link, MeLink& l, const IoCompletion& c);
  void OnMeRecv(uint32_t link, MeLink& l, const IoCompletion& c);
  void OnMeSend(uint32_t link, MeLink& l, const IoCompletion& c);
  void MeLinkOpDone(uint32_t link, MeLink& l);
  // The flush pass over dirty links: seal each one's pending output, encrypt all of them in
  // one AesCbc::ProcessBatch (the CBC chains of several links advance together), then queue
  // and send.
  void Flush();

  // Sends one filtered client payload as RPC_PROXY_REQ (binding first if needed). kHeld: the
  // link's output is at its bound, nothing was sent, and the caller keeps the frame and stops
  // reading the client until the link drains (ResumePausedClients); kClosed: the session was
  // closed.
  FrameOutcome ForwardToMe(uint32_t slot, ClientSession& s, ByteSpan payload, bool quick_ack,
                           uint32_t extra_flags);
  // A closing session leaves its link (RPC_CLOSE_CONN unless the ME closed it).
  void UnbindSession(uint32_t slot, ClientSession& s, bool send_close_conn);
  // A bound client stopped being read (its link's paused clients resume together).
  void NoteClientPaused(const ClientSession& s);

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

  void StartMeLink(uint32_t target);
  // Connected to the ME (directly, or through the SOCKS5 server whose bound address is
  // `self` then): the RpcLink starts its nonce/handshake exchange.
  void StartRpcHandshake(uint32_t link, MeLink& l, const SocketAddress& self);
  // --upstream-socks5: a receive during the exchange; the exchange done.
  void OnMeSocks5Recv(uint32_t link, MeLink& l, const IoCompletion& c);
  void OnMeSocks5Done(uint32_t link, MeLink& l);
  void OnMeReady(uint32_t link, MeLink& l);
  void OnMeMessage(uint32_t link, MeLink& l, uint32_t type, ByteSpan payload);
  void FailMeLink(uint32_t link, MeLink& l, const char* why);
  // ME target reachability reports (rate-limited; per attempt only at verbosity 1).
  void NoteMeTargetFailure(uint32_t target, const char* why);
  void NoteMeTargetReady(uint32_t target);
  // A link's flush in two halves around the CBC batch: SealMeLink re-arms the receive and
  // seals the pending output (its encryption added to `jobs`); SendMeLink queues the
  // ciphertext and starts the send.
  void SealMeLink(uint32_t link, MeLink& l, std::vector<AesCbc::Job>& jobs);
  void SendMeLink(uint32_t link, MeLink& l);
  // Before a flush pass seals anything: sheds unserved input so idle links' output fits the
  // pool (shedding queues RPC_CLOSE_CONN, which must not land on an already sealed link).
  void MakeRoomForLinks(size_t n);
  // How many links the shard keeps to a target: min_connections, plus one more whenever every
  // link is ready and carries at least kClientsPerLinkToGrow clients, up to max_connections and
  // AesCbc::BatchLanes() (more links than lanes cannot run side by side).
  uint32_t LinksWanted(const TargetState& ts, const MeTargetSpec& spec) const;
  // The ready link of `ts` a new client binds to (fewest clients, then least queued output);
  // kNoSlot if none is ready.
  uint32_t LeastLoadedLink(const TargetState& ts) const;
  // Binds the session to a ready link of its DC's cluster; false if none (§8.2).
  bool BindSession(uint32_t slot, ClientSession& s);
  MeLink* BoundLink(const ClientSession& s);
  void SendCloseConn(MeLink& l, uint32_t link, uint64_t ext_conn_id);
  void ResumePausedClients(MeLink& l);
  // The shard's buffer budget is exhausted: a link's receive pauses (and stays paused).
  bool BudgetSpent() const;

  ShardContext& ctx_;
  ClientSessions* clients_ = nullptr;
  InputBudget* budget_ = nullptr;
  std::vector<TargetState> targets_;
  // A link's queue above which its clients' reads pause: me_link_queue_cap_bytes, or a
  // quarter of the shard's buffer budget if that is smaller.
  uint64_t me_link_pause_bytes_ = 0;
  std::vector<AesCbc::Job> link_jobs_;  // Flush: CBC work of one pass
  // DC ids (of clusters) whose new clients go direct now; a handful at most.
  std::vector<int32_t> fallback_dcs_;
};

}  // namespace mtp
