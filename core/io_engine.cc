// CreateIoEngine: backend selection with the io_uring -> epoll fallback.
#include "core/io_engine.h"

#include <unistd.h>

#include "absl/status/status.h"
#include "core/epoll_engine.h"
#include "core/log.h"
#include "core/uring_engine.h"

namespace mtp {

absl::StatusOr<int> IoEngine::OpenListener(const ListenOptions& options) {
  return CreateListenSocket(options);
}
absl::StatusOr<int> IoEngine::OpenOutbound(int family, const OutboundOptions& options) {
  return CreateOutboundSocket(family, options);
}
absl::StatusOr<SocketAddress> IoEngine::PeerAddressOf(int fd) { return PeerAddress(fd); }
absl::StatusOr<SocketAddress> IoEngine::LocalAddressOf(int fd) { return LocalAddress(fd); }
void IoEngine::TuneAccepted(int fd, int window_clamp_bytes) {
  if (window_clamp_bytes > 0) (void)SetWindowClamp(fd, window_clamp_bytes);
}
void IoEngine::Close(int fd) { close(fd); }

absl::StatusOr<std::unique_ptr<IoEngine>> CreateIoUringEngine(const IoEngineOptions& options) {
  auto engine = UringEngine::Create(options);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<IoEngine>(std::move(*engine));
}

absl::StatusOr<std::unique_ptr<IoEngine>> CreateEpollEngine(const IoEngineOptions& options) {
  auto engine = EpollEngine::Create(options);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<IoEngine>(std::move(*engine));
}

absl::StatusOr<std::unique_ptr<IoEngine>> CreateIoEngine(IoBackend backend,
                                                         const IoEngineOptions& options) {
  switch (backend) {
    case IoBackend::kIoUring:
      return CreateIoUringEngine(options);
    case IoBackend::kEpoll:
      return CreateEpollEngine(options);
    case IoBackend::kAuto:
      break;
  }
  auto probe = ProbeIoUring();
  if (!probe.ok()) {
    // Logged once per process: every shard falls back for the same reason.
    static const bool logged = [&] {
      MTP_WARN("io_uring unavailable (%s); using the epoll backend", probe.status().message());
      return true;
    }();
    (void)logged;
    return CreateEpollEngine(options);
  }
  auto engine = CreateIoUringEngine(options);
  if (engine.ok() || absl::IsInvalidArgument(engine.status())) return engine;
  MTP_WARN("io_uring engine creation failed (%s); using the epoll backend",
           engine.status().message());
  return CreateEpollEngine(options);
}

}  // namespace mtp
