// Inner MTProto framings (abridged / intermediate / padded) inside the obfuscated2 stream:
// proxy-side decoder of client frames and encoder of answers and quick acks (spec
// client-transports.md §4.1, §4.3), plus the client-side mirror used by the test client and
// the direct-to-DC mode. Pure functions over plaintext byte spans; no allocation; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"
#include "proto/transport_tag.h"

namespace mtp {

// MAX_POST_SIZE of the reference: 262144 * 4 - 4096. A longer client frame closes the client.
inline constexpr uint32_t kMaxFramePayloadBytes = 1044480;
// Longest length prefix of any framing (abridged long form, intermediate, padded).
inline constexpr size_t kMaxFrameHeaderBytes = 4;
using FrameHeaderBuffer = std::span<uint8_t, kMaxFrameHeaderBytes>;

// ---- Proxy side: client -> proxy frames -------------------------------------------------

enum class FrameStatus : uint8_t {
  kNeedMore,  // not enough bytes buffered; `wanted_bytes` says how many are needed in total
  kFrame,     // a complete frame starts at buffered[0]
  kError,     // protocol violation: close the client connection (fail_connection(C, -1))
};

enum class FrameError : uint8_t {
  kNone,
  kZeroLength,        // length 0 (abridged 0x00/0x80, intermediate/padded 0 or 0x80000000)
  kOverlongAbridged,  // abridged long form with fewer than 0x7f words
  kBit30Set,          // intermediate/padded length with bit 30 set
  kNotMultipleOf4,    // intermediate length % 4 != 0
  kTooLong,           // length > kMaxFramePayloadBytes
};

struct ClientFrame {
  FrameStatus status = FrameStatus::kNeedMore;
  FrameError error = FrameError::kNone;
  bool quick_ack = false;      // client asked for a quick ack (abridged 0x80 / bit 31)
  uint32_t prefix_bytes = 0;   // length prefix to skip (1 or 4)
  uint32_t payload_bytes = 0;  // payload after the prefix; always a multiple of 4
  uint32_t padding_bytes = 0;  // bytes after the payload to drop (padded: length % 4)
  // kNeedMore: total buffered bytes required before the next call can make progress.
  // kFrame: equals frame_bytes().
  size_t wanted_bytes = 0;

