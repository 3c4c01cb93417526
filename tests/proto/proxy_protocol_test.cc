// PROXY protocol v1/v2: byte-exact vectors built from HAProxy's proxy-protocol.txt (the v2
// signature and header layout, the v1 example line and its longest lines), every truncation
// of a valid header waiting for more, and each malformation giving its own error.
#include "proto/proxy_protocol.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }
std::vector<uint8_t> B(std::string_view text) { return {text.begin(), text.end()}; }
std::vector<uint8_t> Cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

ProxyHeader Parse(const std::vector<uint8_t>& bytes) { return ParseProxyHeader(bytes); }

// Every strict prefix of a complete header waits for more (the verdict does not come early).
void ExpectEveryPrefixNeedsMore(const std::vector<uint8_t>& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    ProxyHeader h = ParseProxyHeader(ByteSpan(header.data(), n));
    EXPECT_EQ(h.status, ProxyHeaderStatus::kNeedMore) << "prefix of " << n << " bytes";
  }
}

void ExpectError(const std::vector<uint8_t>& bytes, ProxyHeaderError error) {
  ProxyHeader h = Parse(bytes);
  EXPECT_EQ(h.status, ProxyHeaderStatus::kError) << ProxyHeaderErrorName(h.error);
  EXPECT_EQ(h.error, error) << "got " << ProxyHeaderErrorName(h.error) << " want "
                            << ProxyHeaderErrorName(error);
}

// ---- v2 -------------------------------------------------------------------------------

constexpr char kSignatureHex[] = "0d0a0d0a000d0a515549540a";

TEST(ProxyProtocolV2, SignatureIsTheSpecBlock) {
  EXPECT_EQ(HexEncode(ByteSpan(kProxyV2Signature, 12)), kSignatureHex);
}

// TCP over IPv4, PROXY command, 192.168.0.1:56324 -> 192.168.0.11:443 (the spec's v1
// example in the v2 layout: ver_cmd 0x21, fam 0x11, len 12, src, dst, sport, dport).
const std::vector<uint8_t> kV2Tcp4 = H(std::string(kSignatureHex) +
                                       "2111000c"
                                       "c0a80001"
                                       "c0a8000b"
                                       "dc04"
                                       "01bb");

TEST(ProxyProtocolV2, Tcp4) {
  ProxyHeader h = Parse(kV2Tcp4);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.header_len, 28u);
  EXPECT_FALSE(h.is_local);
  EXPECT_EQ(h.source.ToString(), "192.168.0.1:56324");
  EXPECT_EQ(h.destination.ToString(), "192.168.0.11:443");
  ExpectEveryPrefixNeedsMore(kV2Tcp4);
}

TEST(ProxyProtocolV2, ClientBytesAfterTheHeaderAreNotPartOfIt) {
  ProxyHeader h = Parse(Cat(kV2Tcp4, B("\xef\xef\xef\xef payload")));
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.header_len, 28u);
}

TEST(ProxyProtocolV2, Tcp6) {
  std::vector<uint8_t> v = H(std::string(kSignatureHex) +
                             "21210024"
                             "20010db8000000000000000000000001"
                             "20010db8000000000000000000000002"
                             "3039"
                             "0050");
  ProxyHeader h = Parse(v);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.header_len, 52u);
  EXPECT_FALSE(h.is_local);
  EXPECT_EQ(h.source.ToString(), "[2001:db8::1]:12345");
  EXPECT_EQ(h.destination.ToString(), "[2001:db8::2]:80");
  ExpectEveryPrefixNeedsMore(v);
}

TEST(ProxyProtocolV2, TlvsAfterTheAddressesAreSkipped) {
  // len 12 + 7: a PP2_TYPE_NOOP (0x04) TLV of 4 bytes.
  std::vector<uint8_t> v = H(std::string(kSignatureHex) +
                             "21110013"
                             "7f000001"
                             "7f000002"
                             "1000"
                             "2000"
                             "04000400000000");
  ProxyHeader h = Parse(v);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.header_len, 35u);
  EXPECT_EQ(h.source.ToString(), "127.0.0.1:4096");
  EXPECT_EQ(h.destination.ToString(), "127.0.0.2:8192");
  ExpectEveryPrefixNeedsMore(v);
}

