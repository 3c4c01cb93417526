// TCP-RPC packet framing: encoder, flush padding and the incremental stream decoder.
#include "proto/rpc_packet.h"

#include <cassert>
#include <cstring>

#include "crypto/crc32.h"

namespace mtp {
namespace {

uint32_t PacketCrc(RpcCrc crc, ByteSpan data) {
  return crc == RpcCrc::kCrc32c ? Crc32c(data) : Crc32(data);
}

}  // namespace

int RpcErrorCloseCode(RpcError error) {
  switch (error) {
    case RpcError::kOk:
      return 0;
    case RpcError::kBadLength:
    case RpcError::kTooLong:
      return -1;
    case RpcError::kTooShort:
      return -2;
    case RpcError::kBadCrc:
      return -3;
    case RpcError::kBadSeq:
      return -4;
    case RpcError::kUnexpectedType:
      return -2;
    case RpcError::kBadNonce:
    case RpcError::kKeyMismatch:
      return -3;
    case RpcError::kUnencrypted:
      return -5;
    case RpcError::kClockSkew:
    case RpcError::kKeyDerivation:
      return -6;
    case RpcError::kDhUnsupported:
      return -7;
    case RpcError::kBadHandshakeLength:
      return -3;
    case RpcError::kPeerPidMismatch:
      return -4;
    case RpcError::kBadHandshakeFlags:
      return -7;
    case RpcError::kHandshakeRejected:
      return -2;
    case RpcError::kLinkFailed:
    case RpcError::kNotReady:
    case RpcError::kBufferLimit:
      return -1;
  }
  return -1;
}

const char* RpcErrorName(RpcError error) {
  switch (error) {
    case RpcError::kOk:
      return "ok";
    case RpcError::kBadLength:
      return "bad packet length";
    case RpcError::kTooLong:
      return "packet too long";
    case RpcError::kTooShort:
      return "packet too short";
    case RpcError::kBadCrc:
      return "crc mismatch";
    case RpcError::kBadSeq:
      return "bad sequence number";
    case RpcError::kUnexpectedType:
      return "unexpected packet type";
    case RpcError::kBadNonce:
      return "bad nonce packet";
    case RpcError::kKeyMismatch:
      return "key selector mismatch";
    case RpcError::kUnencrypted:
      return "unencrypted link refused";
    case RpcError::kClockSkew:
      return "clock skew over limit";
    case RpcError::kDhUnsupported:
      return "DH not supported";
    case RpcError::kKeyDerivation:
      return "key derivation failed";
    case RpcError::kBadHandshakeLength:
      return "bad handshake length";
    case RpcError::kPeerPidMismatch:
      return "peer pid mismatch";
    case RpcError::kBadHandshakeFlags:
      return "bad handshake flags";
    case RpcError::kHandshakeRejected:
      return "handshake rejected by peer";
    case RpcError::kLinkFailed:
      return "link failed";
    case RpcError::kNotReady:
      return "link not ready";
    case RpcError::kBufferLimit:
      return "buffer limit";
  }
  return "unknown";
}

size_t SealRpcPacket(int32_t seq, size_t payload_bytes, RpcCrc crc, MutableByteSpan out) {
  const size_t total = RpcPacketBytes(payload_bytes);
  assert(payload_bytes >= 4 && payload_bytes % 4 == 0 && out.size() >= total);
  uint8_t* p = out.data();
  StoreLe32(p, static_cast<uint32_t>(total));
  StoreLe32(p + 4, static_cast<uint32_t>(seq));
  StoreLe32(p + 8 + payload_bytes, PacketCrc(crc, ByteSpan(p, 8 + payload_bytes)));
  return total;
}

size_t EncodeRpcPacket(int32_t seq, ByteSpan payload, RpcCrc crc, MutableByteSpan out) {
  assert(out.size() >= RpcPacketBytes(payload.size()));
  if (payload.data() != out.data() + 8 && !payload.empty()) {
    std::memmove(out.data() + 8, payload.data(), payload.size());
  }
  return SealRpcPacket(seq, payload.size(), crc, out);
}

size_t WriteRpcPadding(size_t padding_bytes, MutableByteSpan out) {
  assert(padding_bytes % 4 == 0 && out.size() >= padding_bytes);
  for (size_t i = 0; i < padding_bytes; i += 4) StoreLe32(out.data() + i, 4);
  return padding_bytes;
}

RpcDecodeResult RpcPacketDecoder::Next(ByteSpan data) {
  RpcDecodeResult r;
  size_t pos = 0;
  for (;;) {
    const size_t avail = data.size() - pos;
    if (avail < 4) {
      r.status = RpcDecodeStatus::kNeedMore;
      r.consumed = pos;
      r.needed = 4;
      return r;
    }
    const int32_t len = static_cast<int32_t>(LoadLe32(data.data() + pos));
    if (len <= 0 || (len & 3) != 0) {
      r.status = RpcDecodeStatus::kError;
      r.error = RpcError::kBadLength;
      return r;
    }
    if (max_packet_bytes_ > 0 && static_cast<uint32_t>(len) > max_packet_bytes_) {
      r.status = RpcDecodeStatus::kError;
      r.error = RpcError::kTooLong;
      return r;
    }
    if (len == 4) {  // padding word: no sequence number consumed
      pos += 4;
      continue;
    }
    if (len < static_cast<int32_t>(kRpcPacketMinBytes)) {
      r.status = RpcDecodeStatus::kError;
      r.error = RpcError::kTooShort;
      return r;
    }
    const size_t packet_bytes = static_cast<size_t>(len);
    if (avail < packet_bytes) {
      r.status = RpcDecodeStatus::kNeedMore;
      r.consumed = pos;
      r.needed = packet_bytes;
      return r;
    }
    const uint8_t* p = data.data() + pos;
    const uint32_t crc = LoadLe32(p + packet_bytes - 4);
    if (crc != PacketCrc(crc_, ByteSpan(p, packet_bytes - 4))) {
      r.status = RpcDecodeStatus::kError;
      r.error = RpcError::kBadCrc;
      return r;
    }
    const int32_t seq = static_cast<int32_t>(LoadLe32(p + 4));
    if (seq != expected_seq_) {
      r.status = RpcDecodeStatus::kError;
      r.error = RpcError::kBadSeq;
      return r;
    }
    expected_seq_ = static_cast<int32_t>(static_cast<uint32_t>(expected_seq_) + 1);
    r.status = RpcDecodeStatus::kPacket;
    r.consumed = pos + packet_bytes;
    r.packet.seq = seq;
    r.packet.payload = ByteSpan(p + 8, packet_bytes - kRpcPacketOverheadBytes);
    return r;
  }
}

}  // namespace mtp
