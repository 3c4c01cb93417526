// Fake ME link loop: blocking reads, RpcLink (server role) for the protocol, echo logic here.
#include "tools/fake_me_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/hex.h"
#include "core/log.h"
#include "proto/rpc_link.h"
#include "proto/rpc_messages.h"
#include "tools/echo_payload.h"
#include "tools/epoll_loop.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

constexpr size_t kReadChunkBytes = 256 * 1024;
constexpr int64_t kSendTimeoutMs = 30'000;
constexpr int64_t kPollSliceMs = 100;
constexpr size_t kMaxPendingOutputBytes = 16u << 20;
// --flood-*: the payload of one unsolicited answer, and how much of them we queue at a time.
constexpr size_t kFloodAnswerBytes = 64 * 1024;
constexpr size_t kFloodQueueBytes = 1u << 20;

std::string Ipv4String(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::string PidJson(const ProcessId& pid) {
  return JsonLine()
      .Add("ip", Ipv4String(pid.ip))
      .Add("port", uint64_t{pid.port})
      .Add("pid", uint64_t{pid.pid})
      .Add("utime", int64_t{pid.utime})
      .str();
}

class EchoVisitor : public RpcLinkVisitor {
 public:
  EchoVisitor(uint64_t link_id, const FakeMeOptions& options, FakeMeStats& stats, EventLog& log,
              const SocketAddress& peer, const SocketAddress& local)
      : link_id_(link_id), options_(options), stats_(stats), log_(log), peer_(peer),
        local_(local) {}

  void OnRpcLinkReady(RpcLink& link, const RpcHandshake& peer) override {
    stats_.links_ready.fetch_add(1, std::memory_order_relaxed);
    MTP_LOG(1, "link %d ready: peer %s pid %d crc %s", link_id_, peer_.ToString(),
            peer.sender_pid.pid, link.crc() == RpcCrc::kCrc32c ? "crc32c" : "crc32");
    log_.Write(JsonLine()
                   .Add("event", "link")
                   .Add("link", link_id_)
                   .Add("peer", peer_.ToString())
                   .Add("local", local_.ToString())
                   .AddRaw("peer_pid", PidJson(peer.sender_pid))
                   .AddRaw("peer_sees_us", PidJson(peer.peer_pid))
                   .Add("flags", absl::StrFormat("0x%x", peer.flags))
                   .Add("crc", link.crc() == RpcCrc::kCrc32c ? "crc32c" : "crc32"));
  }

  void OnRpcMessage(RpcLink& link, uint32_t type, ByteSpan payload) override {
    switch (type) {
      case kRpcProxyReq:
        OnProxyReq(link, payload);
        return;
      case kRpcCloseConn: {
        uint64_t id = 0;
        if (!DecodeRpcClose(payload, kRpcCloseConn, &id)) break;
        stats_.close_conn_received.fetch_add(1, std::memory_order_relaxed);
        per_conn_.erase(id);
        floods_.erase(id);
        log_.Write(JsonLine()
                       .Add("event", "close_conn")
                       .Add("link", link_id_)
                       .Add("ext_conn_id", absl::StrFormat("0x%x", id)));
        return;
      }
      case kRpcPong:
        stats_.pongs_received.fetch_add(1, std::memory_order_relaxed);
        return;
      default:
        break;
    }
    stats_.unknown_messages.fetch_add(1, std::memory_order_relaxed);
    log_.Write(JsonLine()
                   .Add("event", "unknown")
                   .Add("link", link_id_)
                   .Add("type", absl::StrFormat("0x%08x", type))
                   .Add("len", uint64_t{payload.size()}));
  }

  bool drop_requested() const { return drop_; }
  uint64_t link_requests() const { return link_requests_; }

  bool flood_pending() const { return !floods_.empty(); }
  // Queues unsolicited answers for the flooded connections until about `max_bytes` are queued.
  void QueueFlood(RpcLink& link, size_t max_bytes) {
    size_t queued = 0;
    while (!floods_.empty() && queued < max_bytes) {
      auto it = floods_.begin();
      MutableByteSpan out = link.BeginMessage(kRpcProxyAnsHeaderBytes + kFloodAnswerBytes);
      if (out.empty()) return;
      EncodeRpcProxyAnsHeader(0, it->first, out);
      uint8_t* payload = out.data() + kRpcProxyAnsHeaderBytes;
      std::memset(payload, 0x5a, kFloodAnswerBytes);
      payload[0] = 0x42;  // auth_key_id != 0: a client sees an (unverifiable) encrypted answer
      link.CommitMessage();
      stats_.flood_answers.fetch_add(1, std::memory_order_relaxed);
      queued += kFloodAnswerBytes;
      if (it->second <= kFloodAnswerBytes) {
        floods_.erase(it);
      } else {
        it->second -= kFloodAnswerBytes;
      }
    }
  }

 private:
  void OnProxyReq(RpcLink& link, ByteSpan payload) {
    RpcProxyReqView req;
    if (!DecodeRpcProxyReq(payload, &req)) {
      stats_.bad_requests.fetch_add(1, std::memory_order_relaxed);
      log_.Write(JsonLine()
                     .Add("event", "bad_req")
                     .Add("link", link_id_)
                     .Add("len", uint64_t{payload.size()}));
      return;
    }
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    stats_.request_bytes.fetch_add(req.data.size(), std::memory_order_relaxed);
    ++link_requests_;
    uint64_t& count = per_conn_[req.ext_conn_id];
    ++count;
    if (options_.log_requests && log_.enabled()) {
      log_.Write(JsonLine()
                     .Add("event", "req")
                     .Add("link", link_id_)
                     .Add("flags", absl::StrFormat("0x%08x", req.flags))
                     .Add("ext_conn_id", absl::StrFormat("0x%x", req.ext_conn_id))
                     .Add("client", FormatIpv6Endpoint(req.client_ip, req.client_port))
                     .Add("proxy", FormatIpv6Endpoint(req.proxy_ip, req.proxy_port))
                     .Add("ad_tag", req.ad_tag.empty() ? std::string("none")
                                                       : HexEncode(req.ad_tag))
                     .Add("len", uint64_t{req.data.size()})
                     .Add("n", count));
    }
    if ((req.flags & kRpcReqFlagQuickAck) != 0) {
      uint8_t ack[kRpcSimpleAckBytes];
      EncodeRpcSimpleAck({req.ext_conn_id, EchoQuickAckToken(req.data)}, ack);
      if (link.SendMessage(ack) == RpcError::kOk) {
        stats_.simple_acks.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // The echo: the client's frame back as one RPC_PROXY_ANS (the data is a multiple of 4 for
    // every frame the proxy forwards).
    size_t data_bytes = req.data.size();
    size_t padded = (data_bytes + 3) & ~size_t{3};
    MutableByteSpan out = link.BeginMessage(kRpcProxyAnsHeaderBytes + padded);
    if (out.empty()) {
      MTP_WARN("link %d: cannot queue an answer of %d bytes: %s", link_id_, data_bytes,
               RpcErrorName(link.last_output_error()));
      return;
    }
    EncodeRpcProxyAnsHeader(0, req.ext_conn_id, out);
    std::memcpy(out.data() + kRpcProxyAnsHeaderBytes, req.data.data(), data_bytes);
    std::memset(out.data() + kRpcProxyAnsHeaderBytes + data_bytes, 0, padded - data_bytes);
    link.CommitMessage();
    stats_.answers.fetch_add(1, std::memory_order_relaxed);

    if (options_.flood_on_size != 0 && options_.flood_bytes != 0 &&
        req.data.size() == options_.flood_on_size) {
      floods_[req.ext_conn_id] += options_.flood_bytes;
    }
    if (options_.close_ext_after != 0 && count == options_.close_ext_after) {
      uint8_t close[kRpcCloseBytes];
      EncodeRpcClose(kRpcCloseExt, req.ext_conn_id, close);
      if (link.SendMessage(close) == RpcError::kOk) {
        stats_.close_ext_sent.fetch_add(1, std::memory_order_relaxed);
        log_.Write(JsonLine()
                       .Add("event", "close_ext")
                       .Add("link", link_id_)
                       .Add("ext_conn_id", absl::StrFormat("0x%x", req.ext_conn_id)));
      }
      per_conn_.erase(req.ext_conn_id);
    }
    if (options_.drop_link_after != 0 && link_requests_ == options_.drop_link_after) {
      drop_ = true;
    }
  }

  const uint64_t link_id_;
  const FakeMeOptions& options_;
  FakeMeStats& stats_;
  EventLog& log_;
  const SocketAddress& peer_;
  const SocketAddress& local_;
  absl::flat_hash_map<uint64_t, uint64_t> per_conn_;
  absl::flat_hash_map<uint64_t, uint64_t> floods_;  // ext_conn_id -> flood bytes still to send
  uint64_t link_requests_ = 0;
  bool drop_ = false;
};

}  // namespace

std::string FormatIpv6Endpoint(const std::array<uint8_t, 16>& ip, uint32_t port) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(ip.data(), kMapped, 12) == 0) {
    inet_ntop(AF_INET, ip.data() + 12, buf, sizeof(buf));
    return absl::StrCat(buf, ":", port);
  }
  inet_ntop(AF_INET6, ip.data(), buf, sizeof(buf));
  return absl::StrCat("[", buf, "]:", port);
}

