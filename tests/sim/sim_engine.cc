// SimEngine: completions over the virtual network, faults drawn from the run's SimRandom.
#include "tests/sim/sim_engine.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace mtp::sim {
namespace {

constexpr uint32_t kProxyIpv4 = 0x0a640001;     // 10.100.0.1: the proxy's client-side address
constexpr uint32_t kOutboundIpv4 = 0x0ac80001;  // 10.200.0.1: the proxy's outbound address
constexpr int kRecvPerVisit = 4;
constexpr int kAcceptPerVisit = 4;

}  // namespace

SimEngine::SimEngine(const Options& options, SimClock& clock, SimRandom& random)
    : options_(options), clock_(clock), random_(random) {
  ArenaBufferPoolOptions pool_options;
  pool_options.buffer_count = options.buffer_count;
  pool_options.buffer_size = options.buffer_size;
  pool_options.recv_target = options.recv_ring_count;
  auto pool = ArenaBufferPool::Create(pool_options);
  if (pool.ok()) pool_ = std::move(*pool);
}

SimEngine::~SimEngine() = default;

void SimEngine::Violation(std::string what) { violations_.push_back(std::move(what)); }

SimEngine::FdState* SimEngine::Find(int fd, const char* what) {
  if (fd < kFirstFd || static_cast<size_t>(fd - kFirstFd) >= fds_.size()) {
    Violation(absl::StrFormat("%s on unknown fd %d", what, fd));
    return nullptr;
  }
  FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];
  if (st.closed) {
    Violation(absl::StrFormat("%s on closed fd %d", what, fd));
    return nullptr;
  }
  return &st;
}

int SimEngine::NewFd(Kind kind) {
  fds_.emplace_back();
  fds_.back().kind = kind;
  int fd = kFirstFd + static_cast<int>(fds_.size() - 1);
  open_fds_.push_back(fd);
  return fd;
}

void SimEngine::Emit(std::span<IoCompletion> out, size_t* n, uint64_t user_data, int32_t result,
                     int32_t buffer_id, bool more) {
  out[(*n)++] = IoCompletion{user_data, result, buffer_id, more};
  ++completions_;
}

// ---- submissions ---------------------------------------------------------------------------

void SimEngine::Accept(int listen_fd, uint64_t user_data) {
  FdState* st = Find(listen_fd, "Accept");
  if (st == nullptr) return;
  if (st->kind != Kind::kListener)
    Violation(absl::StrFormat("Accept on non-listener %d", listen_fd));
  if (st->accept.armed) {
    Violation(absl::StrFormat("Accept on fd %d with an accept still armed", listen_fd));
    return;
  }
  st->accept = Op{true, false, user_data};
}

void SimEngine::Recv(int fd, uint64_t user_data) {
  FdState* st = Find(fd, "Recv");
  if (st == nullptr) return;
  if (st->recv.armed) {
    Violation(absl::StrFormat("Recv on fd %d with a recv still armed", fd));
    return;
  }
  if (st->conn < 0) Violation(absl::StrFormat("Recv on unconnected fd %d", fd));
  st->recv = Op{true, false, user_data};
}

void SimEngine::Send(int fd, const uint8_t* data, uint32_t len, uint64_t user_data) {
  FdState* st = Find(fd, "Send");
  if (st == nullptr) return;
  if (len == 0) Violation(absl::StrFormat("empty Send on fd %d", fd));
  st->sends.push_back(SendOp{data, len, nullptr, user_data, false, {}});
}

void SimEngine::SendMsg(int fd, const msghdr* msg, uint64_t user_data) {
  FdState* st = Find(fd, "SendMsg");
  if (st == nullptr) return;
  st->sends.push_back(SendOp{nullptr, 0, msg, user_data, false, {}});
}

void SimEngine::SendV(int fd, const iovec* iov, int count, uint64_t user_data) {
  FdState* st = Find(fd, "SendV");
  if (st == nullptr) return;
  if (count <= 0 || count > kMaxSendSegments) {
    Violation(absl::StrFormat("SendV on fd %d with %d iovecs", fd, count));
    return;
  }
  SendOp op{nullptr, 0, nullptr, user_data, false, {}};
  op.iov.assign(iov, iov + count);
  for (const iovec& v : op.iov) {
    if (v.iov_len == 0) Violation(absl::StrFormat("SendV on fd %d with an empty iovec", fd));
  }
  st->sends.push_back(std::move(op));
}

