// TCP-RPC message bodies (middle-end-rpc.md §1, §3, §6, §7): constants, process ids, nonce and
// handshake packets with the reference's validation, and the data messages RPC_PROXY_REQ/ANS,
// SIMPLE_ACK, CLOSE_EXT/CLOSE_CONN, PING/PONG. Every function works on the packet *payload*
// (the bytes between seq_no and crc, starting with the 4-byte type) and writes into caller
// buffers; no allocation. Pure functions: any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/bytes.h"
#include "crypto/rpc_keys.h"
#include "proto/rpc_packet.h"

namespace mtp {

// ---- Constants -----------------------------------------------------------------------------

inline constexpr uint32_t kRpcNonce = 0x7acb87aa;
inline constexpr uint32_t kRpcHandshake = 0x7682eef5;
inline constexpr uint32_t kRpcHandshakeError = 0x6a27beda;
inline constexpr uint32_t kRpcProxyReq = 0x36cef1ee;
inline constexpr uint32_t kRpcProxyAns = 0x4403da0d;
inline constexpr uint32_t kRpcCloseConn = 0x1fcf425d;
inline constexpr uint32_t kRpcCloseExt = 0x5eb634a2;
inline constexpr uint32_t kRpcSimpleAck = 0x3bac409b;
inline constexpr uint32_t kRpcPing = 0x5730a2df;
inline constexpr uint32_t kRpcPong = 0x8430eaa7;
inline constexpr uint32_t kTlProxyTag = 0xdb1e26ae;
inline constexpr uint32_t kTlHttpQueryInfo = 0xd45ab381;

// Handshake flags.
inline constexpr uint32_t kRpcHandshakeFlagCrc32c = 0x800;

// RPC_PROXY_REQ flags (§7.1).
inline constexpr uint32_t kRpcReqFlagHttpA = 0x00000001;          // HTTP transport (unused)
inline constexpr uint32_t kRpcReqFlagUnencrypted = 0x00000002;    // auth_key_id == 0 message
inline constexpr uint32_t kRpcReqFlagHttpInfo = 0x00000004;       // extra: TL_HTTP_QUERY_INFO
inline constexpr uint32_t kRpcReqFlagProxyTag = 0x00000008;       // extra: TL_PROXY_TAG
inline constexpr uint32_t kRpcReqFlagExtServer = 0x00001000;      // always, TCP clients
inline constexpr uint32_t kRpcReqFlagHttpB = 0x00002000;          // HTTP transport (unused)
inline constexpr uint32_t kRpcReqFlagExtMode2 = 0x00020000;       // obfuscated2, always
inline constexpr uint32_t kRpcReqFlagPad = 0x08000000;            // never sent by the reference
inline constexpr uint32_t kRpcReqFlagDropped = 0x10000000;
inline constexpr uint32_t kRpcReqFlagIntermediate = 0x20000000;   // also padded intermediate
inline constexpr uint32_t kRpcReqFlagAbridged = 0x40000000;
inline constexpr uint32_t kRpcReqFlagQuickAck = 0x80000000;
inline constexpr uint32_t kRpcReqFlagsExtraMask = kRpcReqFlagHttpInfo | kRpcReqFlagProxyTag;

// Returns the type word of a payload, 0 if it is shorter than 4 bytes.
inline uint32_t RpcMessageType(ByteSpan payload) {
  return payload.size() >= 4 ? LoadLe32(payload.data()) : 0;
}

// ---- Process id (§3.3) ----------------------------------------------------------------------

inline constexpr size_t kProcessIdBytes = 12;

struct ProcessId {
  uint32_t ip = 0;     // IPv4, host order (192.0.2.2 = 0xc0000202; wire bytes 02 02 00 c0)
  uint16_t port = 0;   // raw 16 bits of the int16 (-1 = 0xffff)
  uint16_t pid = 0;
  int32_t utime = 0;
  bool operator==(const ProcessId&) const = default;
};

// Builds a PID: `port` is truncated to 16 bits (pass -1 when -p is absent -> 0xffff) and
// `os_pid` to its low 16 bits (the reference aborts on pid > 65535; we never do).
ProcessId MakeProcessId(uint32_t ipv4, int port, int64_t os_pid, int32_t utime);
void EncodeProcessId(const ProcessId& pid, uint8_t* out);  // writes 12 bytes
ProcessId DecodeProcessId(const uint8_t* in);              // reads 12 bytes
// `matches_pid`: every non-zero field of `pattern` equals the same field of `pid`.
bool MatchesPid(const ProcessId& pattern, const ProcessId& pid);

// ---- RPC_NONCE (§3.1, §3.2) -----------------------------------------------------------------

enum class RpcCryptoSchema : int32_t { kNone = 0, kAes = 1, kAesExt = 2, kAesDh = 3 };

inline constexpr size_t kRpcNoncePayloadBytes = 32;     // schema NONE / AES
inline constexpr size_t kRpcNonceMaxPayloadBytes = 328;  // the DH variant with 8 extra keys
inline constexpr size_t kRpcMaxExtraKeys = 8;
inline constexpr uint32_t kRpcMaxClockSkewSeconds = 30;

struct RpcNonce {
  uint32_t key_select = 0;  // LE int32 of the first 4 secret bytes
  RpcCryptoSchema schema = RpcCryptoSchema::kAes;
  int32_t crypto_ts = 0;    // unix seconds
  RpcNonceBytes nonce{};
  // Schema AES_EXT / AES_DH only.
  uint32_t extra_key_count = 0;
  std::array<uint32_t, kRpcMaxExtraKeys> extra_keys{};
};

// Key selector of a proxy secret: LE int32 of its first 4 bytes (0 if shorter).
uint32_t RpcKeySelector(ByteSpan secret);

// Payload size of `nonce` when encoded: 32 for NONE/AES, 36 + 4n for AES_EXT. AES_DH is not
// encodable (we never request DH) and yields 0.
size_t RpcNoncePayloadSize(const RpcNonce& nonce);
// Writes the payload (type first) to `out` (>= RpcNoncePayloadSize). Returns bytes written.
size_t EncodeRpcNonce(const RpcNonce& nonce, MutableByteSpan out);

// Validates a peer's nonce payload per §3.2 (the client-role rules, which our server role
// applies too): type, length by schema, key selector (own or among the extra keys), clock skew
// against `own_time` (client: our nonce time; server: now). Errors: kUnexpectedType, kBadNonce,
// kKeyMismatch, kUnencrypted, kDhUnsupported, kClockSkew. On kOk `*out` holds the nonce with
// `key_select` replaced by the selected (= own) key selector.
RpcError CheckPeerNonce(ByteSpan payload, uint32_t own_key_select, int64_t own_time,
                        RpcNonce* out, uint32_t max_clock_skew_s = kRpcMaxClockSkewSeconds);

// ---- RPC_HANDSHAKE / RPC_HANDSHAKE_ERROR (§3.4, §3.5) ---------------------------------------

inline constexpr size_t kRpcHandshakePayloadBytes = 32;
inline constexpr size_t kRpcHandshakeErrorPayloadBytes = 20;

struct RpcHandshake {
  uint32_t flags = 0;
  ProcessId sender_pid;
  ProcessId peer_pid;
};

size_t EncodeRpcHandshake(const RpcHandshake& handshake, MutableByteSpan out);  // 32 bytes

// Validates a peer's handshake payload per §3.5: type (kHandshakeRejected for
// RPC_HANDSHAKE_ERROR, kUnexpectedType otherwise), exact length (kBadHandshakeLength),
// MatchesPid(peer_pid, own_pid) when `check_peer_pid` (kPeerPidMismatch), flags & 0xff
// (kBadHandshakeFlags). The sender pid is never checked (TCP_RPC_IGNORE_PID).
RpcError CheckPeerHandshake(ByteSpan payload, const ProcessId& own_pid, bool check_peer_pid,
                            RpcHandshake* out);

struct RpcHandshakeError {
  int32_t error_code = 0;
  ProcessId sender_pid;
};

size_t EncodeRpcHandshakeError(const RpcHandshakeError& error, MutableByteSpan out);  // 20 bytes
bool DecodeRpcHandshakeError(ByteSpan payload, RpcHandshakeError* out);  // exactly 20 bytes

// ---- TL strings (used by the RPC_PROXY_REQ extra section) ------------------------------------

inline constexpr size_t kTlStringMaxBytes = 0xffffff;
// Encoded size: 1-byte length (< 254) or `fe` + 3-byte length, data, zero pad to 4.
size_t TlStringSize(size_t length);
// Writes the TL string to `out` (>= TlStringSize). Returns bytes written.
size_t EncodeTlString(ByteSpan data, MutableByteSpan out);
// Parses a TL string at the front of `in`; false if truncated. `*consumed` includes padding.
bool DecodeTlString(ByteSpan in, ByteSpan* data, size_t* consumed);

// ---- RPC_PROXY_REQ (§7.1) --------------------------------------------------------------------

inline constexpr size_t kRpcProxyReqFixedBytes = 56;  // up to the extra section
inline constexpr size_t kRpcAdTagBytes = 16;

using Ipv6Bytes = std::array<uint8_t, 16>;
// ::ffff:a.b.c.d for a host-order IPv4 address.
Ipv6Bytes Ipv4MappedIpv6(uint32_t ipv4);

// How the client frames its MTProto messages (for the flag word).
enum class RpcClientFraming : uint8_t { kAbridged, kIntermediate, kPaddedIntermediate };

// The flag word exactly as the reference builds it for a TCP (obfuscated2) client.
uint32_t MakeRpcProxyReqFlags(RpcClientFraming framing, bool has_ad_tag, bool unencrypted,
                              bool quick_ack);

struct RpcProxyReqHeader {
  uint32_t flags = 0;
  uint64_t ext_conn_id = 0;
  Ipv6Bytes client_ip{};    // IPv4 clients: Ipv4MappedIpv6()
  uint32_t client_port = 0;
  Ipv6Bytes proxy_ip{};     // the proxy's local address (after --nat-info)
  uint32_t proxy_port = 0;
  // Written as TL_PROXY_TAG + TL string when flags & kRpcReqFlagProxyTag (usually 16 bytes).
  ByteSpan ad_tag;
};

// Size of the header (everything before the client frame) for these flags: 56 without an
// extra section, 60 + extra size with one (the tag section is 4 + TlStringSize(tag), 24 for
// a 16-byte tag). kRpcReqFlagHttpInfo alone contributes an empty extra section (unused).
size_t RpcProxyReqHeaderSize(uint32_t flags, size_t ad_tag_bytes);
// Writes the header into `out` (>= RpcProxyReqHeaderSize); the caller appends the frame right
// after it (e.g. into RpcLink::BeginMessage's span). Returns bytes written.
size_t EncodeRpcProxyReqHeader(const RpcProxyReqHeader& header, MutableByteSpan out);

// Server-side view of a decoded RPC_PROXY_REQ; spans point into the payload.
struct RpcProxyReqView {
  uint32_t flags = 0;
  uint64_t ext_conn_id = 0;
  Ipv6Bytes client_ip{};
  uint32_t client_port = 0;
  Ipv6Bytes proxy_ip{};
  uint32_t proxy_port = 0;
  ByteSpan extra;   // the whole extra section (empty without flags & 0xC)
  ByteSpan ad_tag;  // the TL_PROXY_TAG string if present in `extra`
  ByteSpan data;    // the client's MTProto frame
};

// False if the type is wrong, the payload is truncated or the extra section is malformed.
bool DecodeRpcProxyReq(ByteSpan payload, RpcProxyReqView* out);

// ---- RPC_PROXY_ANS (§7.2) ----------------------------------------------------------------------

inline constexpr size_t kRpcProxyAnsHeaderBytes = 16;

struct RpcProxyAns {
  uint32_t flags = 0;
  uint64_t ext_conn_id = 0;
  ByteSpan data;  // one client frame worth of bytes
};

// Writes the 16-byte header; the data follows it. Returns 16.
size_t EncodeRpcProxyAnsHeader(uint32_t flags, uint64_t ext_conn_id, MutableByteSpan out);
// False if the type is wrong or the payload is shorter than 16 bytes (ignored per §7.6).
bool DecodeRpcProxyAns(ByteSpan payload, RpcProxyAns* out);

// ---- RPC_SIMPLE_ACK (§7.3), RPC_CLOSE_EXT / RPC_CLOSE_CONN (§7.4, §7.5), PING/PONG (§6) ------

inline constexpr size_t kRpcSimpleAckBytes = 16;
inline constexpr size_t kRpcCloseBytes = 12;
inline constexpr size_t kRpcPingBytes = 12;

struct RpcSimpleAck {
  uint64_t ext_conn_id = 0;
  uint32_t confirm = 0;
};

size_t EncodeRpcSimpleAck(const RpcSimpleAck& ack, MutableByteSpan out);  // 16 bytes
bool DecodeRpcSimpleAck(ByteSpan payload, RpcSimpleAck* out);             // exactly 16

// `type` is kRpcCloseExt or kRpcCloseConn.
size_t EncodeRpcClose(uint32_t type, uint64_t ext_conn_id, MutableByteSpan out);  // 12 bytes
bool DecodeRpcClose(ByteSpan payload, uint32_t type, uint64_t* ext_conn_id);      // exactly 12

// `type` is kRpcPing or kRpcPong.
size_t EncodeRpcPing(uint32_t type, uint64_t ping_id, MutableByteSpan out);  // 12 bytes
bool DecodeRpcPing(ByteSpan payload, uint32_t type, uint64_t* ping_id);      // exactly 12

}  // namespace mtp
