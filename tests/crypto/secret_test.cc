// Client secrets, link forms and links; proxy secret file.
#include "crypto/secret.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/hex.h"
#include "crypto/proxy_secret.h"

namespace mtp {
namespace {

constexpr char kHex[] = "0123456789abcdef0123456789abcdef";

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  return base + "/mtp_secret_test_" + std::to_string(::getpid()) + "_" + name;
}

void WriteFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

TEST(ClientSecretTest, ParsesExactly32HexDigits) {
  absl::StatusOr<ClientSecret> s = ParseClientSecretHex(kHex);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(HexEncode(*s), kHex);
  EXPECT_EQ(HexEncode(ParseClientSecretHex("0123456789ABCDEF0123456789ABCDEF").value()), kHex);
}

TEST(ClientSecretTest, RejectsEverythingElseWithTheReferenceMessage) {
  for (std::string_view bad :
       {"", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
        "dd0123456789abcdef0123456789abcdef", "ee0123456789abcdef0123456789abcdef6578",
        "0123456789abcdef0123456789abcdeg", " 0123456789abcdef0123456789abcdef",
        "0123456789abcdef 0123456789abcdef"}) {
    absl::StatusOr<ClientSecret> s = ParseClientSecretHex(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.status().message(), "'S' option requires exactly 32 hex digits");
  }
}

TEST(LinkSecretTest, HexForms) {
  LinkSecret plain = ParseLinkSecret(kHex).value();
  EXPECT_EQ(plain.mode, SecretMode::kPlain);
  EXPECT_EQ(HexEncode(plain.secret), kHex);
  EXPECT_TRUE(plain.domain.empty());

  LinkSecret dd = ParseLinkSecret(std::string("DD") + kHex).value();
  EXPECT_EQ(dd.mode, SecretMode::kPadded);
  EXPECT_EQ(HexEncode(dd.secret), kHex);

  LinkSecret ee = ParseLinkSecret(std::string("ee") + kHex + "6578616d706c652e636f6d").value();
  EXPECT_EQ(ee.mode, SecretMode::kFakeTls);
  EXPECT_EQ(HexEncode(ee.secret), kHex);
  EXPECT_EQ(ee.domain, "example.com");
}

TEST(LinkSecretTest, Base64urlForms) {
  // base64url of ee + secret + "example.com" (28 bytes), with and without '=' padding.
  std::vector<uint8_t> bin = HexDecode(std::string("ee") + kHex + "6578616d706c652e636f6d").value();
  ASSERT_EQ(bin.size(), 28u);
  LinkSecret ee = ParseLinkSecret("7gEjRWeJq83vASNFZ4mrze9leGFtcGxlLmNvbQ").value();
  EXPECT_EQ(ee.mode, SecretMode::kFakeTls);
  EXPECT_EQ(HexEncode(ee.secret), kHex);
  EXPECT_EQ(ee.domain, "example.com");
  EXPECT_EQ(ParseLinkSecret("7gEjRWeJq83vASNFZ4mrze9leGFtcGxlLmNvbQ==").value().domain,
            "example.com");
  // 16-byte plain secret in base64url (22 chars).
  LinkSecret plain = ParseLinkSecret("ASNFZ4mrze8BI0VniavN7w").value();
  EXPECT_EQ(plain.mode, SecretMode::kPlain);
  EXPECT_EQ(HexEncode(plain.secret), kHex);
}

TEST(LinkSecretTest, Rejects) {
  for (std::string_view bad : {
           "",
           "0123",                                       // too short
           "ff0123456789abcdef0123456789abcdef",         // 17 bytes, unknown prefix
           "dd0123456789abcdef0123456789abcdef00",       // 18 bytes with dd
           "ee0123456789abcdef0123456789abcdef",         // ee without domain
           "ee0123456789abcdef0123456789abcdef6520",     // domain with a space
           "ee0123456789abcdef0123456789abcdef6500",     // domain with NUL
           "not a secret!",
       }) {
    EXPECT_FALSE(ParseLinkSecret(bad).ok()) << bad;
  }
  std::string long_domain(183, 'a');
  std::string hex = std::string("ee") + kHex +
                    HexEncode(ByteSpan(reinterpret_cast<const uint8_t*>(long_domain.data()),
                                       long_domain.size()));
  EXPECT_FALSE(ParseLinkSecret(hex).ok());
  long_domain.pop_back();
  hex = std::string("ee") + kHex +
        HexEncode(ByteSpan(reinterpret_cast<const uint8_t*>(long_domain.data()),
                           long_domain.size()));
  EXPECT_TRUE(ParseLinkSecret(hex).ok());
}

TEST(LinkSecretTest, FormatRoundTrips) {
  ClientSecret s = ParseClientSecretHex(kHex).value();
  EXPECT_EQ(FormatLinkSecret(SecretMode::kPlain, s), kHex);
  EXPECT_EQ(FormatLinkSecret(SecretMode::kPadded, s), std::string("dd") + kHex);
  EXPECT_EQ(FormatLinkSecret(SecretMode::kFakeTls, s, "example.com"),
            std::string("ee") + kHex + "6578616d706c652e636f6d");
  for (const LinkSecret& ls : {LinkSecret{SecretMode::kPlain, s, ""},
                               LinkSecret{SecretMode::kPadded, s, ""},
                               LinkSecret{SecretMode::kFakeTls, s, "t.me"}}) {
    LinkSecret back = ParseLinkSecret(FormatLinkSecret(ls)).value();
    EXPECT_EQ(back.mode, ls.mode);
    EXPECT_EQ(back.secret, ls.secret);
    EXPECT_EQ(back.domain, ls.domain);
  }
}

TEST(ProxyLinkTest, Links) {
  EXPECT_EQ(TgProxyLink("203.0.113.7", 443, std::string("dd") + kHex),
            std::string("tg://proxy?server=203.0.113.7&port=443&secret=dd") + kHex);
  EXPECT_EQ(TmeProxyLink("proxy.example.com", 8443, kHex),
            std::string("https://t.me/proxy?server=proxy.example.com&port=8443&secret=") + kHex);
  EXPECT_EQ(TgProxyLink("a b&c", 1, "x"), "tg://proxy?server=a%20b%26c&port=1&secret=x");
  EXPECT_EQ(TgProxyLink("2001:db8::1", 443, "x"), "tg://proxy?server=2001:db8::1&port=443&secret=x");
}

TEST(ClientSecretTest, GenerateGivesDistinctSecrets) {
  EXPECT_NE(GenerateClientSecret(), GenerateClientSecret());
}

TEST(SecretFileTest, ParsesLinesCommentsAndLinkForms) {
  std::string content = std::string("# proxy secrets\n\n") + kHex + "\r\n" +
                        "  dd00112233445566778899aabbccddeeff  # padded link form\n" +
                        "\t# indented comment\n" + "ee" + "ffeeddccbbaa99887766554433221100" +
                        "6578616d706c652e636f6d\n" + kHex;  // duplicate, no final newline
  absl::StatusOr<std::vector<ClientSecret>> secrets = ParseClientSecretFile(content);
  ASSERT_TRUE(secrets.ok()) << secrets.status();
  ASSERT_EQ(secrets->size(), 4u);
  EXPECT_EQ(HexEncode((*secrets)[0]), kHex);
  EXPECT_EQ(HexEncode((*secrets)[1]), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(HexEncode((*secrets)[2]), "ffeeddccbbaa99887766554433221100");
  EXPECT_EQ(HexEncode((*secrets)[3]), kHex);
}

TEST(SecretFileTest, EmptyAndCommentOnlyFilesHaveNoSecrets) {
  EXPECT_TRUE(ParseClientSecretFile("").value().empty());
  EXPECT_TRUE(ParseClientSecretFile("# nothing\n\n   \n").value().empty());
}

TEST(SecretFileTest, ErrorsNameTheLine) {
  absl::StatusOr<std::vector<ClientSecret>> r =
      ParseClientSecretFile(std::string(kHex) + "\n# ok\nnope\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 3"), std::string::npos) << r.status();
}

TEST(SecretFileTest, AtMost16Secrets) {
  std::string content;
  for (int i = 0; i < 16; ++i) content += std::string(kHex) + "\n";
  EXPECT_EQ(ParseClientSecretFile(content).value().size(), 16u);
  content += std::string(kHex) + "\n";
  absl::StatusOr<std::vector<ClientSecret>> r = ParseClientSecretFile(content);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 17"), std::string::npos) << r.status();
}

TEST(SecretFileTest, LoadFromDisk) {
  std::string path = TempPath("secrets");
  WriteFile(path, std::string(kHex) + "\n");
  absl::StatusOr<std::vector<ClientSecret>> r = LoadClientSecretFile(path);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  WriteFile(path, "garbage\n");
  r = LoadClientSecretFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  std::remove(path.c_str());
  EXPECT_EQ(LoadClientSecretFile(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(ProxySecretTest, SizeBounds) {
  std::vector<uint8_t> bytes(31, 7);
  EXPECT_FALSE(ProxySecret::FromBytes(bytes).ok());
  bytes.resize(32, 7);
  EXPECT_TRUE(ProxySecret::FromBytes(bytes).ok());
  bytes.resize(256, 7);
  EXPECT_TRUE(ProxySecret::FromBytes(bytes).ok());
  bytes.resize(257, 7);
  EXPECT_EQ(ProxySecret::FromBytes(bytes).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProxySecretTest, KeySelectorIsLeInt32OfFirstBytes) {
  // Vector B: s[i] = 0x5a + 11 i, selector 0x7b70655a.
  std::vector<uint8_t> bytes(32);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(0x5a + 11 * i);
  ProxySecret secret = ProxySecret::FromBytes(bytes).value();
  EXPECT_EQ(secret.key_selector(), 0x7b70655a);
  EXPECT_EQ(HexEncode(secret.bytes()),
            "5a65707b86919ca7b2bdc8d3dee9f4ff0a15202b36414c57626d78838e99a4af");
  // Vector B.3: 256 bytes (7 i + 3), selector 0x18110a03.
  bytes.resize(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(7 * i + 3);
  EXPECT_EQ(ProxySecret::FromBytes(bytes).value().key_selector(), 0x18110a03);
  // Negative selectors stay negative.
  bytes[3] = 0xf0;
  EXPECT_LT(ProxySecret::FromBytes(bytes).value().key_selector(), 0);
}

TEST(ProxySecretTest, Md5HexForStats) {
  std::string content(32, 'a');
  ProxySecret secret =
      ProxySecret::FromBytes(ByteSpan(reinterpret_cast<const uint8_t*>(content.data()), 32))
          .value();
  // md5("a" * 32)
  EXPECT_EQ(secret.Md5Hex(), "5eca9bd3eb07c006cd43ae48dfde7fd3");
  EXPECT_STREQ(ProxySecret::kNoHash, "none");
}

TEST(ProxySecretTest, LoadFromDisk) {
  std::string path = TempPath("aes_pwd");
  std::string content(128, '\x42');
  WriteFile(path, content);
  absl::StatusOr<ProxySecret> s = ProxySecret::Load(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->size(), 128u);
  EXPECT_EQ(s->key_selector(), 0x42424242);

  WriteFile(path, std::string(300, 'x'));
  s = ProxySecret::Load(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(path), std::string::npos);
  WriteFile(path, std::string(31, 'x'));
  EXPECT_FALSE(ProxySecret::Load(path).ok());
  std::remove(path.c_str());
  EXPECT_EQ(ProxySecret::Load(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mtp
