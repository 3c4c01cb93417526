// Why a client session ends: a small enum on the hot path, named in -v logs.
#pragma once

#include <cstdint>
#include <string_view>

namespace mtp {

enum class CloseReason : uint8_t {
  kClientEof,
  kClientError,
  kUpstreamEof,
  kUpstreamError,
  kFrameError,
  kFlood,
  kNoBuffers,
  kNoMeAfterDrop,  // §8.3: an ME became available after a dropped frame
  kCloseExt,       // the ME sent RPC_CLOSE_EXT
  kMeLinkLost,     // the bound ME link failed
  kCryptoFailure,
  kShutdown,
  kRateLimited,         // --max-dh-accept-rate: no handshake budget left
  kHandshakeTimeout,    // no valid header (or skip mode) within the handshake timeout
  kNoUpstream,          // no DC connect / no ME within the handshake timeout
  kIdleTimeout,         // nothing in or out for the idle timeout
  kWriteStall,          // the client stopped reading its output
  kShed,                // shard buffer budget over 3/4: the largest holders go first
  kUpstreamWriteStall,  // direct mode: the DC stopped reading
  kShedPreAuth,         // unauthenticated holders over their share of the budget: oldest first
  kShedPartial,         // partial-frame holders over their share of the budget: oldest first
  kProxyHeaderError,    // --proxy-protocol: the first bytes are no valid PROXY header
  kProxyHeaderTimeout,  // --proxy-protocol: no complete header within its timeout
  kAccessDenied,        // --allow-list / --block-list refuse the client's address
  kTlsRefused,          // -D: a hello refused without fronting (--tls-unknown-sni close|alert)
  kFrontWriteStall,     // -D: the real site stopped reading what the client sends it
  kSecretLimit,         // its named secret's limits (counted per reason: secret_admission.h)
};
std::string_view CloseReasonName(CloseReason reason);

}  // namespace mtp