TEST(ProxyProtocolV2, LocalIgnoresItsAddressBlock) {
  std::vector<uint8_t> bare = H(std::string(kSignatureHex) + "20000000");
  ProxyHeader h = Parse(bare);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
  EXPECT_EQ(h.header_len, 16u);
  EXPECT_FALSE(h.source.valid());
  // The spec: receivers must skip the announced length even for LOCAL.
  std::vector<uint8_t> with_block =
      H(std::string(kSignatureHex) + "2011000c" + "0a0000010a0000020001" + "0002");
  h = Parse(with_block);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
  EXPECT_EQ(h.header_len, 28u);
  ExpectEveryPrefixNeedsMore(with_block);
  // LOCAL with a TCP family but a block too short for it: still fine, it is ignored.
  h = Parse(H(std::string(kSignatureHex) + "20110000"));
  EXPECT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
}

TEST(ProxyProtocolV2, UnspecUnixAndDgramFallBackToTheConnection) {
  for (std::string fam : {"00", "10", "20", "31", "32", "12", "22"}) {
    std::string block(2 * 216, '0');
    std::vector<uint8_t> v = H(std::string(kSignatureHex) + "21" + fam + "00d8" + block);
    ProxyHeader h = Parse(v);
    ASSERT_EQ(h.status, ProxyHeaderStatus::kDone) << fam;
    EXPECT_TRUE(h.is_local) << fam;
    EXPECT_EQ(h.header_len, 16u + 216u) << fam;
  }
}

TEST(ProxyProtocolV2, Errors) {
  const std::string sig = kSignatureHex;
  ExpectError(H(sig + "1111000c"), ProxyHeaderError::kV2BadVersion);
  ExpectError(H(sig + "3111000c"), ProxyHeaderError::kV2BadVersion);
  ExpectError(H(sig + "22"), ProxyHeaderError::kV2BadCommand);  // decided at byte 13
  ExpectError(H(sig + "2f"), ProxyHeaderError::kV2BadCommand);
  ExpectError(H(sig + "2141"), ProxyHeaderError::kV2BadFamily);  // decided at byte 14
  ExpectError(H(sig + "2113"), ProxyHeaderError::kV2BadFamily);
  ExpectError(H(sig + "21110219"), ProxyHeaderError::kV2TooLong);  // 537 > 536
  ExpectError(H(sig + "2111ffff"), ProxyHeaderError::kV2TooLong);
  ExpectError(H(sig + "2111000b"), ProxyHeaderError::kV2ShortAddress);  // 11 < 12
  ExpectError(H(sig + "21210023"), ProxyHeaderError::kV2ShortAddress);  // 35 < 36
  ExpectError(H(sig + "21110000"), ProxyHeaderError::kV2ShortAddress);
  // A signature broken at any of its 12 bytes: refused as soon as the bad byte is in.
  for (size_t i = 1; i < 12; ++i) {
    std::vector<uint8_t> v(kProxyV2Signature, kProxyV2Signature + i + 1);
    v[i] ^= 0x40;
    ExpectError(v, ProxyHeaderError::kNotProxyHeader);
  }
}

TEST(ProxyProtocolV2, LongestAcceptedLength) {
  std::vector<uint8_t> v = H(std::string(kSignatureHex) + "21110218" + "7f0000017f00000100010002");
  v.resize(kMaxProxyV2Bytes, 0);
  ProxyHeader h = Parse(v);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.header_len, kMaxProxyV2Bytes);
  EXPECT_EQ(h.header_len, 552u);
  EXPECT_EQ(Parse(std::vector<uint8_t>(v.begin(), v.end() - 1)).status,
            ProxyHeaderStatus::kNeedMore);
}

// ---- v1 -------------------------------------------------------------------------------

TEST(ProxyProtocolV1, SpecExampleLine) {
  const std::vector<uint8_t> line = B("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  ProxyHeader h = Parse(Cat(line, B("GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n")));
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.header_len, line.size());
  EXPECT_FALSE(h.is_local);
  EXPECT_EQ(h.source.ToString(), "192.168.0.1:56324");
  EXPECT_EQ(h.destination.ToString(), "192.168.0.11:443");
  ExpectEveryPrefixNeedsMore(line);
}

TEST(ProxyProtocolV1, SpecLongestLines) {
  const std::vector<uint8_t> v4 = B("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  EXPECT_EQ(v4.size(), 56u);
  ProxyHeader h = Parse(v4);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.source.ToString(), "255.255.255.255:65535");

  const std::string full6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::vector<uint8_t> v6 =
      B("PROXY TCP6 " + full6 + " " + full6 + " 65535 65535\r\n");
  EXPECT_EQ(v6.size(), 104u);
  h = Parse(v6);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.header_len, 104u);
  EXPECT_EQ(h.destination.ToString(), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  ExpectEveryPrefixNeedsMore(v6);

  const std::vector<uint8_t> shortest = B("PROXY UNKNOWN\r\n");
  EXPECT_EQ(shortest.size(), 15u);
  h = Parse(shortest);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
  EXPECT_EQ(h.header_len, 15u);

  const std::vector<uint8_t> worst =
      B("PROXY UNKNOWN " + full6 + " " + full6 + " 65535 65535\r\n");
  EXPECT_EQ(worst.size(), kMaxProxyV1Bytes);
  h = Parse(worst);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
  EXPECT_EQ(h.header_len, 107u);
  ExpectEveryPrefixNeedsMore(worst);
}

