// ProxyShard, direct mode (beyond the reference): each client gets its own obfuscated2
// connection to its DC. Bytes are relayed without reframing: client CTR is removed and the DC
// leg's CTR applied in place in the received buffer, which then moves to the other queue.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/socket_util.h"
#include "proto/obfuscated2.h"
#include "dataplane/proxy_shard.h"

namespace mtp {

void ProxyShard::StartDirectUpstream(uint32_t slot, ClientSession& s) {
  std::optional<SocketAddress> dc = config_.dc_table.Lookup(s.dc_id, /*prefer_ipv6=*/false);
  if (!dc) {
    CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  auto hs = BuildObfuscated2ClientHeader(nullptr, s.transport, s.dc_id);
  if (!hs.ok()) {
    counters_.handshake_crypto_failed.Add();
    CloseSession(slot, s, CloseReason::kCryptoFailure);
    return;
  }
  s.up_encrypt = std::move(hs->encrypt);
  s.up_decrypt = std::move(hs->decrypt);
  OutboundOptions options;
  if (config_.outbound_bind && config_.outbound_bind->family() == dc->family()) {
    options.bind_address = config_.outbound_bind;
  }
  auto fd = engine_->OpenOutbound(dc->family(), options);
  if (!fd.ok()) {
    counters_.dc_connect_failures.Add();
    CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  s.up.fd = *fd;
  if (!chains_.AppendCopy(s.up.out, hs->header)) {
    counters_.client_failed_no_buffers.Add();
    CloseSession(slot, s, CloseReason::kNoBuffers);
    return;
  }
  // Bytes the client sent right after its header: re-encrypt for the DC and queue them.
  if (!s.in.empty()) {
    bool ok = true;
    chains_.ForEachSegment(s.in, 0, s.in.bytes, [&](MutableByteSpan seg) {
      s.up_encrypt.Apply(seg);
      ok = ok && chains_.AppendCopy(s.up.out, seg);
    });
    chains_.Clear(s.in);
    if (!ok) {
      counters_.client_failed_no_buffers.Add();
      CloseSession(slot, s, CloseReason::kNoBuffers);
      return;
    }
  }
  engine_->Connect(s.up.fd, dc->sockaddr_ptr(), dc->length(),
                   Tag(OpKind::kUpstreamConnect, slot));
  s.up.BeginConnect();
  counters_.dc_connects.Add();
}

void ProxyShard::OnUpstreamConnect(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  s.up.EndConnect();
  if (s.state != SessionState::kConnecting) return;
  if (c.result < 0 && s.fronting) {
    FrontFailed(slot, s, strerror(-c.result));
    return;
  }
  if (c.result < 0) {
    counters_.dc_connect_failures.Add();
    MTP_LOG(1, "shard %u: client %u: DC connect failed: %s", index_, slot,
            strerror(-c.result));
    CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  Transition(s, SessionState::kRelaying);
  ArmUpstreamRecv(slot, s);
  MarkDirty(slot, s);
}

void ProxyShard::ArmUpstreamRecv(uint32_t slot, ClientSession& s) {
  if (s.up.recv_armed) return;
  engine_->Recv(s.up.fd, Tag(OpKind::kUpstreamRecv, slot));
  s.up.BeginRecv();
}

void ProxyShard::OnUpstreamRecv(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  if (!c.more) s.up.EndRecv();
  if (c.result > 0 && c.buffer_id >= 0) {
    if (s.state != SessionState::kRelaying) {
      engine_->buffers().Release(c.buffer_id);
      return;
    }
    uint32_t n = static_cast<uint32_t>(c.result);
    uint8_t* data = engine_->buffers().Data(c.buffer_id);
    if (s.fronting) {  // -D: the real site's bytes go to the client untouched
      counters_.tls_front_bytes_in.Add(n);
    } else {
      counters_.dc_bytes_in.Add(n);
      s.up_decrypt.Apply(data, data, n);
      s.encrypt.Apply(data, data, n);
    }
    chains_.AppendBuffer(s.client.out, c.buffer_id, n);
    if (uint64_t{s.client.out.bytes} > config_.client_buffer_cap_bytes) {
      counters_.client_failed_flood.Add();
      CloseSession(slot, s, CloseReason::kFlood);
      return;
    }
    if (s.client.out.bytes > config_.queue_cap_bytes && !s.up.recv_paused) {
      s.up.recv_paused = true;
      counters_.recv_paused.Add();
      if (s.up.recv_armed) engine_->CancelOp(s.up.fd, Tag(OpKind::kUpstreamRecv, slot));
    }
    MarkDirty(slot, s);
  } else if (c.result == 0) {
    // The DC closed: deliver what it sent, then close the client.
    if (s.state == SessionState::kRelaying) {
      Transition(s, SessionState::kDraining);
      if (s.client.recv_armed) engine_->CancelOp(s.client.fd, Tag(OpKind::kClientRecv, slot));
      MarkDirty(slot, s);
    }
    return;
  } else if (c.result < 0 && c.result != -ENOBUFS && c.result != -ECANCELED) {
    CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  if (!c.more && !s.up.recv_paused && s.state == SessionState::kRelaying) {
    s.up.want_recv = true;
    MarkDirty(slot, s);
  }
}

void ProxyShard::OnUpstreamSend(uint32_t slot, ClientSession& s, const IoCompletion& c) {
  s.up.EndSend();
  if (s.state == SessionState::kClosing) return;
  if (c.result < 0) {
    CloseSession(slot, s, CloseReason::kUpstreamError);
    return;
  }
  (s.fronting ? counters_.tls_front_bytes_out : counters_.dc_bytes_out)
      .Add(static_cast<uint32_t>(c.result));
  chains_.Consume(s.up.out, static_cast<uint32_t>(c.result));
  if (s.client.recv_paused && s.up.out.bytes <= config_.queue_cap_bytes / 2) {
    s.client.recv_paused = false;
    s.client.want_recv = true;
  }
  MarkDirty(slot, s);
}

}  // namespace mtp
