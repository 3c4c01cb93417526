// PROXY protocol v1/v2 parser and builders (see proxy_protocol.h for the rules).
#include "proto/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace mtp {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV4AddressBlock = 12;  // 2 * 4 address bytes + 2 * 2 port bytes
constexpr size_t kV6AddressBlock = 36;  // 2 * 16 + 2 * 2

ProxyHeader Error(uint8_t version, ProxyHeaderError error) {
  ProxyHeader h;
  h.status = ProxyHeaderStatus::kError;
  h.error = error;
  h.version = version;
  return h;
}

ProxyHeader NeedMore(uint8_t version) {
  ProxyHeader h;
  h.version = version;
  return h;
}

ProxyHeader Local(uint8_t version, size_t header_len) {
  ProxyHeader h;
  h.status = ProxyHeaderStatus::kDone;
  h.version = version;
  h.header_len = header_len;
  h.is_local = true;
  return h;
}

// Splits at every `sep`; empty fields are kept (two spaces in a row are a syntax error).
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = text.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, at - start));
    start = at + 1;
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Decimal 0..max, no sign, no leading zero (the spec forbids them: octal confusion).
bool ParseDecimal(std::string_view text, uint32_t max, uint32_t* out) {
  if (text.empty() || text.size() > 5) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint32_t v = 0;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

// Exactly four dot-separated decimals 0..255 without leading zeros.
bool ParseV1Ipv4(std::string_view text, uint32_t* ip_host_order) {
  std::vector<std::string_view> parts = Split(text, '.');
  if (parts.size() != 4) return false;
  uint32_t ip = 0;
  for (std::string_view part : parts) {
    uint32_t octet = 0;
    if (part.size() > 3 || !ParseDecimal(part, 255, &octet)) return false;
    ip = (ip << 8) | octet;
  }
  *ip_host_order = ip;
  return true;
}

// Hex groups and colons only (at most one "::"), 128 bits in all; inet_pton checks the
// grouping, the charset check keeps out the embedded dotted-quad form the spec does not list.
bool ParseV1Ipv6(std::string_view text, std::array<uint8_t, 16>* ip) {
  if (text.size() < 2 || text.size() > 39) return false;
  for (char c : text) {
    if (!IsHexDigit(c) && c != ':') return false;
  }
  char buf[40];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(AF_INET6, buf, ip->data()) == 1;
}

// One complete v1 line without its CRLF.
ProxyHeader ParseV1Line(std::string_view line, size_t header_len) {
  std::vector<std::string_view> fields = Split(line, ' ');
  // fields[0] is "PROXY" (checked by the caller).
  if (fields.size() < 2) return Error(1, ProxyHeaderError::kV1BadProtocol);
  const std::string_view protocol = fields[1];
  // UNKNOWN: the receiver ignores whatever precedes the CRLF.
  if (protocol == "UNKNOWN") return Local(1, header_len);
  const bool v4 = protocol == "TCP4";
  if (!v4 && protocol != "TCP6") return Error(1, ProxyHeaderError::kV1BadProtocol);
  if (fields.size() != 6) return Error(1, ProxyHeaderError::kV1BadSyntax);
  for (size_t i = 2; i < fields.size(); ++i) {
    if (fields[i].empty()) return Error(1, ProxyHeaderError::kV1BadSyntax);
  }
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  ProxyHeader h;
  if (v4) {
    uint32_t src = 0;
    uint32_t dst = 0;
    if (!ParseV1Ipv4(fields[2], &src) || !ParseV1Ipv4(fields[3], &dst)) {
      return Error(1, ProxyHeaderError::kV1BadAddress);
    }
    if (!ParseDecimal(fields[4], 65535, &src_port) ||
        !ParseDecimal(fields[5], 65535, &dst_port)) {
      return Error(1, ProxyHeaderError::kV1BadPort);
    }
    h.source = SocketAddress::FromIpv4(src, static_cast<uint16_t>(src_port));
    h.destination = SocketAddress::FromIpv4(dst, static_cast<uint16_t>(dst_port));
  } else {
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    if (!ParseV1Ipv6(fields[2], &src) || !ParseV1Ipv6(fields[3], &dst)) {
      return Error(1, ProxyHeaderError::kV1BadAddress);
    }
    if (!ParseDecimal(fields[4], 65535, &src_port) ||
        !ParseDecimal(fields[5], 65535, &dst_port)) {
      return Error(1, ProxyHeaderError::kV1BadPort);
    }
    h.source = SocketAddress::FromIpv6(src, static_cast<uint16_t>(src_port));
    h.destination = SocketAddress::FromIpv6(dst, static_cast<uint16_t>(dst_port));
  }
  h.status = ProxyHeaderStatus::kDone;
  h.version = 1;
  h.header_len = header_len;
  return h;
}

ProxyHeader ParseV1(ByteSpan in) {
  const size_t n = in.size();
  const size_t fixed = std::min(n, kV1Prefix.size());
  if (std::memcmp(in.data(), kV1Prefix.data(), fixed) != 0) {
    return Error(0, ProxyHeaderError::kNotProxyHeader);
  }
  const size_t scan = std::min(n, kMaxProxyV1Bytes);
  for (size_t i = fixed; i < scan; ++i) {
    if (in[i] == '\n') return Error(1, ProxyHeaderError::kV1BadLineEnd);  // LF without CR
    if (in[i] != '\r') continue;
    if (i + 2 > kMaxProxyV1Bytes) return Error(1, ProxyHeaderError::kV1NoCrlf);
    if (i + 1 == n) return NeedMore(1);
    if (in[i + 1] != '\n') return Error(1, ProxyHeaderError::kV1BadLineEnd);
    std::string_view line(reinterpret_cast<const char*>(in.data()), i);
    return ParseV1Line(line, i + 2);
  }
  if (n >= kMaxProxyV1Bytes) return Error(1, ProxyHeaderError::kV1NoCrlf);
  return NeedMore(n >= kV1Prefix.size() ? 1 : 0);
}

ProxyHeader ParseV2(ByteSpan in) {
  const size_t n = in.size();
  const size_t sig = std::min(n, sizeof(kProxyV2Signature));
  if (std::memcmp(in.data(), kProxyV2Signature, sig) != 0) {
    return Error(0, ProxyHeaderError::kNotProxyHeader);
  }
  if (n <= 12) return NeedMore(n == 12 ? 2 : 0);
  const uint8_t ver_cmd = in[12];
  if ((ver_cmd >> 4) != 2) return Error(2, ProxyHeaderError::kV2BadVersion);
  const uint8_t command = ver_cmd & 0x0F;
  if (command > 1) return Error(2, ProxyHeaderError::kV2BadCommand);
  if (n < 14) return NeedMore(2);
  const uint8_t family = in[13] >> 4;
  const uint8_t transport = in[13] & 0x0F;
  if (family > 3 || transport > 2) return Error(2, ProxyHeaderError::kV2BadFamily);
  if (n < kProxyV2FixedBytes) return NeedMore(2);
  const size_t len = LoadBe16(in.data() + 14);
  if (len > kMaxProxyV2PayloadBytes) return Error(2, ProxyHeaderError::kV2TooLong);
  // Known before the block arrives: a TCP block too short for its addresses.
  const bool tcp = command == 1 && transport == 1 && (family == 1 || family == 2);
  const size_t need = family == 1 ? kV4AddressBlock : kV6AddressBlock;
  if (tcp && len < need) return Error(2, ProxyHeaderError::kV2ShortAddress);
  const size_t total = kProxyV2FixedBytes + len;
  if (n < total) return NeedMore(2);
  // LOCAL: the balancer's own connection; UNSPEC / UNIX / DGRAM: not ours to interpret, the
  // spec's fallback is the connection's real endpoints.
  if (!tcp) return Local(2, total);
  const uint8_t* block = in.data() + kProxyV2FixedBytes;
  ProxyHeader h;
  if (family == 1) {
    h.source = SocketAddress::FromIpv4(LoadBe32(block), LoadBe16(block + 8));
    h.destination = SocketAddress::FromIpv4(LoadBe32(block + 4), LoadBe16(block + 10));
  } else {
    std::array<uint8_t, 16> src;
    std::array<uint8_t, 16> dst;
    std::memcpy(src.data(), block, 16);
    std::memcpy(dst.data(), block + 16, 16);
    h.source = SocketAddress::FromIpv6(src, LoadBe16(block + 32));
    h.destination = SocketAddress::FromIpv6(dst, LoadBe16(block + 34));
  }
  h.status = ProxyHeaderStatus::kDone;
  h.version = 2;
  h.header_len = total;  // TLVs after the addresses are skipped unread
  return h;
}

// Both addresses in one family for the builders: IPv4 if both are (or map) IPv4, else IPv6.
bool Normalise(const SocketAddress& source, const SocketAddress& destination,
               SocketAddress* src, SocketAddress* dst) {
  if (!source.valid() || !destination.valid()) return false;
  *src = source.Unmapped();
  *dst = destination.Unmapped();
  if (src->is_v4() != dst->is_v4()) {
    *src = src->MappedToV6();
    *dst = dst->MappedToV6();
  }
  return true;
}

void AppendBe16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xFF));
}

