// UringEngine: SQE preparation, batched submission, CQE translation, eventfd wake-ups.
#include "core/uring_engine.h"

#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/log.h"

namespace mtp {
namespace {

constexpr uint64_t kWakeTag = kReservedUserDataMin + 1;
constexpr uint64_t kCancelTag = kReservedUserDataMin + 2;

}  // namespace

absl::StatusOr<std::unique_ptr<UringEngine>> UringEngine::Create(const IoEngineOptions& options) {
  auto probe = ProbeIoUring();
  if (!probe.ok()) return probe.status();
  if (options.queue_depth == 0 || options.queue_depth > 32768) {
    return absl::InvalidArgumentError("queue_depth must be in 1..32768");
  }
  ArenaBufferPoolOptions pool_options;
  pool_options.buffer_count = options.buffer_count;
  pool_options.buffer_size = options.buffer_size;
  pool_options.recv_target = options.recv_ring_count;
  pool_options.populate = options.populate_buffers;
  auto pool = ArenaBufferPool::Create(pool_options);
  if (!pool.ok()) return pool.status();

  std::unique_ptr<UringEngine> engine(new UringEngine());
  engine->pool_ = std::move(*pool);
  io_uring_params params{};
  // Multishot ops post many CQEs per SQE: a CQ four times the SQ keeps overflow (NODROP
  // backlog, slower) rare.
  params.flags = probe->setup_flags | IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE |
                 IORING_SETUP_CLAMP;
  params.cq_entries = options.queue_depth * 4;
  int ret = io_uring_queue_init_params(options.queue_depth, &engine->ring_, &params);
  if (ret < 0) {
    return absl::UnavailableError(absl::StrFormat("io_uring_queue_init: %s", strerror(-ret)));
  }
  engine->ring_initialised_ = true;
  engine->setup_flags_ = params.flags;
  absl::Status attached = engine->pool_->AttachRing(&engine->ring_, kBufferGroup);
  if (!attached.ok()) return attached;
  // Blocking eventfd: io_uring would complete a read on an O_NONBLOCK file with -EAGAIN
  // instead of waiting for it.
  engine->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (engine->wake_fd_ < 0) {
    return absl::InternalError(absl::StrFormat("eventfd: %s", strerror(errno)));
  }
  engine->connect_addrs_.resize(kMaxPendingConnects);
  engine->sendv_slots_.resize(kMaxPendingSendVs);
  engine->ArmWakeRead();
  MTP_LOG(1, "io_uring engine: %s, sq %u cq %u, %u x %u-byte buffers (%u lent to the ring)",
          probe->description, params.sq_entries, params.cq_entries, options.buffer_count,
          options.buffer_size, options.recv_ring_count);
  return engine;
}

UringEngine::~UringEngine() {
  if (ring_initialised_) {
    pool_->DetachRing();
    io_uring_queue_exit(&ring_);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

bool UringEngine::EnsureEnabled() {
  if (enabled_) return true;
  // liburing 2.3 declares io_uring_enable_rings but does not export it: raw syscall.
  if (syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    MTP_ERROR("io_uring enable rings: %s", strerror(errno));
    return false;
  }
  enabled_ = true;
  // Saves an fd lookup per io_uring_enter; optional.
  io_uring_register_ring_fd(&ring_);
  return true;
}

int UringEngine::SubmitPending() {
  if (!EnsureEnabled()) return -EBADFD;
  int ret = io_uring_submit(&ring_);
  ReleaseSubmitCopies();
  return ret;
}

void UringEngine::ReleaseSubmitCopies() {
  if (io_uring_sq_ready(&ring_) != 0) return;
  connect_addr_count_ = 0;
  sendv_count_ = 0;
}

io_uring_sqe* UringEngine::GetSqe() {
  if (fail_sqes_ > 0) {
    --fail_sqes_;
    return nullptr;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) return sqe;
  // SQ full: submit early (more than queue_depth ops queued between two Polls).
  int ret = SubmitPending();
  sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The kernel refused the batch (memory pressure); the caller reports -EAGAIN.
    MTP_ERROR("io_uring: submission queue full and submit failed: %s", strerror(-ret));
  }
  return sqe;
}

io_uring_sqe* UringEngine::GetSqeOrFail(uint64_t user_data) {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) failed_.push_back(IoCompletion{user_data, -EAGAIN, -1, false});
  return sqe;
}

void UringEngine::ArmWakeRead() {
  io_uring_sqe* sqe = GetSqe();
  wake_read_armed_ = sqe != nullptr;  // else retried by the next Poll
  if (sqe == nullptr) return;
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
  sqe->user_data = kWakeTag;
}

void UringEngine::Accept(int listen_fd, uint64_t user_data) {
  io_uring_sqe* sqe = GetSqeOrFail(user_data);
  if (sqe == nullptr) return;
  io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  sqe->user_data = user_data;
}

void UringEngine::Recv(int fd, uint64_t user_data) {
  io_uring_sqe* sqe = GetSqeOrFail(user_data);
  if (sqe == nullptr) return;
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->user_data = user_data;
}

void UringEngine::Send(int fd, const uint8_t* data, uint32_t len, uint64_t user_data) {
  io_uring_sqe* sqe = GetSqeOrFail(user_data);
  if (sqe == nullptr) return;
  io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL);
  sqe->user_data = user_data;
}

void UringEngine::SendMsg(int fd, const msghdr* msg, uint64_t user_data) {
  io_uring_sqe* sqe = GetSqeOrFail(user_data);
  if (sqe == nullptr) return;
  io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
  sqe->user_data = user_data;
}

