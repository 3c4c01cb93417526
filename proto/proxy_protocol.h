// PROXY protocol v1 (text) and v2 (binary) headers, as specified by HAProxy's
// proxy-protocol.txt: an incremental parser for the header a trusted load balancer puts in
// front of a client's bytes, and builders for the header we send to a backend.
//
// Pure functions over byte spans: no sockets, no clocks, no state between calls; any thread.
// The caller keeps the bytes it has read so far and calls ParseProxyHeader on the whole
// prefix after each read; the header is bounded (kMaxProxyHeaderBytes), so a re-parse is
// cheap and the caller never buffers more than that before a verdict.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/socket_address.h"

namespace mtp {

// The 12-byte v2 signature (it contains a NUL: never treat it as a C string).
inline constexpr uint8_t kProxyV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// v1: the longest line the spec allows, CRLF included ("PROXY UNKNOWN" with two full IPv6
// addresses and two 5-digit ports). No CRLF within these bytes -> error.
inline constexpr size_t kMaxProxyV1Bytes = 107;
// v2: 16 fixed bytes plus at most 536 bytes of addresses and TLVs. The spec designs both
// formats to fit the smallest TCP segment every host must accept (536 bytes); a longer
// announced length is refused before its bytes arrive, so a peer cannot make us buffer more.
inline constexpr size_t kProxyV2FixedBytes = 16;
inline constexpr size_t kMaxProxyV2PayloadBytes = 536;
inline constexpr size_t kMaxProxyV2Bytes = kProxyV2FixedBytes + kMaxProxyV2PayloadBytes;
// The most bytes a receiver ever needs before ParseProxyHeader gives a verdict.
inline constexpr size_t kMaxProxyHeaderBytes = kMaxProxyV2Bytes;

enum class ProxyHeaderStatus : uint8_t {
  kNeedMore,  // every byte so far is a valid start of a header: read more and call again
  kError,     // not a valid header (reason in `error`): close the connection
  kDone,      // a complete header of `header_len` bytes; the client's bytes follow it
};

enum class ProxyHeaderError : uint8_t {
  kNone,
  kNotProxyHeader,   // starts with neither "PROXY " nor the v2 signature
  kV1NoCrlf,         // no CRLF within kMaxProxyV1Bytes
  kV1BadLineEnd,     // a CR not followed by LF, or an LF without its CR
  kV1BadProtocol,    // the protocol word is not TCP4, TCP6 or UNKNOWN
  kV1BadSyntax,      // wrong number of fields or of spaces between them
  kV1BadAddress,     // an address that is not canonical for the announced family
  kV1BadPort,        // a port that is not decimal 0..65535 without leading zeros
  kV2BadVersion,     // the high nibble of byte 13 is not 2
  kV2BadCommand,     // the low nibble of byte 13 is neither LOCAL (0) nor PROXY (1)
  kV2BadFamily,      // unassigned address family (> 3) or transport (> 2) in byte 14
  kV2TooLong,        // announced length above kMaxProxyV2PayloadBytes
  kV2ShortAddress,   // announced length too short for the announced IPv4/IPv6 addresses
};

// Stable lower-case name for logs and counter labels ("v2_bad_version").
std::string_view ProxyHeaderErrorName(ProxyHeaderError error);

struct ProxyHeader {
  ProxyHeaderStatus status = ProxyHeaderStatus::kNeedMore;
  ProxyHeaderError error = ProxyHeaderError::kNone;
  uint8_t version = 0;    // 1 or 2 once the signature is recognised
  size_t header_len = 0;  // kDone: bytes to drop before the client's own bytes
  // kDone and !is_local: the original client (source) and the address it connected to
  // (destination), both of the same family (AF_INET or AF_INET6).
  SocketAddress source;
  SocketAddress destination;
  // kDone: the header carries no client address, and the spec says to use the connection's
  // real endpoints: a v2 LOCAL command (the balancer's own health check), a v2 PROXY command
  // with an UNSPEC, UNIX or DGRAM address block (spec: fall back to UNSPEC), a v1 UNKNOWN
  // line. `source` and `destination` are left invalid.
  bool is_local = false;
};

// Parses the header at the start of `prefix` (every byte read from the connection so far).
// Rules (proxy-protocol.txt §2.1, §2.2):
//  * the first byte chooses the version: 'P' -> v1 ("PROXY "), CR -> v2 signature; any other
//    first byte, or a mismatch within the first 6 / 12 bytes, is kNotProxyHeader at once;
//  * v1: the line must end in CRLF within 107 bytes; fields separated by exactly one space;
//    TCP4 takes dotted quads without leading zeros, TCP6 takes hex-and-colon IPv6 (no
//    embedded dotted quad); ports decimal 0..65535 without leading zeros; UNKNOWN ignores the
//    rest of its line;
//  * v2: version nibble 2, command LOCAL or PROXY, family <= 3 and transport <= 2 are checked
//    as soon as byte 14 is in (unassigned values are refused before the address block
//    arrives), the length as soon as byte 16 is in; TCP over IPv4 / IPv6 needs at least
//    12 / 36 bytes; anything after the addresses (TLVs) is skipped unread; a LOCAL command
//    ignores its address block whatever its family.
// A verdict never changes as bytes are appended: once a prefix gives kError or kDone, every
// longer prefix gives the same, so a caller reading one byte at a time gets the verdict of
// one that reads everything at once. kNeedMore never comes back for kMaxProxyHeaderBytes
// bytes or more.
ProxyHeader ParseProxyHeader(ByteSpan prefix);

// Builders for the sending side (the fronting leg to a backend). Both addresses are
// normalised: IPv4-mapped IPv6 addresses become IPv4; if the two families still differ, both
// are sent as IPv6 (the IPv4 one mapped). Invalid addresses give the address-less form.
//
// v2 PROXY command over TCP (0x21, family 0x11 or 0x21), no TLVs: 28 or 52 bytes. If either
// address is invalid: a LOCAL command with an UNSPEC block (16 bytes).
std::string BuildProxyV2(const SocketAddress& source, const SocketAddress& destination);
// v2 LOCAL command, UNSPEC family, empty address block (16 bytes): a health check.
std::string BuildProxyV2Local();
// "PROXY TCP4 a b p q\r\n" / "PROXY TCP6 ...\r\n" (IPv6 in compressed lower-case hex), or
// "PROXY UNKNOWN\r\n" if either address is invalid.
std::string BuildProxyV1(const SocketAddress& source, const SocketAddress& destination);

}  // namespace mtp