// RFC 5952 text: lower-case hex groups without leading zeros, the longest run of two or more
// zero groups (the first on a tie) as "::"; never the dotted-quad tail inet_ntop uses for
// mapped addresses, which the v1 grammar does not include.
std::string Ipv6Text(const std::array<uint8_t, 16>& ip) {
  uint16_t groups[8];
  for (int i = 0; i < 8; ++i) groups[i] = LoadBe16(ip.data() + 2 * i);
  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    absl::StrAppend(&out, absl::Hex(groups[i]));
  }
  return out;
}

}  // namespace

std::string_view ProxyHeaderErrorName(ProxyHeaderError error) {
  switch (error) {
    case ProxyHeaderError::kNone: return "none";
    case ProxyHeaderError::kNotProxyHeader: return "not_proxy_header";
    case ProxyHeaderError::kV1NoCrlf: return "v1_no_crlf";
    case ProxyHeaderError::kV1BadLineEnd: return "v1_bad_line_end";
    case ProxyHeaderError::kV1BadProtocol: return "v1_bad_protocol";
    case ProxyHeaderError::kV1BadSyntax: return "v1_bad_syntax";
    case ProxyHeaderError::kV1BadAddress: return "v1_bad_address";
    case ProxyHeaderError::kV1BadPort: return "v1_bad_port";
    case ProxyHeaderError::kV2BadVersion: return "v2_bad_version";
    case ProxyHeaderError::kV2BadCommand: return "v2_bad_command";
    case ProxyHeaderError::kV2BadFamily: return "v2_bad_family";
    case ProxyHeaderError::kV2TooLong: return "v2_too_long";
    case ProxyHeaderError::kV2ShortAddress: return "v2_short_address";
  }
  return "unknown";
}