void UringEngine::SendV(int fd, const iovec* iov, int count, uint64_t user_data) {
  if (count <= 0 || count > kMaxSendSegments) {
    failed_.push_back(IoCompletion{user_data, -EINVAL, -1, false});
    return;
  }
  if (sendv_count_ == kMaxPendingSendVs) SubmitPending();
  if (sendv_count_ == kMaxPendingSendVs) {
    // The kernel left SQEs unconsumed (memory pressure): the slots are still its. Sending the
    // first iovec alone is a legal short send.
    Send(fd, static_cast<const uint8_t*>(iov[0].iov_base), static_cast<uint32_t>(iov[0].iov_len),
         user_data);
    return;
  }
  io_uring_sqe* sqe = GetSqeOrFail(user_data);
  if (sqe == nullptr) return;
  // GetSqe may have submitted (SQ full), which frees the slots: take one only now.
  SendVSlot& slot = sendv_slots_[sendv_count_++];
  std::memcpy(slot.iov, iov, sizeof(iovec) * static_cast<size_t>(count));
  slot.msg = msghdr{};
  slot.msg.msg_iov = slot.iov;
  slot.msg.msg_iovlen = static_cast<size_t>(count);
  io_uring_prep_sendmsg(sqe, fd, &slot.msg, MSG_NOSIGNAL);
  sqe->user_data = user_data;
}

void UringEngine::Connect(int fd, const sockaddr* addr, socklen_t addrlen, uint64_t user_data) {
  if (addrlen > sizeof(sockaddr_storage)) addrlen = sizeof(sockaddr_storage);
  if (connect_addr_count_ == kMaxPendingConnects) SubmitPending();
  io_uring_sqe* sqe = connect_addr_count_ < kMaxPendingConnects ? GetSqeOrFail(user_data)
                                                                : nullptr;
  if (sqe == nullptr) {
    if (connect_addr_count_ == kMaxPendingConnects) {
      failed_.push_back(IoCompletion{user_data, -EAGAIN, -1, false});
    }
    return;
  }
  sockaddr_storage* copy = &connect_addrs_[connect_addr_count_++];
  std::memcpy(copy, addr, addrlen);
  io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(copy), addrlen);
  sqe->user_data = user_data;
}

bool UringEngine::QueueCancel(const PendingCancel& cancel) {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return false;
  if (cancel.by_fd) {
    io_uring_prep_cancel_fd(sqe, cancel.fd, IORING_ASYNC_CANCEL_ALL);
  } else {
    io_uring_prep_cancel64(sqe, cancel.user_data, IORING_ASYNC_CANCEL_ALL);
  }
  sqe->user_data = kCancelTag;
  return true;
}

void UringEngine::CancelOp(int fd, uint64_t user_data) {
  PendingCancel cancel{false, fd, user_data};
  if (!QueueCancel(cancel)) pending_cancels_.push_back(cancel);
}

void UringEngine::CancelAll(int fd) {
  PendingCancel cancel{true, fd, 0};
  if (!QueueCancel(cancel)) pending_cancels_.push_back(cancel);
}

void UringEngine::HandleInternal(const io_uring_cqe& cqe) {
  if (cqe.user_data == kWakeTag) {
    if (cqe.res < 0 && cqe.res != -EINTR) {
      MTP_ERROR("io_uring: wake eventfd read failed: %s", strerror(-cqe.res));
    }
    // Cleared after the eventfd was consumed (see EpollEngine::Poll for why this order).
    wake_pending_.exchange(false, std::memory_order_acq_rel);
    ArmWakeRead();
  }
  // kCancelTag: the cancel request's own result (count, -ENOENT, -EALREADY) is not needed:
  // the cancelled ops report for themselves.
}

int UringEngine::Poll(std::span<IoCompletion> out, int64_t timeout_us) {
  if (!EnsureEnabled()) return 0;
  if (!wake_read_armed_) ArmWakeRead();
  size_t retried = 0;
  while (retried < pending_cancels_.size() && QueueCancel(pending_cancels_[retried])) ++retried;
  pending_cancels_.erase(pending_cancels_.begin(), pending_cancels_.begin() + retried);
  size_t n = 0;
  while (failed_head_ < failed_.size() && n < out.size()) out[n++] = failed_[failed_head_++];
  if (failed_head_ == failed_.size()) {
    failed_.clear();
    failed_head_ = 0;
  }
  int ret;
  if (n > 0 || timeout_us == 0 || io_uring_cq_ready(&ring_) > 0) {
    ret = io_uring_submit_and_get_events(&ring_);
  } else if (timeout_us < 0) {
    ret = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts;
    ts.tv_sec = timeout_us / 1000000;
    ts.tv_nsec = (timeout_us % 1000000) * 1000;
    io_uring_cqe* cqe = nullptr;
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  ReleaseSubmitCopies();
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
    MTP_ERROR("io_uring_enter: %s", strerror(-ret));
  }

  unsigned seen = 0;
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (cqe->user_data >= kReservedUserDataMin) {
      ++seen;
      HandleInternal(*cqe);
      continue;
    }
    if (n == out.size()) break;
    ++seen;
    IoCompletion& c = out[n++];
    c.user_data = cqe->user_data;
    c.result = cqe->res;
    c.more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    c.buffer_id = -1;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      int32_t id = static_cast<int32_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (pool_->OnRingConsumed(id)) {
        if (cqe->res > 0) {
          c.buffer_id = id;
        } else {
          pool_->Release(id);  // no data in it: straight back to the ring
        }
      }
    }
  }
  io_uring_cq_advance(&ring_, seen);
  return static_cast<int>(n);
}

void UringEngine::Wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

}  // namespace mtp