TEST(ProxyProtocolV1, UnknownIgnoresTheRestOfItsLine) {
  ProxyHeader h = Parse(B("PROXY UNKNOWN whatever \x01 goes\r\nX"));
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_TRUE(h.is_local);
  EXPECT_EQ(h.header_len, 31u);
}

TEST(ProxyProtocolV1, Ipv6Forms) {
  ProxyHeader h = Parse(B("PROXY TCP6 ::1 2001:DB8::A 1 0\r\n"));
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.source.ToString(), "[::1]:1");
  EXPECT_EQ(h.destination.ToString(), "[2001:db8::a]:0");
}

TEST(ProxyProtocolV1, NoCrlfWithin107Bytes) {
  std::vector<uint8_t> v = B("PROXY UNKNOWN ");
  v.resize(kMaxProxyV1Bytes - 1, 'a');
  EXPECT_EQ(Parse(v).status, ProxyHeaderStatus::kNeedMore);  // 106 bytes: CRLF may still fit
  v.push_back('\r');  // CR as the 107th byte: its LF would be the 108th
  ExpectError(v, ProxyHeaderError::kV1NoCrlf);
  v.back() = 'a';
  ExpectError(v, ProxyHeaderError::kV1NoCrlf);
  v.push_back('\r');
  v.push_back('\n');
  ExpectError(v, ProxyHeaderError::kV1NoCrlf);
}

