// EpollEngine: completion emulation over edge-triggered epoll (see epoll_engine.h for why).
#include "core/epoll_engine.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/log.h"

namespace mtp {
namespace {

constexpr uint64_t kWakeKey = ~uint64_t{0};  // epoll data for the wake eventfd (fds are >= 0)
constexpr uint32_t kFdEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

}  // namespace

absl::StatusOr<std::unique_ptr<EpollEngine>> EpollEngine::Create(const IoEngineOptions& options) {
  ArenaBufferPoolOptions pool_options;
  pool_options.buffer_count = options.buffer_count;
  pool_options.buffer_size = options.buffer_size;
  pool_options.recv_target = options.recv_ring_count;
  pool_options.populate = options.populate_buffers;
  auto pool = ArenaBufferPool::Create(pool_options);
  if (!pool.ok()) return pool.status();
  if (options.queue_depth == 0) return absl::InvalidArgumentError("queue_depth must be > 0");

  std::unique_ptr<EpollEngine> engine(new EpollEngine(std::move(*pool)));
  engine->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (engine->epoll_fd_ < 0) {
    return absl::InternalError(absl::StrFormat("epoll_create1: %s", strerror(errno)));
  }
  engine->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (engine->wake_fd_ < 0) {
    return absl::InternalError(absl::StrFormat("eventfd: %s", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: drained by one read per wake-up
  ev.data.u64 = kWakeKey;
  if (epoll_ctl(engine->epoll_fd_, EPOLL_CTL_ADD, engine->wake_fd_, &ev) != 0) {
    return absl::InternalError(absl::StrFormat("epoll_ctl(eventfd): %s", strerror(errno)));
  }
  engine->events_.resize(std::min<uint32_t>(options.queue_depth, 4096));
  engine->fds_.resize(1024);
  engine->ready_.resize(1024);
  engine->immediate_.reserve(256);
  // Probe epoll_pwait2 (microsecond timeouts); older kernels fall back to epoll_wait.
  timespec zero{};
  epoll_event scratch;
  if (epoll_pwait2(engine->epoll_fd_, &scratch, 1, &zero, nullptr) < 0 && errno == ENOSYS) {
    engine->have_pwait2_ = false;
  }
  return engine;
}

EpollEngine::EpollEngine(std::unique_ptr<ArenaBufferPool> pool) : pool_(std::move(pool)) {}

EpollEngine::~EpollEngine() {
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

EpollEngine::FdState& EpollEngine::State(int fd) {
  assert(fd >= 0);
  size_t index = static_cast<size_t>(fd);
  if (index >= fds_.size()) fds_.resize(std::max(index + 1, fds_.size() * 2));
  return fds_[index];
}

void EpollEngine::Immediate(uint64_t user_data, int32_t result) {
  if (immediate_head_ == immediate_.size()) {
    immediate_.clear();
    immediate_head_ = 0;
  }
  immediate_.push_back(IoCompletion{user_data, result, -1, false});
}

bool EpollEngine::AddOp(int fd, FdState& st, uint64_t user_data) {
  if (st.ops == 0) {
    epoll_event ev{};
    ev.events = kFdEvents;
    ev.data.u64 = static_cast<uint64_t>(fd);
    // An fd number may have been closed and reused since we last saw it, so an fd without
    // ops is re-registered: MOD re-reports current readiness, ENOENT means a new file.
    int rc = -1;
    if (st.registration != Registration::kFresh) {
      rc = epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    }
    if (rc != 0 && (st.registration == Registration::kFresh || errno == ENOENT)) {
      rc = epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
      st.readable = st.writable = st.hangup = false;  // the ADD reports the initial state
    }
    if (rc != 0) {
      Immediate(user_data, -errno);
      return false;
    }
    st.registration = Registration::kRegistered;
  }
  ++st.ops;
  return true;
}

void EpollEngine::MarkReady(int fd, FdState& st) {
  if (st.in_ready) return;
  if (ready_count_ == ready_.size()) {
    // Linearise into a larger ring (each fd is queued at most once, so this is bounded by
    // the fd table and happens only while the table grows).
    std::vector<int> bigger(ready_.size() * 2);
    for (size_t i = 0; i < ready_count_; ++i) bigger[i] = ready_[(ready_head_ + i) % ready_.size()];
    ready_.swap(bigger);
    ready_head_ = 0;
  }
  ready_[(ready_head_ + ready_count_) % ready_.size()] = fd;
  ++ready_count_;
  st.in_ready = true;
}

bool EpollEngine::Actionable(const FdState& st) {
  if (st.accept.state == OpState::kCancelled || st.recv.state == OpState::kCancelled ||
      st.connect.state == OpState::kCancelled || st.cancelled_sends > 0) {
    return true;
  }
  if (st.readable &&
      (st.accept.state == OpState::kArmed || st.recv.state == OpState::kArmed)) {
    return true;
  }
  return st.writable && (st.send_head != kNil || st.connect.state == OpState::kArmed);
}

uint32_t EpollEngine::AllocSend() {
  if (send_free_ == kNil) {
    // Grows only when more sends are queued at once than ever before (amortised, no
    // allocation in steady state).
    uint32_t old_size = static_cast<uint32_t>(sends_.size());
    uint32_t new_size = std::max<uint32_t>(256, old_size * 2);
    sends_.resize(new_size);
    for (uint32_t i = new_size; i-- > old_size;) {
      sends_[i].next = send_free_;
      send_free_ = i;
    }
  }
  uint32_t index = send_free_;
  send_free_ = sends_[index].next;
  sends_[index] = SendOp{};
  return index;
}

void EpollEngine::Accept(int listen_fd, uint64_t user_data) {
  FdState& st = State(listen_fd);
  if (st.accept.state != OpState::kIdle) {
    MTP_ERROR("epoll: Accept on fd %d with an accept still armed (caller bug)", listen_fd);
    Immediate(user_data, -EBUSY);
    return;
  }
  if (!AddOp(listen_fd, st, user_data)) return;
  st.accept = Slot{user_data, OpState::kArmed};
  if (Actionable(st)) MarkReady(listen_fd, st);
}

void EpollEngine::Recv(int fd, uint64_t user_data) {
  FdState& st = State(fd);
  if (st.recv.state != OpState::kIdle) {
    MTP_ERROR("epoll: Recv on fd %d with a recv still armed (caller bug)", fd);
    Immediate(user_data, -EBUSY);
    return;
  }
  if (!AddOp(fd, st, user_data)) return;
  st.recv = Slot{user_data, OpState::kArmed};
  if (Actionable(st)) MarkReady(fd, st);
}

void EpollEngine::Send(int fd, const uint8_t* data, uint32_t len, uint64_t user_data) {
  QueueSend(fd, data, len, nullptr, user_data);
}

void EpollEngine::SendMsg(int fd, const msghdr* msg, uint64_t user_data) {
  QueueSend(fd, nullptr, 0, msg, user_data);
}

void EpollEngine::SendV(int fd, const iovec* iov, int count, uint64_t user_data) {
  if (count <= 0 || count > kMaxSendSegments) {
    Immediate(user_data, -EINVAL);
    return;
  }
  const uint32_t index = QueueSend(fd, nullptr, 0, nullptr, user_data);
  if (index == kNil) return;
  SendOp& op = sends_[index];
  std::memcpy(op.iov, iov, sizeof(iovec) * static_cast<size_t>(count));
  op.iov_count = static_cast<uint32_t>(count);
}

uint32_t EpollEngine::QueueSend(int fd, const uint8_t* data, uint32_t len, const msghdr* msg,
                                uint64_t user_data) {
  FdState& st = State(fd);
  if (!AddOp(fd, st, user_data)) return kNil;
  uint32_t index = AllocSend();
  SendOp& op = sends_[index];
  op.data = data;
  op.len = len;
  op.msg = msg;
  op.user_data = user_data;
  if (st.send_tail == kNil) {
    st.send_head = index;
  } else {
    sends_[st.send_tail].next = index;
  }
  st.send_tail = index;
  // A fresh registration reports EPOLLOUT within the same Poll (before the ready list is
  // processed a second time), so waiting for the flag costs no extra round trip.
  if (st.writable) MarkReady(fd, st);
  return index;
}

void EpollEngine::Connect(int fd, const sockaddr* addr, socklen_t addrlen, uint64_t user_data) {
  FdState& st = State(fd);
  if (st.connect.state != OpState::kIdle) {
    MTP_ERROR("epoll: Connect on fd %d with a connect still armed (caller bug)", fd);
    Immediate(user_data, -EBUSY);
    return;
  }
  if (connect(fd, addr, addrlen) == 0) {
    Immediate(user_data, 0);
    return;
  }
  if (errno != EINPROGRESS) {
    Immediate(user_data, -errno);
    return;
  }
  if (!AddOp(fd, st, user_data)) return;
  st.connect = Slot{user_data, OpState::kArmed};
  st.writable = false;  // only an EPOLLOUT/ERR edge after this point means "connected"
}

void EpollEngine::CancelOp(int fd, uint64_t user_data) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[fd];
  bool any = false;
  for (Slot* slot : {&st.accept, &st.recv, &st.connect}) {
    if (slot->state == OpState::kArmed && slot->user_data == user_data) {
      slot->state = OpState::kCancelled;
      any = true;
    }
  }
  for (uint32_t i = st.send_head; i != kNil; i = sends_[i].next) {
    if (sends_[i].user_data == user_data && !sends_[i].cancelled) {
      sends_[i].cancelled = true;
      ++st.cancelled_sends;
      any = true;
    }
  }
  if (any) MarkReady(fd, st);
}

void EpollEngine::CancelAll(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[fd];
  for (Slot* slot : {&st.accept, &st.recv, &st.connect}) {
    if (slot->state == OpState::kArmed) slot->state = OpState::kCancelled;
  }
  for (uint32_t i = st.send_head; i != kNil; i = sends_[i].next) {
    if (!sends_[i].cancelled) {
      sends_[i].cancelled = true;
      ++st.cancelled_sends;
    }
  }
  if (st.ops > 0) MarkReady(fd, st);
}

size_t EpollEngine::Service(int fd, FdState& st, std::span<IoCompletion> out) {
  size_t n = 0;
  auto emit = [&](uint64_t user_data, int32_t result, int32_t buffer_id, bool more) {
    out[n++] = IoCompletion{user_data, result, buffer_id, more};
  };
  auto finish = [&](Slot& slot, int32_t result) {
    emit(slot.user_data, result, -1, false);
    slot.state = OpState::kIdle;
    --st.ops;
  };

  // 1. Cancelled ops: no syscall, reported first.
  for (Slot* slot : {&st.accept, &st.recv, &st.connect}) {
    if (slot->state == OpState::kCancelled && n < out.size()) finish(*slot, -ECANCELED);
  }
  uint32_t prev = kNil;
  for (uint32_t i = st.send_head; i != kNil && st.cancelled_sends > 0 && n < out.size();) {
    SendOp& op = sends_[i];
    uint32_t next = op.next;
    if (op.cancelled) {
      emit(op.user_data, -ECANCELED, -1, false);
      --st.ops;
      --st.cancelled_sends;
      if (prev == kNil) st.send_head = next; else sends_[prev].next = next;
      if (st.send_tail == i) st.send_tail = prev;
      op.next = send_free_;
      send_free_ = i;
    } else {
      prev = i;
    }
    i = next;
  }

  // 2. Connect: an edge after EINPROGRESS; SO_ERROR tells failure, getpeername success.
  if (st.connect.state == OpState::kArmed && st.writable && n < out.size()) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
      sockaddr_storage peer;
      socklen_t peer_len = sizeof(peer);
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
        if (errno == ENOTCONN) {
          st.writable = false;  // spurious edge: still connecting
        } else {
          err = errno;
        }
      }
    }
    if (err != 0 || st.writable) finish(st.connect, -err);
  }

  // 3. Sends, in submission order, while the socket takes data.
  while (st.send_head != kNil && st.writable && n < out.size()) {
    uint32_t index = st.send_head;
    SendOp& op = sends_[index];
    ssize_t r;
    if (op.iov_count > 0) {
      msghdr msg{};
      msg.msg_iov = op.iov;
      msg.msg_iovlen = op.iov_count;
      r = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else if (op.msg != nullptr) {
      r = sendmsg(fd, op.msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
      r = send(fd, op.data, op.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      st.writable = false;
      break;
    }
    if (r < 0 && errno == EINTR) continue;
    emit(op.user_data, r < 0 ? -errno : static_cast<int32_t>(r), -1, false);
    --st.ops;
    st.send_head = op.next;
    if (st.send_head == kNil) st.send_tail = kNil;
    op.next = send_free_;
    send_free_ = index;
  }

  // 4. Multishot recv into receive-set buffers.
  for (int budget = kRecvPerVisit;
       budget > 0 && st.recv.state == OpState::kArmed && st.readable && n < out.size();
       --budget) {
    int32_t id = pool_->TakeRecv();
    if (id < 0) {
      finish(st.recv, -ENOBUFS);
      break;
    }
    const uint32_t size = pool_->buffer_size();
    ssize_t r = recv(fd, pool_->Data(id), size, MSG_DONTWAIT);
    if (r > 0) {
      emit(st.recv.user_data, static_cast<int32_t>(r), id, true);
      // A short TCP read drained the queue; new data raises a new edge. Not after a hang-up
      // edge: the EOF behind the data would raise none.
      if (static_cast<uint32_t>(r) < size && !st.hangup) st.readable = false;
      continue;
    }
    int err = r < 0 ? errno : 0;
    pool_->Release(id);
    if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      st.readable = false;
      break;
    }
    if (r < 0 && err == EINTR) continue;
    finish(st.recv, -err);  // 0 = EOF
    break;
  }

  // 5. Multishot accept. New fds are recorded after the loop: State() may grow the table.
  int accepted[kAcceptPerVisit];
  int accepted_count = 0;
  while (accepted_count < kAcceptPerVisit && st.accept.state == OpState::kArmed &&
         st.readable && n < out.size()) {
    int new_fd = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (new_fd >= 0) {
      emit(st.accept.user_data, new_fd, -1, true);
      accepted[accepted_count++] = new_fd;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      st.readable = false;
      break;
    }
    if (errno == EINTR) continue;
    finish(st.accept, -errno);
    break;
  }
  for (int i = 0; i < accepted_count; ++i) {
    // A new file behind this number: stale flags and registration must not carry over.
    FdState& fresh = State(accepted[i]);
    fresh = FdState{};
    fresh.registration = Registration::kFresh;
  }
  return n;
}

size_t EpollEngine::ProcessReady(std::span<IoCompletion> out) {
  size_t n = 0;
  // Each queued fd is visited at most once per call; fds with work left go to the back.
  for (size_t visits = ready_count_; visits > 0 && n < out.size(); --visits) {
    int fd = ready_[ready_head_];
    ready_head_ = (ready_head_ + 1) % ready_.size();
    --ready_count_;
    fds_[fd].in_ready = false;
    n += Service(fd, fds_[fd], out.subspan(n));
    FdState& st = fds_[fd];  // Service may have grown the table
    if (Actionable(st)) MarkReady(fd, st);
  }
  return n;
}

int EpollEngine::WaitEvents(int64_t timeout_us) {
  int max_events = static_cast<int>(events_.size());
  if (have_pwait2_) {
    timespec ts;
    timespec* tsp = nullptr;
    if (timeout_us >= 0) {
      ts.tv_sec = timeout_us / 1000000;
      ts.tv_nsec = (timeout_us % 1000000) * 1000;
      tsp = &ts;
    }
    return epoll_pwait2(epoll_fd_, events_.data(), max_events, tsp, nullptr);
  }
  int timeout_ms = timeout_us < 0 ? -1
                                  : static_cast<int>(std::min<int64_t>(
                                        (timeout_us + 999) / 1000, 0x7fffffff));
  return epoll_wait(epoll_fd_, events_.data(), max_events, timeout_ms);
}

int EpollEngine::Poll(std::span<IoCompletion> out, int64_t timeout_us) {
  size_t n = 0;
  while (immediate_head_ < immediate_.size() && n < out.size()) {
    out[n++] = immediate_[immediate_head_++];
  }
  n += ProcessReady(out.subspan(n));
  // Always collect events, even with `out` full, so readiness keeps flowing into the flags
  // and a busy ready list cannot starve fds that have not been queued yet.
  bool pending = n > 0 || ready_count_ > 0 || immediate_head_ < immediate_.size();
  int k = WaitEvents(pending ? 0 : timeout_us);
  if (k < 0 && errno != EINTR) MTP_ERROR("epoll_wait: %s", strerror(errno));
  for (int i = 0; i < k; ++i) {
    const epoll_event& ev = events_[i];
    if (ev.data.u64 == kWakeKey) {
      uint64_t value;
      // Read first, then clear the flag: a Wake() landing in between skips its write but
      // the caller is about to return from Poll and look at its inbox anyway.
      while (read(wake_fd_, &value, sizeof(value)) < 0 && errno == EINTR) {
      }
      wake_pending_.exchange(false, std::memory_order_acq_rel);
      continue;
    }
    int fd = static_cast<int>(ev.data.u64);
    if (static_cast<size_t>(fd) >= fds_.size()) continue;
    FdState& st = fds_[fd];
    if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st.readable = true;
    if (ev.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) st.writable = true;
    if (ev.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) st.hangup = true;
    if (st.ops > 0 && Actionable(st)) MarkReady(fd, st);
  }
  if (n < out.size()) n += ProcessReady(out.subspan(n));
  return static_cast<int>(n);
}

void EpollEngine::Wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

}  // namespace mtp