  size_t frame_bytes() const { return size_t{prefix_bytes} + payload_bytes + padding_bytes; }
};

// Decodes the client frame at the start of `buffered` (plaintext) with the reference's exact
// rules, in its order:
//  * minimum buffering: nothing is parsed below 9 buffered bytes (abridged) or 12
//    (intermediate/padded), even if a shorter frame is complete (reference quirk §10.1);
//  * abridged: bit 7 of the first byte = quick ack; (b & 0x7f) == 0x7f -> 3-byte LE word count
//    that must be >= 0x7f (kOverlongAbridged);
//  * intermediate/padded: bit 31 = quick ack; then length 0 -> kZeroLength, bit 30 ->
//    kBit30Set, intermediate % 4 -> kNotMultipleOf4; padded keeps length & ~3 as payload;
//  * length > kMaxFramePayloadBytes -> kTooLong (checked before waiting for the body).
// Deviation: a padded frame of length 1..3 is returned with an empty payload (the reference
// aborts on an assert there); the filter then drops it as too short.
ClientFrame DecodeClientFrame(Transport transport, ByteSpan buffered);

// ---- Proxy side: proxy -> client frames -------------------------------------------------

// Writes the length prefix of an answer of `payload_bytes` (a multiple of 4, at most
// 4 * (2^24 - 1)) followed by `padding_bytes` random bytes that the caller appends (padded
// transport only, 0..3; must be 0 for the others). Returns the prefix size (1 or 4).
// abridged: words < 0x7f -> 1 byte; else 0x7f + 3-byte LE words; never sets 0x80.
// intermediate: LE payload_bytes. padded: LE (payload_bytes + padding_bytes).
size_t EncodeServerFrameHeader(Transport transport, uint32_t payload_bytes,
                               uint32_t padding_bytes, FrameHeaderBuffer out);

// Random pad length for a proxy->client frame: uniform 0..3 for padded, 0 otherwise.
uint32_t ServerPaddingBytes(Transport transport);

// Random decisions of a padded-transport quick ack (§4.3); ignored by abridged/intermediate.
// Tests set the fields to force a branch; production uses DrawQuickAckRandom().
struct QuickAckRandom {
  bool bare = true;           // prob. 1/2: send the bare LE token
  bool extra_word_a = false;  // prob. 1/2: frame A (-1, token) carries a 4-byte random word
  bool extra_word_b = false;  // prob. 1/2: frame B (0) carries a 4-byte random word
  uint8_t padding_a = 0;      // 0..3 random pad bytes after frame A
  uint8_t padding_b = 0;      // 0..3 random pad bytes after frame B
  // Source of the random words and pad bytes, consumed in wire order (A word, A pad, B word,
  // B pad).
  std::array<uint8_t, 14> filler{};
};
QuickAckRandom DrawQuickAckRandom();

// The largest quick ack: frame A 4+4+4+4+3 bytes plus frame B 4+4+4+3 bytes.
inline constexpr size_t kMaxServerQuickAckBytes = 34;
// Encodes the quick ack for RPC_SIMPLE_ACK `token` (plaintext, to be CTR-encrypted like any
// output): abridged = token big-endian; intermediate = token LE; padded = bare LE token or the
// two padded frames A and B, as chosen by `random`. Returns the number of bytes written.
size_t EncodeServerQuickAck(Transport transport, uint32_t token, const QuickAckRandom& random,
                            std::span<uint8_t, kMaxServerQuickAckBytes> out);

// ---- Client side: client -> server frames (test client, direct-to-DC) -------------------

// Like EncodeServerFrameHeader but with the quick-ack request bit (abridged: 0x80 on the first
// byte; others: bit 31) and client padding (padded transport, any 0..15 count; 0 otherwise).
size_t EncodeClientFrameHeader(Transport transport, uint32_t payload_bytes,
                               uint32_t padding_bytes, bool quick_ack, FrameHeaderBuffer out);

// tdlib's client pad length: uniform 0..15 for padded, 0 otherwise.
uint32_t ClientPaddingBytes(Transport transport);

// ---- Client side: server -> client frames -----------------------------------------------

enum class ServerFrameKind : uint8_t {
  kNeedMore,  // `wanted_bytes` = total buffered bytes needed
  kFrame,     // an ordinary frame: prefix, payload, padding
  kQuickAck,  // `quick_ack_token` holds the token; drop frame_bytes()
  kNoOp,      // padded filler frame (first word 0); drop frame_bytes()
  kError,     // undecodable length: close
};

struct ServerFrame {
  ServerFrameKind kind = ServerFrameKind::kNeedMore;
  uint32_t prefix_bytes = 0;
  uint32_t payload_bytes = 0;  // padded: length & ~3 (a frame's own words may include padding)
  uint32_t padding_bytes = 0;  // padded: length % 4
  uint32_t quick_ack_token = 0;
  size_t wanted_bytes = 0;

  size_t frame_bytes() const { return size_t{prefix_bytes} + payload_bytes + padding_bytes; }
};

// Decodes what a client reads from the server (no minimum-buffering rule):
//  * abridged: first byte with bit 7 set -> 4-byte big-endian quick ack; else length prefix;
//  * intermediate/padded: LE word with bit 31 set -> bare quick ack (4 bytes);
//  * padded: a frame of fewer than 16 bytes whose first word is -1 and that has a second word
//    is a quick ack (token = second word; tdlib uses < 12, we also accept the reference's
//    12..15-byte frame A); fewer than 12 bytes with first word 0 is a no-op filler;
//  * errors: zero length, intermediate length % 4, length > kMaxFramePayloadBytes + 15.
ServerFrame DecodeServerFrame(Transport transport, ByteSpan buffered);

}  // namespace mtp
