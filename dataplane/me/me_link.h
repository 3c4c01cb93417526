// State of one pooled TCP-RPC connection from this shard to a middle-end: its socket, the
// sans-IO RpcLink (handshake, CBC, CRC, ping), the ciphertext send queue and the list of
// client sessions bound to it. Plain data owned by a ProxyShard slab slot.
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/buffer_chain.h"
#include "dataplane/live_config.h"
#include "dataplane/session/client_session.h"
#include "dataplane/session/leg.h"
#include "proto/rpc_link.h"

namespace mtp {

enum class MeLinkState : uint8_t {
  kFree,
  kConnecting,  // TCP connect in flight (3 s)
  kHandshake,   // nonce + handshake exchange (3 s)
  kReady,       // carries client traffic
  kClosing,     // ops cancelled, waiting for in-flight ops to reach zero
  // --upstream-socks5: TCP-connected to the SOCKS5 server, its exchange (a CONNECT to the ME)
  // in progress (3 s; dataplane/upstream_socks5.h); then kHandshake. Added last: states are
  // recorded by number (shard audit).
  kSocks5,
};

struct MeLink {
  MeLinkState state = MeLinkState::kFree;
  uint32_t target = 0;
  UpstreamLeg leg;  // the TCP connection to the ME; leg.out holds ciphertext queued to it
  bool dirty = false;
  double deadline_s = 0;  // connect / handshake timeout (monotonic seconds)
  double active_s = 0;    // last send or receive completion (monotonic seconds): buffer trim
  // --upstream-socks5: the server's bound address from its CONNECT reply (what the ME sees,
  // used for the key derivation when the server reports it).
  SocketAddress socks5_bound;

  std::unique_ptr<RpcLink> rpc;
  // The LiveConfig the link was created under: its RpcLink points into proxy_secret.
  std::shared_ptr<const LiveConfig> live;
  ByteSpan sealed;        // FlushDirtyLinks: output sealed by RpcLink::BeginFlush, not yet queued
  uint32_t promised = 0;  // budget buffers set aside for `sealed` (BufferChains::PromiseBytes)

  uint32_t bound_head = kNoSlot;  // client sessions bound to this link (intrusive list)
  uint32_t bound_count = 0;
  uint32_t paused_count = 0;  // bound clients whose recv is paused by this link's queue
};

}  // namespace mtp
