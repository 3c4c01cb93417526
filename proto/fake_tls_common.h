// Shared constants and small types of the fake-TLS ("ee" secrets, -D domain) codecs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "crypto/secret.h"  // ClientSecret: the raw 16-byte -S secret

namespace mtp {

using TlsRandom = std::array<uint8_t, 32>;     // ClientHello/ServerHello random
using TlsSessionId = std::array<uint8_t, 32>;  // legacy_session_id (always 32 bytes here)
using X25519PublicKey = std::array<uint8_t, 32>;

// TLS record framing.
inline constexpr size_t kTlsRecordHeaderSize = 5;
inline constexpr uint8_t kTlsHandshake = 0x16;
inline constexpr uint8_t kTlsChangeCipherSpec = 0x14;
inline constexpr uint8_t kTlsApplicationData = 0x17;

// ClientHello byte map (offsets from the start of the record, spec client-transports §6.3).
inline constexpr size_t kHelloRandomOffset = 11;
inline constexpr size_t kHelloSessionIdOffset = 44;
inline constexpr size_t kHelloCipherSuitesOffset = 76;  // BE16 length, then the list
// Records with L in [512, 4091] can be accepted: 5 + L must not exceed this.
inline constexpr size_t kMaxClientHelloBytes = 4096;
inline constexpr size_t kMinClientHelloRecordLength = 512;
// Nothing is classified before this many bytes are buffered (reference minimum, §2 item 1).
inline constexpr size_t kClassifyMinBytes = 9;

// ServerHello: 127 bytes of handshake record + 6 bytes CCS + 5 bytes application-data header,
// then E bytes of fake encrypted handshake (§6.6).
inline constexpr size_t kServerHelloFixedSize = 127 + 6 + 5;
inline constexpr size_t ServerHelloSize(size_t encrypted_size) {
  return kServerHelloFixedSize + encrypted_size;
}

// After the ServerHello the client sends CCS + the first application-data record header
// (`14 03 03 00 01 01 17 03 03` + BE16 L1, §6.7); L1 must cover the obfuscated2 header.
inline constexpr size_t kClientFirstRecordPrefixSize = 11;

// Replay-cache retention (MAX_CLIENT_RANDOM_CACHE_TIME, 2 days).
inline constexpr int64_t kReplayRetentionS = 2 * 86400;

}  // namespace mtp
