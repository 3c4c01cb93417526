// SOCKS5 client codec: byte-exact requests from RFC 1928 §3/§4 and RFC 1929 §2, every reply
// read whole and one byte at a time (the reader never takes a byte past its reply), and each
// refusal or malformation giving its own error at the byte that decides it.
#include "proto/socks5.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }
std::string Hex(ByteSpan s) { return HexEncode(s); }

Socks5Reply Whole(Socks5Stage stage, const std::vector<uint8_t>& bytes, size_t* consumed,
                  bool creds = false) {
  return ParseSocks5Reply(stage, creds, bytes, consumed);
}

// Feeds `bytes` one byte at a time; returns the verdict and how many bytes were taken.
Socks5Reply Drip(Socks5Stage stage, const std::vector<uint8_t>& bytes, size_t* taken,
                 bool creds = false) {
  Socks5ReplyReader r;
  r.Expect(stage, creds);
  Socks5Reply last;
  *taken = 0;
  for (uint8_t b : bytes) {
    size_t n = 0;
    last = r.Feed(ByteSpan(&b, 1), &n);
    *taken += n;
    if (n == 0) break;
  }
  return last;
}

TEST(Socks5Test, Greeting) {
  EXPECT_EQ(Hex(BuildSocks5Greeting(false).span()), "050100");
  EXPECT_EQ(Hex(BuildSocks5Greeting(true).span()), "050102");
}

TEST(Socks5Test, UserPass) {
  EXPECT_EQ(Hex(BuildSocks5UserPass("bob", "secret").span()), "0103626f6206736563726574");
  EXPECT_EQ(BuildSocks5UserPass("bob", "secret").size, Socks5UserPassBytes(3, 6));
  const std::string max(255, 'u');
  const Socks5Request r = BuildSocks5UserPass(max, max);
  ASSERT_EQ(r.size, kSocks5MaxRequestBytes);
  EXPECT_EQ(r.bytes[1], 255);
  EXPECT_EQ(r.bytes[2 + 255], 255);
  // RFC 1929: both fields 1..255 bytes.
  EXPECT_EQ(BuildSocks5UserPass("", "x").size, 0);
  EXPECT_EQ(BuildSocks5UserPass("x", "").size, 0);
  EXPECT_EQ(BuildSocks5UserPass(std::string(256, 'u'), "x").size, 0);
  EXPECT_EQ(BuildSocks5UserPass("x", std::string(256, 'p')).size, 0);
}

TEST(Socks5Test, ConnectIpv4AndIpv6) {
  EXPECT_EQ(Hex(BuildSocks5Connect(SocketAddress::Parse("149.154.175.50:443").value()).span()),
            "05010001959aaf3201bb");
  // An IPv4-mapped address goes out as IPv4 (the server may have no IPv6 at all).
  EXPECT_EQ(Hex(BuildSocks5Connect(SocketAddress::Parse("[::ffff:127.0.0.1]:8888").value()).span()),
            "050100017f00000122b8");
  EXPECT_EQ(Hex(BuildSocks5Connect(SocketAddress::Parse("[2001:db8::1]:80").value()).span()),
            "0501000420010db80000000000000000000000010050");
  EXPECT_EQ(BuildSocks5Connect(SocketAddress::Parse("1.2.3.4:5").value()).size,
            Socks5ConnectBytes(false));
  EXPECT_EQ(BuildSocks5Connect(SocketAddress::Parse("[::1]:5").value()).size,
            Socks5ConnectBytes(true));
  EXPECT_EQ(BuildSocks5Connect(SocketAddress{}).size, 0);
}

TEST(Socks5Test, MethodChoice) {
  size_t n = 0;
  Socks5Reply r = Whole(Socks5Stage::kMethod, H("0500"), &n);
  EXPECT_EQ(r.status, Socks5Status::kDone);
  EXPECT_EQ(r.method, kSocks5MethodNoAuth);
  EXPECT_EQ(n, 2u);
  r = Whole(Socks5Stage::kMethod, H("0502"), &n, /*creds=*/true);
  EXPECT_EQ(r.status, Socks5Status::kDone);
  EXPECT_EQ(r.method, kSocks5MethodUserPass);
  // The server must pick what was offered.
  r = Whole(Socks5Stage::kMethod, H("0500"), &n, /*creds=*/true);
  EXPECT_EQ(r.error, Socks5Error::kUnofferedMethod);
  r = Whole(Socks5Stage::kMethod, H("0502"), &n, /*creds=*/false);
  EXPECT_EQ(r.error, Socks5Error::kUnofferedMethod);
  r = Whole(Socks5Stage::kMethod, H("05ff"), &n, /*creds=*/true);
  EXPECT_EQ(r.status, Socks5Status::kError);
  EXPECT_EQ(r.error, Socks5Error::kNoAcceptableMethod);
  // A SOCKS4 or HTTP server: refused at the first byte.
  r = Whole(Socks5Stage::kMethod, H("04"), &n);
  EXPECT_EQ(r.error, Socks5Error::kBadVersion);
  EXPECT_EQ(n, 1u);
  r = Whole(Socks5Stage::kMethod, H("05"), &n);
  EXPECT_EQ(r.status, Socks5Status::kNeedMore);
  EXPECT_EQ(n, 1u);
}

TEST(Socks5Test, AuthStatus) {
  size_t n = 0;
  EXPECT_EQ(Whole(Socks5Stage::kAuth, H("0100"), &n).status, Socks5Status::kDone);
  EXPECT_EQ(n, 2u);
  Socks5Reply r = Whole(Socks5Stage::kAuth, H("0101"), &n);
  EXPECT_EQ(r.status, Socks5Status::kError);
  EXPECT_EQ(r.error, Socks5Error::kAuthRejected);
  r = Whole(Socks5Stage::kAuth, H("05ff"), &n);
  EXPECT_EQ(r.error, Socks5Error::kBadVersion);
}