TEST(ProxyProtocolV1, Errors) {
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), ProxyHeaderError::kV1BadLineEnd);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), ProxyHeaderError::kV1BadLineEnd);
  ExpectError(B("PROXY UNKNOWN \n"), ProxyHeaderError::kV1BadLineEnd);
  ExpectError(B("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadProtocol);
  ExpectError(B("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadProtocol);
  ExpectError(B("PROXY UNKNOWNX\r\n"), ProxyHeaderError::kV1BadProtocol);
  ExpectError(B("PROXY \r\n"), ProxyHeaderError::kV1BadProtocol);
  ExpectError(B("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadProtocol);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), ProxyHeaderError::kV1BadSyntax);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), ProxyHeaderError::kV1BadSyntax);
  ExpectError(B("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadSyntax);
  ExpectError(B("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP6 1::2::3 ::1 1 2\r\n"), ProxyHeaderError::kV1BadAddress);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), ProxyHeaderError::kV1BadPort);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), ProxyHeaderError::kV1BadPort);
  ExpectError(B("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n"), ProxyHeaderError::kV1BadPort);
  // Not a PROXY header at all: refused at the first byte that cannot start one.
  ExpectError(B("G"), ProxyHeaderError::kNotProxyHeader);
  ExpectError(B("PROX "), ProxyHeaderError::kNotProxyHeader);
  ExpectError(B("PROXYX"), ProxyHeaderError::kNotProxyHeader);
  ExpectError(H("16030100"), ProxyHeaderError::kNotProxyHeader);  // a TLS ClientHello
  ExpectError(H("ef"), ProxyHeaderError::kNotProxyHeader);        // abridged MTProto
  EXPECT_EQ(Parse({}).status, ProxyHeaderStatus::kNeedMore);
}

TEST(ProxyProtocol, ErrorNamesAreDistinct) {
  std::set<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(ProxyHeaderError::kV2ShortAddress); ++e) {
    names.insert(ProxyHeaderErrorName(static_cast<ProxyHeaderError>(e)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(ProxyHeaderError::kV2ShortAddress) + 1);
  EXPECT_EQ(names.count("unknown"), 0u);
}

// ---- captured from Debian 12's HAProxy 2.6.12 ----------------------------------------
// Bytes a loopback listener received from `server ... send-proxy-v2` / `send-proxy` for a
// client at 127.0.0.1:43102 / :49098 connecting to the frontend at 127.0.0.1:47011 / :47013,
// followed by the client's first bytes.

TEST(ProxyProtocolHaproxy, SendProxyV2) {
  const std::vector<uint8_t> wire =
      H("0d0a0d0a000d0a515549540a2111000c7f0000017f000001a85eb7a3efefefef68656c6c6f");
  ProxyHeader h = Parse(wire);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.version, 2);
  EXPECT_EQ(h.header_len, 28u);
  EXPECT_EQ(h.source.ToString(), "127.0.0.1:43102");
  EXPECT_EQ(h.destination.ToString(), "127.0.0.1:47011");
  EXPECT_EQ(wire[h.header_len], 0xef);  // the client's abridged tag follows
  std::string ours = BuildProxyV2(h.source, h.destination);
  EXPECT_EQ(std::vector<uint8_t>(ours.begin(), ours.end()),
            std::vector<uint8_t>(wire.begin(), wire.begin() + 28));
}

TEST(ProxyProtocolHaproxy, SendProxyV1) {
  const std::vector<uint8_t> wire = B("PROXY TCP4 127.0.0.1 127.0.0.1 49098 47013\r\nhello");
  ProxyHeader h = Parse(wire);
  ASSERT_EQ(h.status, ProxyHeaderStatus::kDone);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.header_len, 44u);
  EXPECT_EQ(h.source.ToString(), "127.0.0.1:49098");
  EXPECT_EQ(h.destination.ToString(), "127.0.0.1:47013");
  EXPECT_EQ(BuildProxyV1(h.source, h.destination),
            "PROXY TCP4 127.0.0.1 127.0.0.1 49098 47013\r\n");
}

// ---- builders --------------------------------------------------------------------------

TEST(ProxyProtocolBuild, V2BytesMatchTheSpecLayout) {
  SocketAddress src = SocketAddress::Parse("192.168.0.1:56324").value();
  SocketAddress dst = SocketAddress::Parse("192.168.0.11:443").value();
  std::string v2 = BuildProxyV2(src, dst);
  EXPECT_EQ(std::vector<uint8_t>(v2.begin(), v2.end()), kV2Tcp4);
  EXPECT_EQ(HexEncode(B(BuildProxyV2Local())), std::string(kSignatureHex) + "20000000");
  // An invalid address: the LOCAL form (never a made-up address).
  EXPECT_EQ(BuildProxyV2(SocketAddress(), dst), BuildProxyV2Local());
}

TEST(ProxyProtocolBuild, V1Lines) {
  SocketAddress src = SocketAddress::Parse("192.168.0.1:56324").value();
  SocketAddress dst = SocketAddress::Parse("192.168.0.11:443").value();
  EXPECT_EQ(BuildProxyV1(src, dst), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  EXPECT_EQ(BuildProxyV1(src, SocketAddress()), "PROXY UNKNOWN\r\n");
  SocketAddress v6 = SocketAddress::Parse("[2001:db8:0:0:1:0:0:1]:80").value();
  SocketAddress v6b = SocketAddress::Parse("[::]:1").value();
  EXPECT_EQ(BuildProxyV1(v6, v6b), "PROXY TCP6 2001:db8::1:0:0:1 :: 80 1\r\n");
  // Mixed families: the IPv4 one goes mapped, written in hex groups (no dotted tail).
  EXPECT_EQ(BuildProxyV1(src, v6), "PROXY TCP6 ::ffff:c0a8:1 2001:db8::1:0:0:1 56324 80\r\n");
  // A mapped address with an IPv4 peer: both IPv4.
  SocketAddress mapped = SocketAddress::Parse("[::ffff:10.0.0.1]:5").value();
  EXPECT_EQ(BuildProxyV1(mapped, dst), "PROXY TCP4 10.0.0.1 192.168.0.11 5 443\r\n");
}

TEST(ProxyProtocolBuild, RoundTrips) {
  const char* addrs[] = {"1.2.3.4:1",        "0.0.0.0:0",       "[::1]:65535",
                         "[2001:db8::]:7",   "[1:0:0:2::]:9",   "[::ffff:1.2.3.4]:3",
                         "[fe80::1:2:3:4]:80", "[1:2:3:4:5:6:7:8]:8"};
  for (const char* a : addrs) {
    for (const char* b : addrs) {
      SocketAddress src = SocketAddress::Parse(a).value();
      SocketAddress dst = SocketAddress::Parse(b).value();
      for (const std::string& header : {BuildProxyV1(src, dst), BuildProxyV2(src, dst)}) {
        ProxyHeader h = ParseProxyHeader(B(header));
        ASSERT_EQ(h.status, ProxyHeaderStatus::kDone) << a << " " << b << " " << header;
        EXPECT_EQ(h.header_len, header.size());
        EXPECT_FALSE(h.is_local);
        EXPECT_EQ(h.source.Unmapped(), src.Unmapped()) << a << " " << b;
        EXPECT_EQ(h.destination.Unmapped(), dst.Unmapped()) << a << " " << b;
        EXPECT_EQ(h.source.family(), h.destination.family());
      }
    }
  }
}

}  // namespace
}  // namespace mtp
