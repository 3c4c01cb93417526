// Gathered sends of a leg's queue: one send carries up to kLegSendSegments buffers from the
// front of Leg::out (one sendmsg) instead of one 16-KiB buffer per send, so a queue of several
// buffers costs one submission and one completion. Used by the client leg
// (ClientSessions::FlushSession), the DC leg (DirectUpstream::Flush) and ME links
// (MePool::SendMeLink); their completions consume whatever count the kernel took, which may end
// inside any buffer (BufferChains::Consume).
//
// Thread ownership: the owning shard thread only.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>

#include "core/io_engine.h"
#include "dataplane/session/leg.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

// Buffers per send (chosen by measurement: docs/performance.md, "Whole-queue sends") and a
// byte cap that keeps one send within what a loopback/TCP socket takes in one call.
inline constexpr int kLegSendSegments = 8;
inline constexpr uint32_t kLegSendMaxBytes = 256 * 1024;
static_assert(kLegSendSegments <= kMaxSendSegments);

// Submits the next send of `leg` (no send may be in flight): up to kLegSendSegments buffers and
// min(max_bytes, kLegSendMaxBytes) bytes of leg.out. Records send_len and send_started_s (the
// write-stall guard times the send from here, as before). False if there was nothing to send.
inline bool SubmitLegSend(ShardContext& ctx, Leg& leg, uint64_t tag,
                          uint32_t max_bytes = kLegSendMaxBytes) {
  iovec iov[kLegSendSegments];
  const BufferChains::Gathered g =
      ctx.chains.GatherFront(leg.out, iov, std::min(max_bytes, kLegSendMaxBytes));
  if (g.bytes == 0) return false;
  if (g.count == 1) {
    ctx.engine->Send(leg.fd, static_cast<const uint8_t*>(iov[0].iov_base), g.bytes, tag);
  } else {
    ctx.engine->SendV(leg.fd, iov, g.count, tag);
  }
  leg.send_len = g.bytes;
  leg.send_started_s = ctx.now_s;
  leg.BeginSend();
  return true;
}

}  // namespace mtp
