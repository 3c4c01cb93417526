// ProbeIoUring: finds, once per process, whether io_uring offers everything UringEngine uses.
// Feature detection only: setup flags, opcodes and multishot/cancel behaviour are tried on a
// throw-away ring. Kernel versions are never compared.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/uring_engine.h"

namespace mtp {
namespace {

constexpr uint64_t kProbeRecv = kReservedUserDataMin + 0x10;
constexpr uint64_t kProbeAccept = kReservedUserDataMin + 0x11;
constexpr uint64_t kProbeCancelFd = kReservedUserDataMin + 0x12;
constexpr uint64_t kProbeCancelUd = kReservedUserDataMin + 0x13;
constexpr uint16_t kProbeGroup = 7;

std::string ReadIoUringDisabledSysctl() {
  int fd = open("/proc/sys/kernel/io_uring_disabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[16] = {0};
  ssize_t r = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (r <= 0) return "";
  std::string value(buf, static_cast<size_t>(r));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

absl::Status SetupError(int err) {
  std::string msg = absl::StrFormat("io_uring_setup: %s", strerror(err));
  std::string sysctl = ReadIoUringDisabledSysctl();
  if (!sysctl.empty() && sysctl != "0") {
    absl::StrAppend(&msg, " (kernel.io_uring_disabled=", sysctl, ")");
  } else if (err == EPERM) {
    absl::StrAppend(&msg, " (likely blocked by a seccomp profile)");
  } else if (err == ENOSYS) {
    absl::StrAppend(&msg, " (kernel built without io_uring)");
  }
  return absl::UnavailableError(msg);
}

// Waits for `want` completions (or 1 s) and stores their results by user_data.
struct ProbeResults {
  int recv = 1, accept = 1, cancel_fd = 1, cancel_ud = 1;  // 1 = not seen
};

void Collect(io_uring* ring, int want, ProbeResults* results) {
  for (int got = 0; got < want;) {
    __kernel_timespec ts{1, 0};
    io_uring_cqe* cqe = nullptr;
    int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nullptr);
    if (ret < 0 && ret != -EINTR) return;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      // A multishot op may post intermediate completions; only the final one counts.
      bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
      switch (cqe->user_data) {
        case kProbeRecv:
          if (!more) results->recv = cqe->res, ++got;
          break;
        case kProbeAccept:
          if (!more) results->accept = cqe->res, ++got;
          break;
        case kProbeCancelFd:
          results->cancel_fd = cqe->res, ++got;
          break;
        case kProbeCancelUd:
          results->cancel_ud = cqe->res, ++got;
          break;
        default:
          break;
      }
    }
    io_uring_cq_advance(ring, seen);
  }
}

absl::Status ProbeOps(io_uring* ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) return absl::UnavailableError("io_uring opcode probe failed");
  struct {
    int op;
    const char* name;
  } const needed[] = {{IORING_OP_NOP, "NOP"},         {IORING_OP_READ, "READ"},
                      {IORING_OP_SEND, "SEND"},       {IORING_OP_RECV, "RECV"},
                      {IORING_OP_ACCEPT, "ACCEPT"},   {IORING_OP_CONNECT, "CONNECT"},
                      {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}};
  for (const auto& op : needed) {
    if (!io_uring_opcode_supported(probe, op.op)) {
      io_uring_free_probe(probe);
      return absl::UnavailableError(absl::StrCat("io_uring lacks IORING_OP_", op.name));
    }
  }
  io_uring_free_probe(probe);

  // Provided-buffer ring (one small page-aligned ring, one buffer).
  static_assert(sizeof(io_uring_buf) == 16);
  void* ring_mem = nullptr;
  if (posix_memalign(&ring_mem, 4096, 4096) != 0) {
    return absl::ResourceExhaustedError("posix_memalign for probe buffer ring");
  }
  std::memset(ring_mem, 0, 4096);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(ring_mem);
  reg.ring_entries = 2;
  reg.bgid = kProbeGroup;
  int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    free(ring_mem);
    return absl::UnavailableError(
        absl::StrFormat("io_uring provided-buffer rings unsupported: %s", strerror(-ret)));
  }
  auto* br = static_cast<io_uring_buf_ring*>(ring_mem);
  static char probe_buf[64];
  io_uring_buf_ring_init(br);
  io_uring_buf_ring_add(br, probe_buf, sizeof(probe_buf), 0, io_uring_buf_ring_mask(2), 0);
  io_uring_buf_ring_advance(br, 1);

