// Log names of the close reasons.
#include "dataplane/session/close_reason.h"

namespace mtp {

std::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClientEof:
      return "client closed";
    case CloseReason::kClientError:
      return "client socket error";
    case CloseReason::kUpstreamEof:
      return "upstream closed";
    case CloseReason::kUpstreamError:
      return "upstream error";
    case CloseReason::kFrameError:
      return "bad frame";
    case CloseReason::kFlood:
      return "buffer cap exceeded";
    case CloseReason::kNoBuffers:
      return "buffer pool exhausted";
    case CloseReason::kNoMeAfterDrop:
      return "ME available again after a dropped frame";
    case CloseReason::kCloseExt:
      return "RPC_CLOSE_EXT";
    case CloseReason::kMeLinkLost:
      return "ME link lost";
    case CloseReason::kCryptoFailure:
      return "cipher failure";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kRateLimited:
      return "handshake rate limit";
    case CloseReason::kHandshakeTimeout:
      return "handshake timeout";
    case CloseReason::kNoUpstream:
      return "no upstream within the handshake timeout";
    case CloseReason::kIdleTimeout:
      return "idle timeout";
    case CloseReason::kWriteStall:
      return "write stall";
    case CloseReason::kShed:
      return "shed under buffer pressure";
    case CloseReason::kUpstreamWriteStall:
      return "DC write stall";
    case CloseReason::kShedPreAuth:
      return "shed: unauthenticated bytes held too long under buffer pressure";
    case CloseReason::kProxyHeaderError:
      return "invalid PROXY protocol header";
    case CloseReason::kProxyHeaderTimeout:
      return "no PROXY protocol header in time";
    case CloseReason::kFrontWriteStall:
      return "real site write stall";
    case CloseReason::kTlsRefused:
      return "fake-TLS hello refused (unknown SNI)";
    case CloseReason::kAccessDenied:
      return "address refused by the allow/block lists";
    case CloseReason::kSecretLimit:
      return "secret limit";
    case CloseReason::kShedPartial:
      return "shed: partial frame held too long under buffer pressure";
  }
  return "?";
}

}  // namespace mtp