ProxyHeader ParseProxyHeader(ByteSpan prefix) {
  if (prefix.empty()) return NeedMore(0);
  if (prefix[0] == kV1Prefix[0]) return ParseV1(prefix);
  if (prefix[0] == kProxyV2Signature[0]) return ParseV2(prefix);
  return Error(0, ProxyHeaderError::kNotProxyHeader);
}

std::string BuildProxyV2Local() {
  std::string out(reinterpret_cast<const char*>(kProxyV2Signature), sizeof(kProxyV2Signature));
  out.push_back(static_cast<char>(0x20));  // version 2, LOCAL
  out.push_back(static_cast<char>(0x00));  // AF_UNSPEC, UNSPEC
  AppendBe16(&out, 0);
  return out;
}

std::string BuildProxyV2(const SocketAddress& source, const SocketAddress& destination) {
  SocketAddress src;
  SocketAddress dst;
  if (!Normalise(source, destination, &src, &dst)) return BuildProxyV2Local();
  std::string out(reinterpret_cast<const char*>(kProxyV2Signature), sizeof(kProxyV2Signature));
  out.push_back(static_cast<char>(0x21));  // version 2, PROXY
  if (src.is_v4()) {
    out.push_back(static_cast<char>(0x11));  // AF_INET, STREAM
    AppendBe16(&out, kV4AddressBlock);
    for (uint32_t ip : {src.ipv4(), dst.ipv4()}) {
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(ip >> shift));
    }
  } else {
    out.push_back(static_cast<char>(0x21));  // AF_INET6, STREAM
    AppendBe16(&out, kV6AddressBlock);
    for (const SocketAddress* a : {&src, &dst}) {
      const std::array<uint8_t, 16> ip = a->ipv6();
      out.append(reinterpret_cast<const char*>(ip.data()), ip.size());
    }
  }
  AppendBe16(&out, src.port());
  AppendBe16(&out, dst.port());
  return out;
}

std::string BuildProxyV1(const SocketAddress& source, const SocketAddress& destination) {
  SocketAddress src;
  SocketAddress dst;
  if (!Normalise(source, destination, &src, &dst)) return "PROXY UNKNOWN\r\n";
  if (src.is_v4()) {
    return absl::StrCat("PROXY TCP4 ", src.IpString(), " ", dst.IpString(), " ", src.port(),
                        " ", dst.port(), "\r\n");
  }
  return absl::StrCat("PROXY TCP6 ", Ipv6Text(src.ipv6()), " ", Ipv6Text(dst.ipv6()), " ",
                      src.port(), " ", dst.port(), "\r\n");
}

}  // namespace mtp
