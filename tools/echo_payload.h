// The test peers' echo contract: MTProto-shaped payloads generated deterministically from
// (stream seed, sequence number, size) so a receiver can verify an echo byte for byte without
// keeping a copy, the 40-byte unencrypted req_pq_multi, and the quick-ack token the fake ME
// and fake DC answer with. Pure functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/bytes.h"

namespace mtp::tools {

// The proxy drops encrypted-looking payloads shorter than this (client-transports.md §4.2).
inline constexpr size_t kMinEncryptedPayloadBytes = 56;
// MAX_POST_SIZE of the reference: the largest frame a client may send.
inline constexpr size_t kMaxPayloadBytes = 1044480;
inline constexpr size_t kReqPqMultiBytes = 40;
inline constexpr uint32_t kRpcPingConstructor = 0x5730a2df;

// A fresh random auth_key_id: non-zero, and its low word is not RPC_PING (the proxy would
// swallow such a frame as a ping).
uint64_t RandomAuthKeyId();

// Fills `out` (size a multiple of 4, >= kMinEncryptedPayloadBytes) with an "encrypted MTProto
// message": bytes 0..8 auth_key_id, 8..16 seq, 16..20 size, then a keystream of
// (stream_seed, seq). Two calls with equal arguments give equal bytes.
void FillPayload(uint64_t auth_key_id, uint64_t stream_seed, uint64_t seq, MutableByteSpan out);

// True if `got` equals FillPayload(auth_key_id, stream_seed, seq, <got.size() bytes>) and its
// size is `expected_size`. No allocation. On mismatch *first_bad_offset (if given) gets the
// first differing byte offset (or expected_size when only the size differs).
bool VerifyPayload(uint64_t auth_key_id, uint64_t stream_seed, uint64_t seq,
                   size_t expected_size, ByteSpan got, size_t* first_bad_offset = nullptr);

// Decodes the header FillPayload wrote (seq and size), for diagnostics and for peers that must
// identify a payload. False if `payload` is shorter than 20 bytes.
bool PeekPayloadHeader(ByteSpan payload, uint64_t* auth_key_id, uint64_t* seq, uint32_t* size);

// An unencrypted req_pq_multi (auth_key_id 0, msg_id, length 20, constructor 0xbe7e8ef1,
// 16-byte nonce), as a client's first frame. Layout of test-vectors.md A.5.
std::array<uint8_t, kReqPqMultiBytes> BuildReqPqMulti(uint64_t msg_id,
                                                      std::span<const uint8_t, 16> nonce);

// The quick-ack token the fake ME (RPC_SIMPLE_ACK confirm) and the fake DC answer for a
// payload whose sender asked for a quick ack: CRC32C of the payload with bit 31 set (real DCs
// also set bit 31, which is how clients tell a bare ack from a frame length).
uint32_t EchoQuickAckToken(ByteSpan payload);

}  // namespace mtp::tools
