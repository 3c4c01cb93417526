// Life cycle of a client session (client leg + optional upstream leg) and the table of legal
// transitions. Every state change of a session goes through one function that checks the edge.
#pragma once

#include <cstdint>
#include <string_view>

namespace mtp {

enum class SessionState : uint8_t {
  kFree,        // slot not in use
  kHandshake,   // accepted; waiting for the 64-byte obfuscated2 header
  kSkip,        // bad header: the reference's "skip mode" — keep the socket, discard all input
  kConnecting,  // direct mode: connecting to the DC
  kRelaying,    // traffic flows (ME mode binds to an ME link at the first frame)
  kDraining,    // no more input is read; the pending output to the client is flushed, then close
  kClosing,     // ops cancelled; waiting for in-flight ops to reach zero, then the slot is freed
  // --proxy-protocol: accepted from a trusted balancer; waiting for its PROXY header (the
  // client's bytes follow it). Added last: the simulator's audit records states by number.
  kProxyHeader,
};

constexpr std::string_view SessionStateName(SessionState s) {
  switch (s) {
    case SessionState::kFree:
      return "free";
    case SessionState::kHandshake:
      return "handshake";
    case SessionState::kSkip:
      return "skip";
    case SessionState::kConnecting:
      return "connecting";
    case SessionState::kRelaying:
      return "relaying";
    case SessionState::kDraining:
      return "draining";
    case SessionState::kClosing:
      return "closing";
    case SessionState::kProxyHeader:
      return "proxy_header";
  }
  return "?";
}

// The edges of the session state machine:
//   free -> handshake | proxy_header (accept)
//   proxy_header -> handshake | closing
//   handshake -> skip | connecting | relaying | draining (a refused fake-TLS hello's alert)
//                | closing
//   skip -> closing; connecting -> relaying | closing
//   relaying -> draining | closing; draining -> closing
//   closing -> free (in-flight ops reached zero)
constexpr bool IsLegalSessionTransition(SessionState from, SessionState to) {
  switch (from) {
    case SessionState::kFree:
      return to == SessionState::kHandshake || to == SessionState::kProxyHeader;
    case SessionState::kProxyHeader:
      return to == SessionState::kHandshake || to == SessionState::kClosing;
    case SessionState::kHandshake:
      return to == SessionState::kSkip || to == SessionState::kConnecting ||
             to == SessionState::kRelaying || to == SessionState::kDraining ||
             to == SessionState::kClosing;
    case SessionState::kSkip:
      return to == SessionState::kClosing;
    case SessionState::kConnecting:
      return to == SessionState::kRelaying || to == SessionState::kClosing;
    case SessionState::kRelaying:
      return to == SessionState::kDraining || to == SessionState::kClosing;
    case SessionState::kDraining:
      return to == SessionState::kClosing;
    case SessionState::kClosing:
      return to == SessionState::kFree;
  }
  return false;
}

}  // namespace mtp
