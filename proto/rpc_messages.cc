// TCP-RPC message bodies: encoders, decoders and the nonce/handshake validation rules.
#include "proto/rpc_messages.h"

#include <cassert>
#include <cstdlib>
#include <cstring>

namespace mtp {
namespace {

bool HasType(ByteSpan payload, uint32_t type) { return RpcMessageType(payload) == type; }

// Fixed offsets of RPC_PROXY_REQ.
constexpr size_t kReqOffFlags = 4;
constexpr size_t kReqOffId = 8;
constexpr size_t kReqOffClientIp = 16;
constexpr size_t kReqOffClientPort = 32;
constexpr size_t kReqOffProxyIp = 36;
constexpr size_t kReqOffProxyPort = 52;
constexpr size_t kReqOffExtraSize = 56;

size_t TagSectionBytes(size_t ad_tag_bytes) { return 4 + TlStringSize(ad_tag_bytes); }

}  // namespace

// ---- Process id ----

ProcessId MakeProcessId(uint32_t ipv4, int port, int64_t os_pid, int32_t utime) {
  ProcessId id;
  id.ip = ipv4;
  id.port = static_cast<uint16_t>(port);
  id.pid = static_cast<uint16_t>(os_pid);
  id.utime = utime;
  return id;
}

void EncodeProcessId(const ProcessId& pid, uint8_t* out) {
  StoreLe32(out, pid.ip);
  StoreLe16(out + 4, pid.port);
  StoreLe16(out + 6, pid.pid);
  StoreLe32(out + 8, static_cast<uint32_t>(pid.utime));
}

ProcessId DecodeProcessId(const uint8_t* in) {
  ProcessId pid;
  pid.ip = LoadLe32(in);
  pid.port = LoadLe16(in + 4);
  pid.pid = LoadLe16(in + 6);
  pid.utime = static_cast<int32_t>(LoadLe32(in + 8));
  return pid;
}

bool MatchesPid(const ProcessId& pattern, const ProcessId& pid) {
  return (pattern.ip == 0 || pattern.ip == pid.ip) &&
         (pattern.port == 0 || pattern.port == pid.port) &&
         (pattern.pid == 0 || pattern.pid == pid.pid) &&
         (pattern.utime == 0 || pattern.utime == pid.utime);
}

// ---- Nonce ----

uint32_t RpcKeySelector(ByteSpan secret) {
  return secret.size() >= 4 ? LoadLe32(secret.data()) : 0;
}

size_t RpcNoncePayloadSize(const RpcNonce& nonce) {
  switch (nonce.schema) {
    case RpcCryptoSchema::kNone:
    case RpcCryptoSchema::kAes:
      return kRpcNoncePayloadBytes;
    case RpcCryptoSchema::kAesExt:
      return nonce.extra_key_count <= kRpcMaxExtraKeys
                 ? kRpcNoncePayloadBytes + 4 + 4 * nonce.extra_key_count
                 : 0;
    case RpcCryptoSchema::kAesDh:
      return 0;
  }
  return 0;
}

size_t EncodeRpcNonce(const RpcNonce& nonce, MutableByteSpan out) {
  const size_t size = RpcNoncePayloadSize(nonce);
  assert(size > 0 && out.size() >= size);
  uint8_t* p = out.data();
  StoreLe32(p, kRpcNonce);
  StoreLe32(p + 4, nonce.key_select);
  StoreLe32(p + 8, static_cast<uint32_t>(nonce.schema));
  StoreLe32(p + 12, static_cast<uint32_t>(nonce.crypto_ts));
  std::memcpy(p + 16, nonce.nonce.data(), 16);
  if (nonce.schema == RpcCryptoSchema::kAesExt) {
    StoreLe32(p + 32, nonce.extra_key_count);
    for (uint32_t i = 0; i < nonce.extra_key_count; ++i) {
      StoreLe32(p + 36 + 4 * i, nonce.extra_keys[i]);
    }
  }
  return size;
}

RpcError CheckPeerNonce(ByteSpan payload, uint32_t own_key_select, int64_t own_time,
                        RpcNonce* out, uint32_t max_clock_skew_s) {
  if (!HasType(payload, kRpcNonce)) return RpcError::kUnexpectedType;
  const size_t len = payload.size();
  if (len < kRpcNoncePayloadBytes || len > kRpcNonceMaxPayloadBytes) return RpcError::kBadNonce;
  const uint8_t* p = payload.data();
  RpcNonce n;
  n.key_select = LoadLe32(p + 4);
  const int32_t schema = static_cast<int32_t>(LoadLe32(p + 8));
  n.crypto_ts = static_cast<int32_t>(LoadLe32(p + 12));
  std::memcpy(n.nonce.data(), p + 16, 16);

  // Layout by schema. The DH variant carries {extra keys, dh_params_select, g_a[256]}.
  constexpr size_t kDhTailBytes = 4 + 256;
  switch (schema) {
    case static_cast<int32_t>(RpcCryptoSchema::kNone):
    case static_cast<int32_t>(RpcCryptoSchema::kAes):
      if (len != kRpcNoncePayloadBytes) return RpcError::kBadNonce;
      break;
    case static_cast<int32_t>(RpcCryptoSchema::kAesExt):
    case static_cast<int32_t>(RpcCryptoSchema::kAesDh): {
      const size_t tail = schema == static_cast<int32_t>(RpcCryptoSchema::kAesDh) ? kDhTailBytes : 0;
      if (len < kRpcNoncePayloadBytes + 4 + tail) return RpcError::kBadNonce;
      const int32_t count = static_cast<int32_t>(LoadLe32(p + 32));
      if (count < 0 || count > static_cast<int32_t>(kRpcMaxExtraKeys) ||
          len != kRpcNoncePayloadBytes + 4 + 4 * static_cast<size_t>(count) + tail) {
        return RpcError::kBadNonce;
      }
      n.extra_key_count = static_cast<uint32_t>(count);
      for (int32_t i = 0; i < count; ++i) n.extra_keys[i] = LoadLe32(p + 36 + 4 * i);
      break;
    }
    default:
      return RpcError::kBadNonce;
  }
  n.schema = static_cast<RpcCryptoSchema>(schema);

  switch (n.schema) {
    case RpcCryptoSchema::kNone:
      return n.key_select != 0 ? RpcError::kKeyMismatch : RpcError::kUnencrypted;
    case RpcCryptoSchema::kAesDh:
      return RpcError::kDhUnsupported;
    case RpcCryptoSchema::kAesExt: {
      // select_best_key_signature: our key if the peer offers it in any position.
      bool offered = n.key_select == own_key_select;
      for (uint32_t i = 0; i < n.extra_key_count; ++i) {
        offered = offered || n.extra_keys[i] == own_key_select;
      }
      n.key_select = offered ? own_key_select : 0;
      break;
    }
    case RpcCryptoSchema::kAes:
      break;
  }
  if (n.key_select == 0 || n.key_select != own_key_select) return RpcError::kKeyMismatch;
  const int64_t skew = static_cast<int64_t>(n.crypto_ts) - own_time;
  if (skew > static_cast<int64_t>(max_clock_skew_s) ||
      -skew > static_cast<int64_t>(max_clock_skew_s)) {
    return RpcError::kClockSkew;
  }
  *out = n;
  return RpcError::kOk;
}

// ---- Handshake ----

size_t EncodeRpcHandshake(const RpcHandshake& handshake, MutableByteSpan out) {
  assert(out.size() >= kRpcHandshakePayloadBytes);
  uint8_t* p = out.data();
  StoreLe32(p, kRpcHandshake);
  StoreLe32(p + 4, handshake.flags);
  EncodeProcessId(handshake.sender_pid, p + 8);
  EncodeProcessId(handshake.peer_pid, p + 20);
  return kRpcHandshakePayloadBytes;
}

RpcError CheckPeerHandshake(ByteSpan payload, const ProcessId& own_pid, bool check_peer_pid,
                            RpcHandshake* out) {
  const uint32_t type = RpcMessageType(payload);
  if (type == kRpcHandshakeError) return RpcError::kHandshakeRejected;
  if (type != kRpcHandshake) return RpcError::kUnexpectedType;
  if (payload.size() != kRpcHandshakePayloadBytes) return RpcError::kBadHandshakeLength;
  RpcHandshake h;
  h.flags = LoadLe32(payload.data() + 4);
  h.sender_pid = DecodeProcessId(payload.data() + 8);
  h.peer_pid = DecodeProcessId(payload.data() + 20);
  *out = h;
  if (check_peer_pid && !MatchesPid(h.peer_pid, own_pid)) return RpcError::kPeerPidMismatch;
  if ((h.flags & 0xff) != 0) return RpcError::kBadHandshakeFlags;
  return RpcError::kOk;
}

size_t EncodeRpcHandshakeError(const RpcHandshakeError& error, MutableByteSpan out) {
  assert(out.size() >= kRpcHandshakeErrorPayloadBytes);
  StoreLe32(out.data(), kRpcHandshakeError);
  StoreLe32(out.data() + 4, static_cast<uint32_t>(error.error_code));
  EncodeProcessId(error.sender_pid, out.data() + 8);
  return kRpcHandshakeErrorPayloadBytes;
}

bool DecodeRpcHandshakeError(ByteSpan payload, RpcHandshakeError* out) {
  if (payload.size() != kRpcHandshakeErrorPayloadBytes || !HasType(payload, kRpcHandshakeError)) {
    return false;
  }
  out->error_code = static_cast<int32_t>(LoadLe32(payload.data() + 4));
  out->sender_pid = DecodeProcessId(payload.data() + 8);
  return true;
}

// ---- TL strings ----

size_t TlStringSize(size_t length) {
  const size_t prefix = length < 254 ? 1 : 4;
  return (prefix + length + 3) & ~size_t{3};
}

size_t EncodeTlString(ByteSpan data, MutableByteSpan out) {
  assert(data.size() <= kTlStringMaxBytes);
  const size_t total = TlStringSize(data.size());
  assert(out.size() >= total);
  uint8_t* p = out.data();
  size_t prefix;
  if (data.size() < 254) {
    p[0] = static_cast<uint8_t>(data.size());
    prefix = 1;
  } else {
    StoreLe32(p, (static_cast<uint32_t>(data.size()) << 8) | 0xfe);
    prefix = 4;
  }
  if (!data.empty()) std::memcpy(p + prefix, data.data(), data.size());
  std::memset(p + prefix + data.size(), 0, total - prefix - data.size());
  return total;
}

bool DecodeTlString(ByteSpan in, ByteSpan* data, size_t* consumed) {
  if (in.empty()) return false;
  size_t prefix;
  size_t length;
  if (in[0] < 254) {
    prefix = 1;
    length = in[0];
  } else if (in[0] == 254) {
    if (in.size() < 4) return false;
    prefix = 4;
    length = LoadLe32(in.data()) >> 8;
  } else {
    return false;  // 0xff is not a valid TL string prefix
  }
  const size_t total = (prefix + length + 3) & ~size_t{3};
  if (in.size() < total) return false;
  *data = in.subspan(prefix, length);
  *consumed = total;
  return true;
}

// ---- RPC_PROXY_REQ ----

Ipv6Bytes Ipv4MappedIpv6(uint32_t ipv4) {
  Ipv6Bytes ip{};
  ip[10] = 0xff;
  ip[11] = 0xff;
  ip[12] = static_cast<uint8_t>(ipv4 >> 24);
  ip[13] = static_cast<uint8_t>(ipv4 >> 16);
  ip[14] = static_cast<uint8_t>(ipv4 >> 8);
  ip[15] = static_cast<uint8_t>(ipv4);
  return ip;
}

uint32_t MakeRpcProxyReqFlags(RpcClientFraming framing, bool has_ad_tag, bool unencrypted,
                              bool quick_ack) {
  uint32_t flags = kRpcReqFlagExtServer | kRpcReqFlagExtMode2;
  switch (framing) {
    case RpcClientFraming::kAbridged:
      flags |= kRpcReqFlagAbridged;
      break;
    case RpcClientFraming::kIntermediate:
    case RpcClientFraming::kPaddedIntermediate:  // RPC_F_PAD is never sent (§11.1)
      flags |= kRpcReqFlagIntermediate;
      break;
  }
  if (has_ad_tag) flags |= kRpcReqFlagProxyTag;
  if (unencrypted) flags |= kRpcReqFlagUnencrypted;
  if (quick_ack) flags |= kRpcReqFlagQuickAck;
  return flags;
}

size_t RpcProxyReqHeaderSize(uint32_t flags, size_t ad_tag_bytes) {
  if ((flags & kRpcReqFlagsExtraMask) == 0) return kRpcProxyReqFixedBytes;
  size_t extra = (flags & kRpcReqFlagProxyTag) != 0 ? TagSectionBytes(ad_tag_bytes) : 0;
  return kRpcProxyReqFixedBytes + 4 + extra;
}

size_t EncodeRpcProxyReqHeader(const RpcProxyReqHeader& header, MutableByteSpan out) {
  const size_t size = RpcProxyReqHeaderSize(header.flags, header.ad_tag.size());
  assert(out.size() >= size);
  uint8_t* p = out.data();
  StoreLe32(p, kRpcProxyReq);
  StoreLe32(p + kReqOffFlags, header.flags);
  StoreLe64(p + kReqOffId, header.ext_conn_id);
  std::memcpy(p + kReqOffClientIp, header.client_ip.data(), 16);
  StoreLe32(p + kReqOffClientPort, header.client_port);
  std::memcpy(p + kReqOffProxyIp, header.proxy_ip.data(), 16);
  StoreLe32(p + kReqOffProxyPort, header.proxy_port);
  if ((header.flags & kRpcReqFlagsExtraMask) != 0) {
    const size_t extra = size - kRpcProxyReqFixedBytes - 4;
    StoreLe32(p + kReqOffExtraSize, static_cast<uint32_t>(extra));
    if ((header.flags & kRpcReqFlagProxyTag) != 0) {
      StoreLe32(p + kReqOffExtraSize + 4, kTlProxyTag);
      EncodeTlString(header.ad_tag, out.subspan(kReqOffExtraSize + 8));
    }
  }
  return size;
}

bool DecodeRpcProxyReq(ByteSpan payload, RpcProxyReqView* out) {
  if (payload.size() < kRpcProxyReqFixedBytes || !HasType(payload, kRpcProxyReq)) return false;
  const uint8_t* p = payload.data();
  RpcProxyReqView v;
  v.flags = LoadLe32(p + kReqOffFlags);
  v.ext_conn_id = LoadLe64(p + kReqOffId);
  std::memcpy(v.client_ip.data(), p + kReqOffClientIp, 16);
  v.client_port = LoadLe32(p + kReqOffClientPort);
  std::memcpy(v.proxy_ip.data(), p + kReqOffProxyIp, 16);
  v.proxy_port = LoadLe32(p + kReqOffProxyPort);
  size_t data_off = kRpcProxyReqFixedBytes;
  if ((v.flags & kRpcReqFlagsExtraMask) != 0) {
    if (payload.size() < kRpcProxyReqFixedBytes + 4) return false;
    const uint32_t extra = LoadLe32(p + kReqOffExtraSize);
    if (extra % 4 != 0 || extra > payload.size() - kRpcProxyReqFixedBytes - 4) return false;
    v.extra = payload.subspan(kReqOffExtraSize + 4, extra);
    data_off = kReqOffExtraSize + 4 + extra;
    // Walk the TL objects we know; anything else ends the walk (the ME would reject it).
    ByteSpan rest = v.extra;
    while (rest.size() >= 4) {
      const uint32_t tl_type = LoadLe32(rest.data());
      ByteSpan str;
      size_t used = 0;
      if (tl_type == kTlProxyTag) {
        if (!DecodeTlString(rest.subspan(4), &str, &used)) return false;
        v.ad_tag = str;
        rest = rest.subspan(4 + used);
      } else if (tl_type == kTlHttpQueryInfo) {
        rest = rest.subspan(4);
        for (int i = 0; i < 3; ++i) {
          if (!DecodeTlString(rest, &str, &used)) return false;
          rest = rest.subspan(used);
        }
      } else {
        break;
      }
    }
  }
  v.data = payload.subspan(data_off);
  *out = v;
  return true;
}

// ---- RPC_PROXY_ANS ----

size_t EncodeRpcProxyAnsHeader(uint32_t flags, uint64_t ext_conn_id, MutableByteSpan out) {
  assert(out.size() >= kRpcProxyAnsHeaderBytes);
  StoreLe32(out.data(), kRpcProxyAns);
  StoreLe32(out.data() + 4, flags);
  StoreLe64(out.data() + 8, ext_conn_id);
  return kRpcProxyAnsHeaderBytes;
}

bool DecodeRpcProxyAns(ByteSpan payload, RpcProxyAns* out) {
  if (payload.size() < kRpcProxyAnsHeaderBytes || !HasType(payload, kRpcProxyAns)) return false;
  out->flags = LoadLe32(payload.data() + 4);
  out->ext_conn_id = LoadLe64(payload.data() + 8);
  out->data = payload.subspan(kRpcProxyAnsHeaderBytes);
  return true;
}

// ---- Small fixed-size messages ----

size_t EncodeRpcSimpleAck(const RpcSimpleAck& ack, MutableByteSpan out) {
  assert(out.size() >= kRpcSimpleAckBytes);
  StoreLe32(out.data(), kRpcSimpleAck);
  StoreLe64(out.data() + 4, ack.ext_conn_id);
  StoreLe32(out.data() + 12, ack.confirm);
  return kRpcSimpleAckBytes;
}

bool DecodeRpcSimpleAck(ByteSpan payload, RpcSimpleAck* out) {
  if (payload.size() != kRpcSimpleAckBytes || !HasType(payload, kRpcSimpleAck)) return false;
  out->ext_conn_id = LoadLe64(payload.data() + 4);
  out->confirm = LoadLe32(payload.data() + 12);
  return true;
}

size_t EncodeRpcClose(uint32_t type, uint64_t ext_conn_id, MutableByteSpan out) {
  assert(out.size() >= kRpcCloseBytes);
  StoreLe32(out.data(), type);
  StoreLe64(out.data() + 4, ext_conn_id);
  return kRpcCloseBytes;
}

bool DecodeRpcClose(ByteSpan payload, uint32_t type, uint64_t* ext_conn_id) {
  if (payload.size() != kRpcCloseBytes || !HasType(payload, type)) return false;
  *ext_conn_id = LoadLe64(payload.data() + 4);
  return true;
}

size_t EncodeRpcPing(uint32_t type, uint64_t ping_id, MutableByteSpan out) {
  assert(out.size() >= kRpcPingBytes);
  StoreLe32(out.data(), type);
  StoreLe64(out.data() + 4, ping_id);
  return kRpcPingBytes;
}

bool DecodeRpcPing(ByteSpan payload, uint32_t type, uint64_t* ping_id) {
  if (payload.size() != kRpcPingBytes || !HasType(payload, type)) return false;
  *ping_id = LoadLe64(payload.data() + 4);
  return true;
}

}  // namespace mtp
