// TCP-RPC packet framing (middle-end-rpc.md §2): {len, seq, payload, crc} encoding into caller
// buffers, flush padding with `04 00 00 00` words, and an incremental decoder over a plaintext
// byte stream. Allocation-free; the error enum shared by every RPC codec and RpcLink lives here.
// Pure values: any thread, one decoder per connection direction.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"

namespace mtp {

// Checksum of the framing: CRC32 until the handshake negotiates CRC32C (flag 0x800).
enum class RpcCrc : uint8_t { kCrc32, kCrc32c };

// Why an RPC connection must be closed. Values are small and stable; RpcErrorCloseCode() maps
// each to the reference's fail_connection() code (client role).
enum class RpcError : uint8_t {
  kOk = 0,
  // Framing (tcp_rpcc_parse_execute).
  kBadLength,       // total_len <= 0 or % 4 != 0                                  (-1)
  kTooLong,         // total_len > configured maximum                              (-1)
  kTooShort,        // 4 < total_len < 16                                          (-2)
  kBadCrc,          // CRC mismatch                                                (-3)
  kBadSeq,          // seq_no != expected                                          (-4)
  // Nonce (tcp_rpcc_process_nonce_packet).
  kUnexpectedType,  // seq -2 not RPC_NONCE / seq -1 not RPC_HANDSHAKE             (-2)
  kBadNonce,        // nonce length / schema / extra-key layout invalid            (-3)
  kKeyMismatch,     // key selector is not ours (or 0)                             (-3)
  kUnencrypted,     // schema NONE: we never allow unencrypted links               (-5)
  kClockSkew,       // |peer crypto_ts - our nonce time| > 30 s                    (-6)
  kDhUnsupported,   // schema AES_DH: we never request DH                          (-7)
  kKeyDerivation,   // no usable secret / cipher init failed                       (-6)
  // Handshake (tcp_rpcc_process_handshake_packet); RPC_HANDSHAKE_ERROR is sent first.
  kBadHandshakeLength,  // payload != 32 bytes                                    (-3)
  kPeerPidMismatch,     // peer_pid does not match our PID                         (-4)
  kBadHandshakeFlags,   // flags & 0xff != 0                                       (-7)
  kHandshakeRejected,   // the peer sent RPC_HANDSHAKE_ERROR                        (-2)
  // Link state / bounds (ours, no reference equivalent).
  kLinkFailed,      // the link already failed; it accepts no more input or output  (-1)
  kNotReady,        // data message offered before the handshake completed           (-1)
  kBufferLimit,     // a bounded internal buffer would overflow                     (-1)
};

int RpcErrorCloseCode(RpcError error);
const char* RpcErrorName(RpcError error);

inline constexpr size_t kRpcPacketOverheadBytes = 12;  // len + seq + crc
inline constexpr size_t kRpcPacketMinBytes = 16;       // smallest real packet
inline constexpr size_t kRpcPaddingWordBytes = 4;      // `04 00 00 00`
inline constexpr size_t kRpcBlockBytes = 16;           // AES block: flushes pad to this
inline constexpr int32_t kRpcSeqNonce = -2;
inline constexpr int32_t kRpcSeqHandshake = -1;

// Whole packet size for a payload of `payload_bytes` (which must be a multiple of 4).
constexpr size_t RpcPacketBytes(size_t payload_bytes) {
  return payload_bytes + kRpcPacketOverheadBytes;
}

// Writes {len, seq, payload, crc} to `out` (out.size() >= RpcPacketBytes(payload.size()),
// payload.size() % 4 == 0 and >= 4; both asserted). `payload` may alias out[8..] (then it is not
// copied). Returns the bytes written.
size_t EncodeRpcPacket(int32_t seq, ByteSpan payload, RpcCrc crc, MutableByteSpan out);

// Zero-copy form: the caller already wrote `payload_bytes` at out[8..]; fills len, seq and crc.
size_t SealRpcPacket(int32_t seq, size_t payload_bytes, RpcCrc crc, MutableByteSpan out);

// Bytes of padding words (0, 4, 8 or 12) that bring `pending_bytes` (a multiple of 4) to a
// multiple of 16.
constexpr size_t RpcFlushPaddingBytes(size_t pending_bytes) {
  return (kRpcBlockBytes - pending_bytes % kRpcBlockBytes) % kRpcBlockBytes;
}

// Writes `padding_bytes` / 4 padding words to `out`. Returns padding_bytes.
size_t WriteRpcPadding(size_t padding_bytes, MutableByteSpan out);

// One decoded packet; `payload` points into the buffer given to RpcPacketDecoder::Next().
struct RpcPacketView {
  int32_t seq = 0;
  ByteSpan payload;  // starts with the 4-byte type; size % 4 == 0, >= 4
};

enum class RpcDecodeStatus : uint8_t {
  kPacket,    // one packet decoded
  kNeedMore,  // the front of the buffer is an incomplete packet
  kError,     // the stream is invalid; see RpcDecodeResult::error
};

struct RpcDecodeResult {
  RpcDecodeStatus status = RpcDecodeStatus::kNeedMore;
  RpcError error = RpcError::kOk;
  // Bytes at the front of the buffer the caller may drop now: skipped padding words, plus the
  // packet itself for kPacket. Valid for every status (0 on kError).
  size_t consumed = 0;
  // kNeedMore: total bytes (counted from after `consumed`) needed before Next() can progress:
  // 4 while the length word is incomplete, else the whole packet length.
  size_t needed = 0;
  RpcPacketView packet;
};

// Incremental decoder of the plaintext packet stream of one direction. It keeps only the
// expected sequence number, the CRC kind and the length limit; the caller owns the bytes and
// passes the not-yet-consumed front each time. Checks run in the reference's order: length
// word, padding skip, minimum length, completeness, CRC, sequence number.
class RpcPacketDecoder {
 public:
  // `max_packet_bytes` = 0: no upper limit (the proxy's setting for ME packets).
  explicit RpcPacketDecoder(int32_t first_seq = kRpcSeqNonce, RpcCrc crc = RpcCrc::kCrc32,
                            uint32_t max_packet_bytes = 0)
      : expected_seq_(first_seq), crc_(crc), max_packet_bytes_(max_packet_bytes) {}

  // Decodes at most one packet from the front of `data`. On kPacket the expected sequence
  // number advances. After kError the decoder must not be used again.
  RpcDecodeResult Next(ByteSpan data);

  int32_t expected_seq() const { return expected_seq_; }
  RpcCrc crc() const { return crc_; }
  void set_crc(RpcCrc crc) { crc_ = crc; }
  uint32_t max_packet_bytes() const { return max_packet_bytes_; }

 private:
  int32_t expected_seq_;
  RpcCrc crc_;
  uint32_t max_packet_bytes_;
};

}  // namespace mtp