void SimEngine::Connect(int fd, const sockaddr* addr, socklen_t addrlen, uint64_t user_data) {
  FdState* st = Find(fd, "Connect");
  if (st == nullptr) return;
  if (st->kind != Kind::kOutbound || st->connect.armed || st->conn >= 0) {
    Violation(absl::StrFormat("Connect on fd %d twice or on a non-outbound socket", fd));
    return;
  }
  st->connect = Op{true, false, user_data};
  st->address = SocketAddress::FromSockaddr(addr, addrlen);
  const bool listening = std::any_of(servers_.begin(), servers_.end(),
                                     [&](const auto& s) { return s.first == st->address; });
  const EngineFaults& f = options_.faults;
  st->connect_hang = false;
  st->connect_result = 0;
  if (!listening || random_.Chance(f.connect_fail)) {
    st->connect_result = -ECONNREFUSED;
  } else if (random_.Chance(f.connect_hang)) {
    st->connect_hang = true;
  }
  st->connect_ready_s = clock_.MonotonicSeconds() + random_.Below(30) / 1000.0;
}

void SimEngine::CancelOp(int fd, uint64_t user_data) {
  FdState* st = Find(fd, "CancelOp");
  if (st == nullptr) return;
  for (Op* op : {&st->accept, &st->recv, &st->connect}) {
    if (op->armed && op->user_data == user_data) op->cancelled = true;
  }
  for (SendOp& op : st->sends) {
    if (op.user_data == user_data) op.cancelled = true;
  }
}

void SimEngine::CancelAll(int fd) {
  FdState* st = Find(fd, "CancelAll");
  if (st == nullptr) return;
  for (Op* op : {&st->accept, &st->recv, &st->connect}) {
    if (op->armed) op->cancelled = true;
  }
  for (SendOp& op : st->sends) op.cancelled = true;
}

// ---- completions ---------------------------------------------------------------------------

int SimEngine::Poll(std::span<IoCompletion> out, int64_t /*timeout_us*/) {
  size_t n = 0;
  if (options_.bug == PlantedBug::kLeakBuffer && !bug_fired_ &&
      completions_ >= options_.bug_after_completions) {
    leaked_buffer_ = pool_->TakeRecv();
    bug_fired_ = leaked_buffer_ >= 0;
  }
  if (open_fds_.empty()) return 0;
  // Visit the descriptors in a rotation that starts at a random one; Service may open new
  // descriptors (accepts), which wait for the next Poll.
  const size_t count = open_fds_.size();
  const size_t start = random_.Below(static_cast<uint32_t>(count));
  std::vector<int> order(open_fds_.begin(), open_fds_.end());
  for (size_t i = 0; i < count && n < out.size(); ++i) {
    const int fd = order[(start + i) % count];
    FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];
    if (st.closed || st.ops() == 0) continue;
    if (!random_.Chance(options_.faults.service)) continue;
    n += Service(fd, st, out.subspan(n));
  }
  return static_cast<int>(n);
}

size_t SimEngine::Service(int fd, FdState& st, std::span<IoCompletion> out) {
  size_t n = 0;
  if (st.connect.armed && n < out.size() && ServiceConnect(fd, st, &out[n])) ++n;
  if (!st.sends.empty() && n < out.size()) n += ServiceSends(st, out.subspan(n));
  if (st.recv.armed && n < out.size()) n += ServiceRecv(st, out.subspan(n));
  if (st.accept.armed && n < out.size()) n += ServiceAccept(fd, out.subspan(n));
  return n;
}

bool SimEngine::ServiceConnect(int fd, FdState& st, IoCompletion* out) {
  const bool ready = !st.connect_hang && clock_.MonotonicSeconds() >= st.connect_ready_s;
  int32_t result;
  if (st.connect.cancelled && !(ready && random_.Chance(options_.faults.cancel_race))) {
    result = -ECANCELED;
  } else if (ready) {
    result = st.connect_result;
  } else {
    return false;
  }
  if (result == 0) {
    auto c = std::make_unique<SimConn>();
    c->id = static_cast<uint32_t>(conns_.size());
    c->proxy_fd = fd;
    c->peer_address = st.address;
    c->proxy_address = st.local;
    c->window = 4096u << random_.Below(6);
    st.conn = static_cast<int32_t>(c->id);
    for (const auto& [address, server] : servers_) {
      if (address == st.address) new_server_conns_.push_back({server, c->id});
    }
    conns_.push_back(std::move(c));
  }
  st.connect.armed = false;
  *out = IoCompletion{st.connect.user_data, result, -1, false};
  ++completions_;
  return true;
}

