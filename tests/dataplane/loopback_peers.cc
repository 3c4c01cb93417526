// In-process loopback peers for dataplane tests.
#include "tests/dataplane/loopback_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "proto/obfuscated2.h"
#include "proto/framing.h"
#include "proto/rpc_link.h"
#include "proto/rpc_messages.h"

namespace mtp::testing_peers {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

bool SendAll(int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool RecvExact(int fd, uint8_t* out, size_t n, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  while (n > 0) {
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0 || !WaitReadable(fd, left)) return false;
    ssize_t r = recv(fd, out, n, 0);
    if (r <= 0) return false;
    out += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

int ListenLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Loopback(*port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 1024) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// ---- TestClient ------------------------------------------------------------------------------

std::optional<TestClient> TestClient::Connect(uint16_t port, const ClientSecret* secret,
                                              Transport transport, int16_t dc_id) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return std::nullopt;
  auto hs = BuildObfuscated2ClientHeader(secret, transport, dc_id);
  if (!hs.ok()) {
    close(fd);
    return std::nullopt;
  }
  TestClient c;
  c.fd_ = fd;
  c.transport_ = transport;
  c.encrypt_ = std::move(hs->encrypt);
  c.decrypt_ = std::move(hs->decrypt);
  if (!SendAll(fd, hs->header.data(), hs->header.size())) return std::nullopt;
  return c;
}

TestClient::TestClient(TestClient&& o) noexcept
    : fd_(o.fd_),
      transport_(o.transport_),
      encrypt_(std::move(o.encrypt_)),
      decrypt_(std::move(o.decrypt_)),
      in_(std::move(o.in_)) {
  o.fd_ = -1;
}

TestClient::~TestClient() {
  if (fd_ >= 0) close(fd_);
}

bool TestClient::SendRaw(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> copy = bytes;
  encrypt_.Apply(copy);
  return SendAll(fd_, copy.data(), copy.size());
}

bool TestClient::SendFrame(const std::vector<uint8_t>& payload, bool quick_ack) {
  uint8_t header[kMaxFrameHeaderBytes];
  uint32_t pad = transport_ == Transport::kPadded ? 3 : 0;
  size_t n = EncodeClientFrameHeader(transport_, static_cast<uint32_t>(payload.size()), pad,
                                     quick_ack, FrameHeaderBuffer(header, sizeof(header)));
  std::vector<uint8_t> frame(header, header + n);
  frame.insert(frame.end(), payload.begin(), payload.end());
  frame.insert(frame.end(), pad, 0x5a);
  return SendRaw(frame);
}

bool TestClient::Fill(int timeout_ms) {
  if (!WaitReadable(fd_, timeout_ms)) return false;
  uint8_t buf[65536];
  ssize_t r = recv(fd_, buf, sizeof(buf), 0);
  if (r <= 0) return false;
  decrypt_.Apply(buf, buf, static_cast<size_t>(r));
  in_.insert(in_.end(), buf, buf + r);
  return true;
}

std::optional<std::vector<uint8_t>> TestClient::ReadFrame(int timeout_ms, bool* quick_ack) {
  int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    ServerFrame f = DecodeServerFrame(transport_, in_);
    switch (f.kind) {
      case ServerFrameKind::kFrame: {
        std::vector<uint8_t> payload(in_.begin() + f.prefix_bytes,
                                     in_.begin() + f.prefix_bytes + f.payload_bytes);
        in_.erase(in_.begin(), in_.begin() + f.frame_bytes());
        if (quick_ack) *quick_ack = false;
        return payload;
      }
      case ServerFrameKind::kQuickAck: {
        std::vector<uint8_t> token(4);
        std::memcpy(token.data(), &f.quick_ack_token, 4);
        in_.erase(in_.begin(), in_.begin() + f.frame_bytes());
        if (quick_ack) *quick_ack = true;
        return token;
      }
      case ServerFrameKind::kNoOp:
        in_.erase(in_.begin(), in_.begin() + f.frame_bytes());
        continue;
      case ServerFrameKind::kError:
        return std::nullopt;
      case ServerFrameKind::kNeedMore:
        break;
    }
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0 || !Fill(left)) return std::nullopt;
  }
}

