// Per-frame classification of a decoded client payload before forwarding (spec
// client-transports.md §4.2): answer PING locally, drop what the middle-end would reject,
// forward the rest with the RPC_PROXY_REQ "unencrypted handshake" flag. Pure; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"

namespace mtp {

inline constexpr uint32_t kRpcPingConstructor = 0x5730a2dfu;
inline constexpr uint32_t kRpcPongConstructor = 0x8430eaa7u;
inline constexpr size_t kPingPayloadBytes = 12;  // constructor + 8-byte ping id
inline constexpr size_t kPongPayloadBytes = 12;

// RPC_PROXY_REQ flag for a payload with auth_key_id == 0 (unencrypted handshake message).
inline constexpr uint32_t kProxyReqFlagUnencrypted = 0x2;

// The four unencrypted constructors the proxy lets through.
inline constexpr uint32_t kReqPqConstructor = 0x60469778u;
inline constexpr uint32_t kReqPqMultiConstructor = 0xbe7e8ef1u;
inline constexpr uint32_t kReqDhParamsConstructor = 0xd712e4beu;
inline constexpr uint32_t kSetClientDhParamsConstructor = 0xf5045f1fu;

enum class FilterVerdict : uint8_t {
  kForward,     // send as RPC_PROXY_REQ with `proxy_req_flags` OR-ed into the flags
  kAnswerPong,  // send BuildPong() back to the client in its framing; do not forward
  kDrop,        // silently discard; the client connection stays open
};

enum class FilterDropReason : uint8_t {
  kNone,
  kPingWrongSize,              // RPC_PING constructor but not exactly 12 bytes
  kTooShort,                   // < 28 bytes
  kNotMultipleOf4,             // length % 4 != 0 (cannot come from DecodeClientFrame)
  kEncryptedTooShort,          // auth_key_id != 0 and < 56 bytes
  kBadUnencryptedLength,       // auth_key_id == 0 and inner length outside [20, len - 20]
  kBadUnencryptedConstructor,  // auth_key_id == 0 and not one of the four constructors
};

struct FilterResult {
  FilterVerdict verdict = FilterVerdict::kDrop;
  FilterDropReason drop_reason = FilterDropReason::kNone;
  uint32_t proxy_req_flags = 0;  // kProxyReqFlagUnencrypted or 0 (kForward only)
};

// Classifies one payload (the frame without prefix and padding) in the reference's order:
// PING check, then size rules, then auth_key_id rules. The reference's 32 MiB connection
// buffer check sits between the PING check and the size rules; it is the caller's (it closes
// the connection, so it must run for every non-PING frame, even ones dropped here).
FilterResult ClassifyClientPayload(ByteSpan payload);

// The local answer to a 12-byte PING: RPC_PONG + the same 8-byte ping id.
// `ping_payload` must be the 12-byte payload that got kAnswerPong.
void BuildPong(ByteSpan ping_payload, std::span<uint8_t, kPongPayloadBytes> out);

}  // namespace mtp