TEST(Socks5Test, ConnectReplyIpv4) {
  size_t n = 0;
  // Bytes after the reply stay with the caller.
  const std::vector<uint8_t> bytes =
      H("05000001c0000201d431"
        "ffff");
  Socks5Reply r = Whole(Socks5Stage::kConnect, bytes, &n);
  ASSERT_EQ(r.status, Socks5Status::kDone);
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(r.reply_code, 0);
  EXPECT_EQ(r.address_type, kSocks5AtypIpv4);
  EXPECT_EQ(r.bound.ToString(), "192.0.2.1:54321");
  size_t taken = 0;
  Socks5Reply d = Drip(Socks5Stage::kConnect, bytes, &taken);
  EXPECT_EQ(d.status, Socks5Status::kDone);
  EXPECT_EQ(taken, 10u);
  EXPECT_EQ(d.bound, r.bound);
  // Servers that do not report their address send zeros.
  r = Whole(Socks5Stage::kConnect, H("05000001000000000000"), &n);
  ASSERT_EQ(r.status, Socks5Status::kDone);
  EXPECT_EQ(r.bound.ToString(), "0.0.0.0:0");
}

TEST(Socks5Test, ConnectReplyIpv6) {
  size_t n = 0;
  const std::vector<uint8_t> bytes =
      H("0500000420010db8000000000000000000000002"
        "0050");
  Socks5Reply r = Whole(Socks5Stage::kConnect, bytes, &n);
  ASSERT_EQ(r.status, Socks5Status::kDone);
  EXPECT_EQ(n, 22u);
  EXPECT_EQ(r.bound.ToString(), "[2001:db8::2]:80");
  for (size_t k = 0; k < bytes.size(); ++k) {
    EXPECT_EQ(
        Whole(Socks5Stage::kConnect, std::vector<uint8_t>(bytes.begin(), bytes.begin() + k), &n)
            .status,
        Socks5Status::kNeedMore)
        << k;
  }
}

TEST(Socks5Test, ConnectReplyDomainIsSkippedWhateverItsLength) {
  for (size_t len : {0u, 1u, 17u, 255u}) {
    std::vector<uint8_t> bytes = H("05000003");
    bytes.push_back(static_cast<uint8_t>(len));
    bytes.insert(bytes.end(), len, 'a');
    bytes.push_back(0x01);
    bytes.push_back(0xbb);
    const size_t total = bytes.size();
    bytes.push_back(0x99);  // not part of the reply
    size_t n = 0;
    Socks5Reply r = Whole(Socks5Stage::kConnect, bytes, &n);
    ASSERT_EQ(r.status, Socks5Status::kDone) << len;
    EXPECT_EQ(n, total);
    EXPECT_EQ(r.address_type, kSocks5AtypDomain);
    EXPECT_FALSE(r.bound.valid());
    size_t taken = 0;
    EXPECT_EQ(Drip(Socks5Stage::kConnect, bytes, &taken).status, Socks5Status::kDone);
    EXPECT_EQ(taken, total);
    EXPECT_LE(total, kSocks5MaxReplyBytes);
  }
}

TEST(Socks5Test, ConnectReplyErrors) {
  size_t n = 0;
  Socks5Reply r = Whole(Socks5Stage::kConnect, H("0505000100000000"), &n);
  EXPECT_EQ(r.status, Socks5Status::kError);
  EXPECT_EQ(r.error, Socks5Error::kRequestFailed);
  EXPECT_EQ(r.reply_code, 5);
  EXPECT_EQ(Socks5ReplyCodeName(r.reply_code), "connection_refused");
  EXPECT_EQ(n, 2u);  // decided at the reply code
  EXPECT_EQ(Whole(Socks5Stage::kConnect, H("0400"), &n).error, Socks5Error::kBadVersion);
  EXPECT_EQ(Whole(Socks5Stage::kConnect, H("050001"), &n).error, Socks5Error::kBadReserved);
  EXPECT_EQ(Whole(Socks5Stage::kConnect, H("05000002"), &n).error, Socks5Error::kBadAddressType);
  EXPECT_EQ(Whole(Socks5Stage::kConnect, H("05000005"), &n).error, Socks5Error::kBadAddressType);
}

TEST(Socks5Test, VerdictIsFinal) {
  Socks5ReplyReader r;
  r.Expect(Socks5Stage::kAuth);
  size_t n = 0;
  const std::vector<uint8_t> bytes =
      H("0100"
        "0100");
  EXPECT_EQ(r.Feed(bytes, &n).status, Socks5Status::kDone);
  EXPECT_EQ(n, 2u);
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.Feed(bytes, &n).status, Socks5Status::kDone);
  EXPECT_EQ(n, 0u);
  // Expect starts over.
  r.Expect(Socks5Stage::kMethod, true);
  EXPECT_FALSE(r.finished());
  EXPECT_EQ(r.Feed(H("0502"), &n).status, Socks5Status::kDone);
}

TEST(Socks5Test, Names) {
  EXPECT_EQ(Socks5StageName(Socks5Stage::kAuth), "auth");
  EXPECT_EQ(Socks5ErrorName(Socks5Error::kAuthRejected), "auth_rejected");
  EXPECT_EQ(Socks5ReplyCodeName(200), "unassigned");
  for (size_t e = 0; e < kSocks5ErrorCount; ++e) {
    EXPECT_NE(Socks5ErrorName(static_cast<Socks5Error>(e)), "?") << e;
  }
}

}  // namespace
}  // namespace mtp