std::span<const iovec> SimEngine::Vector(const SendOp& op) {
  if (op.msg != nullptr) return {op.msg->msg_iov, op.msg->msg_iovlen};
  return op.iov;
}

uint32_t SimEngine::SendLength(const SendOp& op) const {
  if (op.msg == nullptr && op.iov.empty()) return op.len;
  uint64_t total = 0;
  for (const iovec& v : Vector(op)) total += v.iov_len;
  return static_cast<uint32_t>(std::min<uint64_t>(total, INT32_MAX));
}

uint32_t SimEngine::Transmit(SimConn& c, const SendOp& op, uint32_t max) {
  // The bytes are read now, at completion time: a caller that reuses a send buffer before
  // the completion corrupts its own stream, and the peers notice.
  const size_t before = c.to_peer.size();
  if (op.msg == nullptr && op.iov.empty()) {
    c.to_peer.Append(op.data, max);
  } else {
    uint32_t left = max;
    for (const iovec& v : Vector(op)) {
      if (left == 0) break;
      const uint32_t take = static_cast<uint32_t>(std::min<size_t>(v.iov_len, left));
      c.to_peer.Append(static_cast<const uint8_t*>(v.iov_base), take);
      left -= take;
    }
  }
  if (options_.bug == PlantedBug::kCorruptByte && !bug_fired_ && max >= 8 &&
      completions_ >= options_.bug_after_completions &&
      fds_[static_cast<size_t>(c.proxy_fd - kFirstFd)].kind == Kind::kAccepted) {
    // Flip the last byte just queued to the client.
    c.to_peer.FlipByte(before + max - 1);
    bug_fired_ = true;
  }
  return max;
}

size_t SimEngine::ServiceSends(FdState& st, std::span<IoCompletion> out) {
  size_t n = 0;
  const EngineFaults& f = options_.faults;
  while (!st.sends.empty() && n < out.size()) {
    SendOp op = st.sends.front();
    SimConn* c = st.conn >= 0 ? conns_[static_cast<size_t>(st.conn)].get() : nullptr;
    if (op.cancelled && !random_.Chance(f.cancel_race)) {
      st.sends.pop_front();
      Emit(out, &n, op.user_data, -ECANCELED, -1, false);
      continue;
    }
    if (c == nullptr) {
      st.sends.pop_front();
      Emit(out, &n, op.user_data, -ENOTCONN, -1, false);
      continue;
    }
    if (c->reset || c->peer_gone) {
      st.sends.pop_front();
      Emit(out, &n, op.user_data, c->reset ? -ECONNRESET : -EPIPE, -1, false);
      continue;
    }
    const uint32_t room =
        c->window > c->to_peer.size() ? c->window - static_cast<uint32_t>(c->to_peer.size()) : 0;
    if (room == 0) {
      if (!op.cancelled) break;  // the peer is not reading: the send waits
      st.sends.pop_front();
      Emit(out, &n, op.user_data, -ECANCELED, -1, false);
      continue;
    }
    uint32_t k = std::min(SendLength(op), room);
    if (k > 1 && random_.Chance(f.short_send)) k = random_.Range(1, k);
    st.sends.pop_front();
    if (options_.bug == PlantedBug::kDropCompletion && !bug_fired_ &&
        completions_ >= options_.bug_after_completions) {
      bug_fired_ = true;  // the send happens, its completion is lost
      Transmit(*c, op, k);
      continue;
    }
    Transmit(*c, op, k);
    Emit(out, &n, op.user_data, static_cast<int32_t>(k), -1, false);
  }
  return n;
}