bool TestClient::WaitClosed(int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0 || !WaitReadable(fd_, left)) return false;
    uint8_t buf[4096];
    ssize_t r = recv(fd_, buf, sizeof(buf), 0);
    if (r <= 0) return true;
  }
}

bool TestClient::StaysSilent(int timeout_ms) {
  if (!WaitReadable(fd_, timeout_ms)) return true;
  return false;
}

// ---- FakeMe ----------------------------------------------------------------------------------

FakeMe::FakeMe(std::vector<uint8_t> secret, uint16_t port)
    : secret_(std::move(secret)), port_(port) {
  listen_fd_ = ListenLoopback(&port_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeMe::~FakeMe() { Stop(); }

void FakeMe::Stop() {
  if (stop_.exchange(true)) return;
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  close(listen_fd_);
}

std::vector<MeEvent> FakeMe::Events() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

bool FakeMe::WaitFor(uint32_t type, int timeout_ms, MeEvent* out) {
  int64_t deadline = NowMs() + timeout_ms;
  while (NowMs() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const MeEvent& e : events_) {
        if (e.type == type) {
          if (out) *out = e;
          return true;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void FakeMe::SendCloseExt(uint64_t ext_conn_id) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_close_ext_.push_back(ext_conn_id);
}

void FakeMe::AcceptLoop() {
  while (!stop_.load()) {
    if (!WaitReadable(listen_fd_, 50)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    const int index = accepted_++;
    threads_.emplace_back([this, fd, index] { Serve(fd, index); });
  }
}

namespace {

class EchoVisitor final : public RpcLinkVisitor {
 public:
  EchoVisitor(std::mutex& mu, std::vector<MeEvent>& events, int index)
      : mu_(mu), events_(events), index_(index) {}
  std::vector<uint64_t> ids;  // ext_conn_ids seen on this link
  bool handshake_done = false;  // our side is ready; our handshake answer may be unsent yet
  void OnRpcLinkReady(RpcLink&, const RpcHandshake&) override { handshake_done = true; }
  void OnRpcMessage(RpcLink& link, uint32_t type, ByteSpan payload) override {
    MeEvent e;
    e.type = type;
    e.link = index_;
    if (type == kRpcProxyReq) {
      RpcProxyReqView req;
      if (!DecodeRpcProxyReq(payload, &req)) return;
      e.flags = req.flags;
      e.ext_conn_id = req.ext_conn_id;
      e.ad_tag.assign(req.ad_tag.begin(), req.ad_tag.end());
      e.data.assign(req.data.begin(), req.data.end());
      ids.push_back(req.ext_conn_id);
      std::vector<uint8_t> ans(kRpcProxyAnsHeaderBytes + req.data.size());
      EncodeRpcProxyAnsHeader(0, req.ext_conn_id, ans);
      std::memcpy(ans.data() + kRpcProxyAnsHeaderBytes, req.data.data(), req.data.size());
      if (req.flags & kRpcReqFlagQuickAck) {
        uint8_t ack[kRpcSimpleAckBytes];
        EncodeRpcSimpleAck(RpcSimpleAck{req.ext_conn_id, 0x80abcdefu}, ack);
        link.SendMessage(ack);
      }
      link.SendMessage(ans);
    } else if (type == kRpcCloseConn) {
      DecodeRpcClose(payload, kRpcCloseConn, &e.ext_conn_id);
    }
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }

 private:
  std::mutex& mu_;
  std::vector<MeEvent>& events_;
  int index_;
};

}  // namespace

void FakeMe::Serve(int fd, int index) {
  sockaddr_in local{}, peer{};
  socklen_t len = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  len = sizeof(peer);
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  RpcLinkConfig cfg;
  cfg.role = RpcRole::kServer;
  cfg.secret = ByteSpan(secret_.data(), secret_.size());
  cfg.addresses.client_ipv4 = ntohl(peer.sin_addr.s_addr);
  cfg.addresses.client_port = ntohs(peer.sin_port);
  cfg.addresses.server_ipv4 = ntohl(local.sin_addr.s_addr);
  cfg.addresses.server_port = ntohs(local.sin_port);
  cfg.own_pid = MakeProcessId(0x7f000001, ntohs(local.sin_port), getpid(), 1);
  cfg.check_peer_pid = false;
  auto link = RpcLink::Create(cfg);
  if (!link.ok()) {
    close(fd);
    return;
  }
  (*link)->Start(time(nullptr));
  EchoVisitor visitor(mu_, events_, index);
  std::vector<uint8_t> buf(1 << 20);
  bool was_ready = false;  // counted in links_ready_
  while (!stop_.load()) {
    if ((*link)->ready()) {
      // RPC_CLOSE_EXT goes out on the link that carries the connection, like a real ME.
      std::vector<uint64_t> close_ext;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = pending_close_ext_.begin(); it != pending_close_ext_.end();) {
          if (std::find(visitor.ids.begin(), visitor.ids.end(), *it) != visitor.ids.end()) {
            close_ext.push_back(*it);
            it = pending_close_ext_.erase(it);
          } else {
            ++it;
          }
        }
      }
      for (uint64_t id : close_ext) {
        uint8_t msg[kRpcCloseBytes];
        EncodeRpcClose(kRpcCloseExt, id, msg);
        (*link)->SendMessage(msg);
      }
    }
    if ((*link)->HasPendingOutput()) {
      ByteSpan out = (*link)->Flush();
      if (!SendAll(fd, out.data(), out.size())) break;
    }
    // Ready for the tests only once our handshake answer is on the wire: a test that waits for
    // links_ready() and then sends a frame must not beat the proxy to its own ready link (a
    // frame that finds no ready link is dropped, spec §8.3).
    if (visitor.handshake_done && !was_ready && !(*link)->HasPendingOutput()) {
      was_ready = true;
      ++links_ready_;
    }
    if (!WaitReadable(fd, 20)) continue;
    ssize_t r = recv(fd, buf.data(), buf.size(), 0);
    if (r <= 0) break;
    if ((*link)->Feed(ByteSpan(buf.data(), static_cast<size_t>(r)), visitor) != RpcError::kOk) {
      break;
    }
  }
  if (was_ready) --links_ready_;
  close(fd);
}

// ---- FakeDc ----------------------------------------------------------------------------------

FakeDc::FakeDc() {
  listen_fd_ = ListenLoopback(&port_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeDc::~FakeDc() {
  stop_.store(true);
  acceptor_.join();
  for (std::thread& t : threads_) t.join();
  close(listen_fd_);
}

void FakeDc::AcceptLoop() {
  while (!stop_.load()) {
    if (!WaitReadable(listen_fd_, 50)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeDc::Serve(int fd) {
  Obfuscated2Header header;
  if (!RecvExact(fd, header.data(), header.size(), 5000)) {
    close(fd);
    return;
  }
  Obfuscated2ServerResult r = AcceptObfuscated2(header, {});
  if (!r.accepted()) {
    close(fd);
    return;
  }
  last_dc_.store(r.dc_id);
  std::vector<uint8_t> buf(1 << 16);
  while (!stop_.load()) {
    if (!WaitReadable(fd, 20)) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    r.decrypt.Apply(buf.data(), buf.data(), static_cast<size_t>(n));
    r.encrypt.Apply(buf.data(), buf.data(), static_cast<size_t>(n));
    if (!SendAll(fd, buf.data(), static_cast<size_t>(n))) break;
  }
  close(fd);
}

}  // namespace mtp::testing_peers