  int pair[2] = {-1, -1};
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un autobind{};
  autobind.sun_family = AF_UNIX;
  absl::Status status;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0 || listener < 0 ||
      bind(listener, reinterpret_cast<sockaddr*>(&autobind), sizeof(sa_family_t)) != 0 ||
      listen(listener, 1) != 0) {
    status = absl::InternalError(absl::StrFormat("probe sockets: %s", strerror(errno)));
  } else {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_recv_multishot(sqe, pair[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kProbeGroup;
    sqe->user_data = kProbeRecv;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_multishot_accept(sqe, listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    sqe->user_data = kProbeAccept;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_cancel_fd(sqe, pair[0], IORING_ASYNC_CANCEL_ALL);
    sqe->user_data = kProbeCancelFd;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_cancel64(sqe, kProbeAccept, IORING_ASYNC_CANCEL_ALL);
    sqe->user_data = kProbeCancelUd;
    ProbeResults r;
    Collect(ring, 4, &r);
    if (r.recv == -EINVAL) {
      status = absl::UnavailableError("io_uring lacks multishot recv");
    } else if (r.accept == -EINVAL) {
      status = absl::UnavailableError("io_uring lacks multishot accept");
    } else if (r.cancel_fd == -EINVAL || r.cancel_ud == -EINVAL) {
      status = absl::UnavailableError("io_uring lacks IORING_ASYNC_CANCEL_FD/ALL");
    } else if (r.recv != -ECANCELED || r.accept != -ECANCELED) {
      status = absl::UnavailableError(absl::StrFormat(
          "io_uring multishot probe: unexpected results recv=%d accept=%d", r.recv, r.accept));
    }
  }
  if (pair[0] >= 0) close(pair[0]);
  if (pair[1] >= 0) close(pair[1]);
  if (listener >= 0) close(listener);
  io_uring_unregister_buf_ring(ring, kProbeGroup);
  free(ring_mem);
  return status;
}

absl::StatusOr<UringProbeResult> ProbeUncached() {
  // Operator/test override: behave as if io_uring were unavailable.
  if (const char* env = getenv("MTP_IO_URING"); env != nullptr && std::strcmp(env, "0") == 0) {
    return absl::UnavailableError("disabled by MTP_IO_URING=0");
  }
  struct Candidate {
    uint32_t flags;
    const char* name;
  };
  const Candidate candidates[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN"},
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
       "SINGLE_ISSUER|COOP_TASKRUN"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "COOP_TASKRUN"},
      {0, "plain"},
  };
  for (const Candidate& c : candidates) {
    io_uring ring;
    io_uring_params params{};
    params.flags = c.flags | IORING_SETUP_SUBMIT_ALL;
    int ret = io_uring_queue_init_params(8, &ring, &params);
    if (ret == -EINVAL) continue;  // flag unknown to this kernel: try the next set
    if (ret < 0) return SetupError(-ret);
    UringProbeResult result;
    result.setup_flags = c.flags | IORING_SETUP_SUBMIT_ALL;
    result.features = params.features;
    result.description = c.name;
    absl::Status status;
    // SUBMIT_STABLE: SendV's msghdr/iovec copies are reused once their SQEs are consumed.
    const uint32_t needed_features = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL |
                                     IORING_FEAT_EXT_ARG | IORING_FEAT_SUBMIT_STABLE;
    if ((params.features & needed_features) != needed_features) {
      status = absl::UnavailableError(absl::StrFormat(
          "io_uring lacks NODROP/FAST_POLL/EXT_ARG/SUBMIT_STABLE (features 0x%x)",
          params.features));
    } else {
      status = ProbeOps(&ring);
    }
    io_uring_queue_exit(&ring);
    if (!status.ok()) return status;
    return result;
  }
  return absl::UnavailableError("io_uring rejects every setup flag set we can use");
}

}  // namespace

absl::StatusOr<UringProbeResult> ProbeIoUring() {
  static const absl::StatusOr<UringProbeResult> result = ProbeUncached();  // thread-safe init
  return result;
}

}  // namespace mtp