size_t SimEngine::ServiceRecv(FdState& st, std::span<IoCompletion> out) {
  size_t n = 0;
  const EngineFaults& f = options_.faults;
  SimConn* c = st.conn >= 0 ? conns_[static_cast<size_t>(st.conn)].get() : nullptr;
  auto final = [&](int32_t result) {
    st.recv.armed = false;
    Emit(out, &n, st.recv.user_data, result, -1, false);
  };
  for (int visit = 0; visit < kRecvPerVisit && st.recv.armed && n < out.size(); ++visit) {
    const bool cancelled = st.recv.cancelled;
    if (cancelled && !random_.Chance(f.cancel_race)) {
      final(-ECANCELED);
      break;
    }
    if (c == nullptr) {
      final(-ENOTCONN);
      break;
    }
    if (c->reset) {
      final(-ECONNRESET);
      break;
    }
    if (c->to_proxy.empty()) {
      if (c->peer_fin) {
        final(0);
      } else if (cancelled) {
        final(-ECANCELED);
      }
      break;
    }
    if (!cancelled && random_.Chance(f.enobufs)) {
      final(-ENOBUFS);
      break;
    }
    const int32_t id = pool_->TakeRecv();
    if (id < 0) {
      final(-ENOBUFS);
      break;
    }
    const uint32_t avail =
        static_cast<uint32_t>(std::min<size_t>(c->to_proxy.size(), pool_->buffer_size()));
    uint32_t len = avail;
    if (random_.Chance(f.one_byte_read)) {
      len = 1;
    } else if (avail > 1 && random_.Chance(f.partial_read)) {
      len = random_.Range(1, avail);
    }
    std::memcpy(pool_->Data(id), c->to_proxy.data(), len);
    c->to_proxy.Consume(len);
    // A cancelled recv that raced: a data completion before the final one, or as the final.
    bool more = cancelled ? random_.Chance(500) : !random_.Chance(f.end_multishot);
    if (!more) st.recv.armed = false;
    Emit(out, &n, st.recv.user_data, static_cast<int32_t>(len), id, more);
  }
  return n;
}

size_t SimEngine::ServiceAccept(int fd, std::span<IoCompletion> out) {
  size_t n = 0;
  const EngineFaults& f = options_.faults;
  FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];  // NewFd keeps it valid (a deque)
  if (st.accept.cancelled && !(random_.Chance(f.cancel_race) && !st.backlog.empty())) {
    st.accept.armed = false;
    Emit(out, &n, st.accept.user_data, -ECANCELED, -1, false);
    return n;
  }
  for (int i = 0; i < kAcceptPerVisit && st.accept.armed && !st.backlog.empty() && n < out.size();
       ++i) {
    const uint32_t conn_id = st.backlog.front();
    st.backlog.pop_front();
    const int new_fd = NewFd(Kind::kAccepted);
    FdState& accepted = fds_[static_cast<size_t>(new_fd - kFirstFd)];
    accepted.conn = static_cast<int32_t>(conn_id);
    conns_[conn_id]->proxy_fd = new_fd;
    const bool more = !st.accept.cancelled && !random_.Chance(f.end_multishot);
    if (!more) st.accept.armed = false;
    Emit(out, &n, st.accept.user_data, new_fd, -1, more);
  }
  return n;
}

// ---- socket set-up and teardown ------------------------------------------------------------

absl::StatusOr<int> SimEngine::OpenListener(const ListenOptions& options) {
  const int fd = NewFd(Kind::kListener);
  FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];
  uint16_t port = options.address.port();
  if (port == 0) port = static_cast<uint16_t>(8443 + fd - kFirstFd);
  st.address = SocketAddress::FromIpv4(0, port);
  return fd;
}

absl::StatusOr<int> SimEngine::OpenOutbound(int /*family*/, const OutboundOptions& /*options*/) {
  if (random_.Chance(options_.faults.open_fail)) {
    return absl::ResourceExhaustedError("socket: Too many open files (simulated)");
  }
  const int fd = NewFd(Kind::kOutbound);
  FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];
  st.local = SocketAddress::FromIpv4(kOutboundIpv4, static_cast<uint16_t>(20000 + fd % 40000));
  return fd;
}

absl::StatusOr<SocketAddress> SimEngine::PeerAddressOf(int fd) {
  FdState* st = Find(fd, "PeerAddressOf");
  if (st == nullptr) return absl::InvalidArgumentError("bad fd");
  if (st->kind == Kind::kAccepted) {
    // getpeername fails once the peer has reset the connection (ENOTCONN).
    const SimConn& c = *conns_[static_cast<size_t>(st->conn)];
    if (c.reset) return absl::FailedPreconditionError("getpeername: not connected");
    return c.peer_address;
  }
  if (st->kind == Kind::kOutbound) return st->address;
  return absl::FailedPreconditionError("listener has no peer");
}

absl::StatusOr<SocketAddress> SimEngine::LocalAddressOf(int fd) {
  FdState* st = Find(fd, "LocalAddressOf");
  if (st == nullptr) return absl::InvalidArgumentError("bad fd");
  if (st->kind == Kind::kListener) return st->address;
  if (random_.Chance(options_.faults.address_fail)) {
    return absl::FailedPreconditionError("getsockname failed (simulated)");
  }
  if (st->kind == Kind::kAccepted) return conns_[static_cast<size_t>(st->conn)]->proxy_address;
  return st->local;
}

void SimEngine::TuneAccepted(int fd, int /*window_clamp_bytes*/) { (void)Find(fd, "TuneAccepted"); }