JsonLine FakeMeStats::ToJson() const {
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return JsonLine()
      .Add("links_accepted", v(links_accepted))
      .Add("links_ready", v(links_ready))
      .Add("links_failed", v(links_failed))
      .Add("links_dropped", v(links_dropped))
      .Add("links_open", v(links_open))
      .Add("requests", v(requests))
      .Add("request_bytes", v(request_bytes))
      .Add("answers", v(answers))
      .Add("simple_acks", v(simple_acks))
      .Add("close_ext_sent", v(close_ext_sent))
      .Add("close_conn_received", v(close_conn_received))
      .Add("pongs_received", v(pongs_received))
      .Add("unknown_messages", v(unknown_messages))
      .Add("bad_requests", v(bad_requests))
      .Add("links_stopped_reading", v(links_stopped_reading))
      .Add("links_half_closed", v(links_half_closed))
      .Add("flood_answers", v(flood_answers));
}

void ServeFakeMeLink(UniqueFd fd, uint64_t link_id, const FakeMeOptions& options,
                     FakeMeStats& stats, EventLog& log) {
  stats.links_accepted.fetch_add(1, std::memory_order_relaxed);
  stats.links_open.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(fd.get());
  absl::StatusOr<SocketAddress> peer = SocketAddress::PeerOf(fd.get());
  std::string end_reason = "peer closed";
  bool failed = false;
  if (!local.ok() || !peer.ok()) {
    stats.links_open.fetch_sub(1, std::memory_order_relaxed);
    stats.links_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  SetNoDelay(fd.get());

  RpcLinkConfig config;
  config.role = RpcRole::kServer;
  config.secret = options.secret;
  if (!MakeRpcLinkAddresses(RpcRole::kServer, local->sockaddr_ptr(), peer->sockaddr_ptr(),
                            &config.addresses)) {
    stats.links_open.fetch_sub(1, std::memory_order_relaxed);
    stats.links_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  config.own_pid = MakeProcessId(local->ipv4(), local->port(), getpid(),
                                 static_cast<int32_t>(options.start_unix));
  config.use_crc32c = options.crc32c;
  config.check_peer_pid = options.check_peer_pid;
  config.nonce_ts_offset_s = options.clock_offset_s;
  absl::StatusOr<std::unique_ptr<RpcLink>> created = RpcLink::Create(config);
  if (!created.ok()) {
    MTP_ERROR("link %d: %s", link_id, created.status().ToString());
    stats.links_open.fetch_sub(1, std::memory_order_relaxed);
    stats.links_failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  RpcLink& link = **created;
  link.Start(time(nullptr));
  EchoVisitor visitor(link_id, options, stats, log, *peer, *local);
  MTP_LOG(1, "link %d accepted from %s", link_id, peer->ToString());

  // Full duplex: keep reading while echoes wait to be written, so neither side can block the
  // other; reading pauses only when our pending output passes a bound (or, misbehaving, after
  // --stop-reading-after bytes).
  (void)SetNonBlocking(fd.get());
  std::vector<uint8_t> buffer(kReadChunkBytes);
  SendQueue out;
  bool closing = false;  // write what is pending, then close
  int64_t last_send_progress_ms = MonotonicMillis();
  const bool misbehaves = options.misbehave_links == 0 || link_id <= options.misbehave_links;
  const uint64_t read_limit = misbehaves ? options.stop_reading_after : 0;
  const int64_t half_close_at_ms = misbehaves && options.half_close_after_ms > 0
                                       ? MonotonicMillis() + options.half_close_after_ms
                                       : -1;
  bool half_closed = false;
  uint64_t bytes_read = 0;
  // Moves what the link has sealed into our send queue (dropped once we half-closed).
  auto take_output = [&]() -> bool {
    if (!link.HasPendingOutput()) return true;
    std::vector<uint8_t>& b = out.buffer();
    const size_t at = b.size();
    b.resize(at + link.PendingOutputBytes());
    b.resize(at + link.FlushTo(MutableByteSpan(b.data() + at, b.size() - at)));
    if (half_closed) {
      b.resize(at);
      return true;
    }
    if (out.pending() == b.size() - at) last_send_progress_ms = MonotonicMillis();
    return out.Flush(fd.get());
  };
  while (!StopRequested()) {
    if (half_close_at_ms >= 0 && !half_closed && MonotonicMillis() >= half_close_at_ms) {
      ::shutdown(fd.get(), SHUT_WR);
      half_closed = true;
      out = SendQueue();
      stats.links_half_closed.fetch_add(1, std::memory_order_relaxed);
      log.Write(JsonLine().Add("event", "half_close").Add("link", link_id));
    }
    if (!half_closed && visitor.flood_pending() && out.pending() < kFloodQueueBytes) {
      visitor.QueueFlood(link, kFloodQueueBytes);
      if (!take_output()) {
        end_reason = "send failed";
        failed = true;
        break;
      }
    }
    const bool stopped = read_limit != 0 && bytes_read >= read_limit;
    const bool want_read = !closing && !stopped && out.pending() < kMaxPendingOutputBytes;
    short events = static_cast<short>((want_read ? POLLIN : 0) | (out.empty() ? 0 : POLLOUT));
    if (events == 0 && closing) break;  // closing, everything written
    pollfd p{fd.get(), events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(kPollSliceMs));
    if (!out.empty() && MonotonicMillis() - last_send_progress_ms > kSendTimeoutMs) {
      end_reason = "the proxy stopped reading (send timeout)";
      failed = true;
      break;
    }
    if (rc <= 0) continue;
    if (stopped && (p.revents & (POLLERR | POLLHUP)) != 0) break;  // the proxy gave up
    if ((p.revents & (POLLOUT | POLLERR | POLLHUP)) != 0 && !out.empty()) {
      uint64_t written = 0;
      if (!out.Flush(fd.get(), &written)) {
        end_reason = "send failed";
        failed = !closing;
        break;
      }
      if (written > 0) last_send_progress_ms = MonotonicMillis();
    }
    if (!want_read || (p.revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
    size_t want = buffer.size();
    if (read_limit != 0) want = std::min<uint64_t>(want, read_limit - bytes_read);
    ssize_t n = ::recv(fd.get(), buffer.data(), want, MSG_DONTWAIT);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      end_reason = absl::StrCat("recv: ", std::strerror(errno));
      break;
    }
    bytes_read += static_cast<uint64_t>(n);
    if (read_limit != 0 && bytes_read >= read_limit) {
      stats.links_stopped_reading.fetch_add(1, std::memory_order_relaxed);
      log.Write(JsonLine().Add("event", "stop_reading").Add("link", link_id));
    }
    RpcError error = link.Feed(ByteSpan(buffer.data(), static_cast<size_t>(n)), visitor);
    if (!take_output()) {
      end_reason = "send failed";
      failed = true;
      break;
    }
    if (error != RpcError::kOk) {
      end_reason = absl::StrCat("protocol error: ", RpcErrorName(error));
      failed = true;
      closing = true;  // the link may have queued RPC_HANDSHAKE_ERROR
    } else if (visitor.drop_requested()) {
      end_reason = "dropped (--drop-link-after)";
      stats.links_dropped.fetch_add(1, std::memory_order_relaxed);
      closing = true;
    }
  }
  if (StopRequested()) end_reason = "stopping";
  if (failed) stats.links_failed.fetch_add(1, std::memory_order_relaxed);
  stats.links_open.fetch_sub(1, std::memory_order_relaxed);
  MTP_LOG(1, "link %d closed: %s", link_id, end_reason);
  log.Write(JsonLine()
                .Add("event", failed ? "link_error" : "link_closed")
                .Add("link", link_id)
                .Add("peer", peer->ToString())
                .Add("reason", end_reason)
                .Add("requests", visitor.link_requests()));
}

}  // namespace mtp::tools
