// Upstream chaining through a SOCKS5 server (--upstream-socks5): the steps an
// upstream leg (a DC leg in direct mode, an ME link) runs between its TCP
// connect to the SOCKS5 server and its own first bytes. The requests (greeting,
// user/pass, CONNECT) are queued at the front of Leg::out when the dial starts,
// before anything the leg queues for its real peer, and are sent one at a time
// (a send never goes past the current request: servers such as microsocks read
// one request per receive); each reply is read by the leg's Socks5ReplyReader
// straight from the receive buffers. The leg's owner (DirectUpstream, MePool)
// keeps its own state machine and calls these from its completions; once the
// phase is kDone nothing here runs again, so a connected leg pays nothing per
// packet.
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>

#include "core/bytes.h"
#include "core/socket_address.h"
#include "dataplane/session/leg.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

enum class Socks5Progress : uint8_t {
  kPending,  // waiting for a send or a reply
  kDone,     // the CONNECT reply said yes: the leg now talks to `target`
  kFailed,   // counted and logged; the owner closes the leg
};

// Where the dial failed (the counter's stage label): the TCP connect to the
// server, or one of the three round trips.
enum class Socks5FailStage : uint8_t { kTcpConnect, kMethod, kAuth, kConnect };
std::string_view Socks5FailStageName(Socks5FailStage stage);

// Queues the requests for a CONNECT to `target` at the end of leg.out (which
// must be empty) and sets the leg's phase to kMethod. False if the pool ran dry
// (nothing counted: the owner handles it as any other buffer shortage).
bool QueueSocks5Requests(ShardContext& ctx, UpstreamLeg& leg, const SocketAddress& target);

// The TCP connect to the server completed: arms the leg's receive (`recv_tag`)
// unless armed, and sends the greeting (`send_tag`).
void BeginSocks5(ShardContext& ctx, UpstreamLeg& leg, uint64_t send_tag, uint64_t recv_tag);

// A send completion (`sent` > 0 bytes) while leg.socks5.active(): consumes them
// from leg.out and sends the rest of the request, or the next one once its
// reply is in.
Socks5Progress OnSocks5Sent(ShardContext& ctx, UpstreamLeg& leg, uint32_t sent, uint64_t send_tag);

// Received bytes while leg.socks5.active() (the caller releases the buffer). On
// kDone, `bound` (if given) gets the server's bound address from the CONNECT
// reply (invalid when the server reported a domain name).
Socks5Progress OnSocks5Bytes(ShardContext& ctx, UpstreamLeg& leg, ByteSpan bytes, uint64_t send_tag,
                             const char* what, SocketAddress* bound);

// Counts a failure of this leg's dial (stage from its phase, or kTcpConnect)
// and logs it (every one at -v, a summary at most every 10 s per shard at level
// 0). `what` names the leg
// ("DC 2", "ME 1.2.3.4:8888") for the log.
void NoteSocks5Failure(ShardContext& ctx, const UpstreamLeg& leg, Socks5Error error,
                       const char* what, uint8_t reply_code = 0);
void NoteSocks5ConnectFailure(ShardContext& ctx, int err, const char* what);

}  // namespace mtp