void SimEngine::Close(int fd) {
  FdState* st = Find(fd, "Close");
  if (st == nullptr) return;
  if (st->ops() > 0) {
    Violation(
        absl::StrFormat("close(%d) with %u op(s) whose final completion was not reported "
                        "(%s)",
                        fd, st->ops(), Describe(fd)));
  }
  st->closed = true;
  closed_.push_back(fd);
  std::erase(open_fds_, fd);
  if (st->kind == Kind::kListener) {
    for (uint32_t id : st->backlog) {
      conns_[id]->reset = true;
      conns_[id]->refused = true;
    }
    st->backlog.clear();
  }
  if (st->conn >= 0) conns_[static_cast<size_t>(st->conn)]->proxy_closed = true;
}

// ---- the network ---------------------------------------------------------------------------

void SimEngine::AddServer(const SocketAddress& address, uint32_t server_id) {
  servers_.push_back({address, server_id});
}

std::vector<std::pair<uint32_t, uint32_t>> SimEngine::TakeNewServerConns() {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  out.swap(new_server_conns_);
  return out;
}

uint32_t SimEngine::ClientConnect(uint16_t port, const SocketAddress& client_address) {
  auto c = std::make_unique<SimConn>();
  c->id = static_cast<uint32_t>(conns_.size());
  c->peer_address = client_address;
  c->proxy_address = SocketAddress::FromIpv4(kProxyIpv4, port);
  c->window = 4096u << random_.Below(6);
  FdState* listener = nullptr;
  for (FdState& st : fds_) {
    if (st.kind == Kind::kListener && !st.closed && st.address.port() == port) listener = &st;
  }
  if (listener == nullptr) {
    c->refused = true;
    c->reset = true;
  } else {
    listener->backlog.push_back(c->id);
  }
  conns_.push_back(std::move(c));
  return static_cast<uint32_t>(conns_.size() - 1);
}

// ---- checker views -------------------------------------------------------------------------

std::vector<SimEngine::FdInfo> SimEngine::Fds() const {
  std::vector<FdInfo> out;
  out.reserve(fds_.size());
  for (size_t i = 0; i < fds_.size(); ++i) {
    const FdState& st = fds_[i];
    const char kind = st.kind == Kind::kListener ? 'L' : st.kind == Kind::kAccepted ? 'a' : 'o';
    out.push_back({kFirstFd + static_cast<int>(i), kind, st.closed, st.ops(), st.conn});
  }
  return out;
}

uint32_t SimEngine::OpsOn(int fd) const {
  if (fd < kFirstFd || static_cast<size_t>(fd - kFirstFd) >= fds_.size()) return 0;
  return fds_[static_cast<size_t>(fd - kFirstFd)].ops();
}

bool SimEngine::IsOpen(int fd) const {
  return fd >= kFirstFd && static_cast<size_t>(fd - kFirstFd) < fds_.size() &&
         !fds_[static_cast<size_t>(fd - kFirstFd)].closed;
}

std::vector<int> SimEngine::TakeClosed() {
  std::vector<int> out;
  out.swap(closed_);
  return out;
}

std::string SimEngine::Describe(int fd) const {
  if (fd < kFirstFd || static_cast<size_t>(fd - kFirstFd) >= fds_.size()) return "unknown";
  const FdState& st = fds_[static_cast<size_t>(fd - kFirstFd)];
  std::string s =
      absl::StrFormat("fd %d %s%s: accept %d%s recv %d%s connect %d%s sends %zu", fd,
                      st.kind == Kind::kListener   ? "listener"
                      : st.kind == Kind::kAccepted ? "accepted"
                                                   : "outbound",
                      st.closed ? " (closed)" : "", st.accept.armed, st.accept.cancelled ? "c" : "",
                      st.recv.armed, st.recv.cancelled ? "c" : "", st.connect.armed,
                      st.connect.cancelled ? "c" : "", st.sends.size());
  if (st.conn >= 0) {
    const SimConn& c = *conns_[static_cast<size_t>(st.conn)];
    s += absl::StrFormat(" conn %u: to_proxy %zu to_peer %zu/%u%s%s%s%s", c.id, c.to_proxy.size(),
                         c.to_peer.size(), c.window, c.peer_fin ? " peer_fin" : "",
                         c.peer_gone ? " peer_gone" : "", c.proxy_closed ? " proxy_closed" : "",
                         c.reset ? " reset" : "");
  }
  return s;
}

}  // namespace mtp::sim
