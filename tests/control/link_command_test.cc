#include "control/link_command.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "control/qr_text.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

constexpr char kHex[] = "0123456789abcdef0123456789abcdef";

InterfaceAddress Addr(const char* text, bool up = true) {
  InterfaceAddress a;
  a.interface = "eth0";
  a.up = up;
  if (inet_pton(AF_INET, text, a.bytes.data()) == 1) {
    a.family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, a.bytes.data()), 1) << text;
    a.family = AF_INET6;
  }
  return a;
}

ParsedCommandLine Cli(std::vector<std::string> args) {
  std::vector<std::string_view> argv = {"mtproto-proxy"};
  for (const std::string& a : args) argv.push_back(a);
  CommandLineResult r = ParseCommandLine(argv);
  EXPECT_TRUE(std::holds_alternative<ParsedCommandLine>(r));
  return std::get<ParsedCommandLine>(r);
}

TEST(AddressRuleTest, Scopes) {
  for (const char* unusable : {"127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.1", "::1", "::",
                               "fe80::1", "ff02::1", "::ffff:192.0.2.1"}) {
    EXPECT_EQ(ClassifyAddress(Addr(unusable)), AddressScope::kUnusable) << unusable;
  }
  for (const char* priv : {"10.1.2.3", "172.16.0.1", "172.31.255.1", "192.168.1.1",
                           "100.64.0.1", "fd00::2", "fc00::1"}) {
    EXPECT_EQ(ClassifyAddress(Addr(priv)), AddressScope::kPrivate) << priv;
  }
  for (const char* global : {"203.0.113.7", "172.32.0.1", "100.128.0.1", "8.8.8.8",
                             "2001:db8::1", "2a00:1450::1"}) {
    EXPECT_EQ(ClassifyAddress(Addr(global)), AddressScope::kGlobal) << global;
  }
}

TEST(AddressRuleTest, GlobalIpv4ThenGlobalIpv6ThenPrivate) {
  using V = std::vector<InterfaceAddress>;
  EXPECT_FALSE(ChoosePublicAddress(V{}).has_value());
  EXPECT_FALSE(ChoosePublicAddress(V{Addr("127.0.0.1"), Addr("fe80::1"), Addr("::1")}));
  auto pick = [](const V& v) { return ChoosePublicAddress(v).value_or(PublicAddress{"-"}); };
  EXPECT_EQ(pick({Addr("10.0.0.2"), Addr("fd00::2"), Addr("2001:db8::5"), Addr("203.0.113.9"),
                  Addr("198.51.100.1")})
                .text,
            "203.0.113.9");
  EXPECT_EQ(pick({Addr("10.0.0.2"), Addr("2001:db8::5")}).text, "2001:db8::5");
  PublicAddress priv = pick({Addr("127.0.0.1"), Addr("fd00::2"), Addr("192.168.0.4")});
  EXPECT_EQ(priv.text, "192.168.0.4");
  EXPECT_TRUE(priv.is_private);
  EXPECT_EQ(pick({Addr("fd00::2")}).text, "fd00::2");
  // Interfaces that are down are skipped.
  EXPECT_EQ(pick({Addr("203.0.113.9", false), Addr("10.0.0.2")}).text, "10.0.0.2");
  EXPECT_FALSE(pick({Addr("203.0.113.9")}).is_private);
}

TEST(AddressRuleTest, ServerChoiceAndWarnings) {
  const std::vector<InterfaceAddress> global = {Addr("127.0.0.1"), Addr("203.0.113.9")};
  const std::vector<InterfaceAddress> priv = {Addr("10.0.0.2")};
  LinkServerChoice c = ChooseLinkServerFor(Cli({"conf"}), global);
  EXPECT_EQ(c.server, "203.0.113.9");
  EXPECT_EQ(c.warning, "");
  c = ChooseLinkServerFor(Cli({"conf"}), priv);
  EXPECT_EQ(c.server, "10.0.0.2");
  EXPECT_NE(c.warning.find("private address 10.0.0.2"), std::string::npos) << c.warning;
  // SERVER_IP only when nothing is known.
  c = ChooseLinkServerFor(Cli({"conf"}), {Addr("127.0.0.1")});
  EXPECT_EQ(c.server, kUnknownLinkServer);
  EXPECT_NE(c.warning.find("SERVER_IP"), std::string::npos);
  c = ChooseLinkServerFor(Cli({"--public-host", "proxy.example.org", "conf"}), priv);
  EXPECT_EQ(c.server, "proxy.example.org");
  EXPECT_EQ(c.warning, "");
  c = ChooseLinkServerFor(Cli({"--nat-info", "10.0.0.2:198.51.100.4", "conf"}), priv);
  EXPECT_EQ(c.server, "198.51.100.4");
  c = ChooseLinkServerFor(Cli({"--address", "198.51.100.5", "conf"}), {});
  EXPECT_EQ(c.server, "198.51.100.5");
}

TEST(LinkCommandTest, PrintsLinksAndOneQrPerUsableForm) {
  std::string out, err;
  ASSERT_EQ(RunLinkCommand(Cli({"--link", "-H", "8443", "-S", kHex, "--public-host",
                                "proxy.example.org"}),
                           &out, &err),
            0)
      << err;
  EXPECT_EQ(err, "");
  const std::string dd_link =
      std::string("https://t.me/proxy?server=proxy.example.org&port=8443&secret=dd") + kHex;
  EXPECT_NE(out.find("tg://proxy?server=proxy.example.org&port=8443&secret=" + std::string(kHex)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(dd_link), std::string::npos) << out;
  // One code (for the dd link): its rows are the lines made of block characters only.
  absl::StatusOr<std::vector<std::vector<bool>>> modules = EncodeQr(dd_link);
  ASSERT_TRUE(modules.ok());
  EXPECT_NE(out.find(DrawQr(*modules)), std::string::npos);
  EXPECT_EQ(out.find(DrawQr(*modules)), out.rfind(DrawQr(*modules)));

  // With -D: the ee link per domain, each with its code.
  out.clear();
  ASSERT_EQ(RunLinkCommand(Cli({"--link", "-H", "443", "-S", kHex, "-D", "a.example", "-D",
                                "b.example", "--public-host", "h.example"}),
                           &out, &err),
            0);
  EXPECT_NE(out.find("(ee, a.example)"), std::string::npos) << out;
  EXPECT_NE(out.find("(ee, b.example)"), std::string::npos) << out;
  EXPECT_EQ(out.find("(dd)"), std::string::npos) << out;
}

TEST(LinkCommandTest, SecretFileAndErrors) {
  testing_util::TempDir dir("mtp-link");
  ASSERT_FALSE(dir.path().empty());
  const std::string file =
      dir.Write("secrets", "# two\n" + std::string(kHex) + "\ndd" + std::string(32, 'f') + "\n");
  std::string out, err;
  ASSERT_EQ(RunLinkCommand(Cli({"--link", "-H", "443", "--mtproto-secret-file", file,
                                "--public-host", "h.example"}),
                           &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("secret #1 (dd)"), std::string::npos) << out;
  EXPECT_NE(out.find("secret=dd" + std::string(32, 'f')), std::string::npos) << out;
  unlink(file.c_str());  // a missing secret file is an error (the last check)

  err.clear();
  EXPECT_EQ(RunLinkCommand(Cli({"--link", "-S", kHex}), &out, &err), 2);
  EXPECT_NE(err.find("-H"), std::string::npos) << err;
  err.clear();
  EXPECT_EQ(RunLinkCommand(Cli({"--link", "-H", "0", "-S", kHex}), &out, &err), 2);
  err.clear();
  EXPECT_EQ(RunLinkCommand(Cli({"--link", "-H", "443"}), &out, &err), 2);
  EXPECT_NE(err.find("no client secret"), std::string::npos) << err;
  err.clear();
  EXPECT_EQ(RunLinkCommand(Cli({"--link", "-H", "443", "--mtproto-secret-file", file}), &out,
                           &err),
            1);
}

// Finder pattern: a 7x7 dark ring, a light ring, a 3x3 dark centre.
bool FinderAt(const std::vector<std::vector<bool>>& m, int top, int left) {
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 7; ++x) {
      const bool ring = y == 0 || y == 6 || x == 0 || x == 6;
      const bool centre = y >= 2 && y <= 4 && x >= 2 && x <= 4;
      if (m[top + y][left + x] != (ring || centre)) return false;
    }
  }
  return true;
}

TEST(QrTextTest, EncodesAQrSymbolWithItsFinderPatterns) {
  const std::string link =
      "https://t.me/proxy?server=proxy.example.org&port=443&secret=ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d";
  absl::StatusOr<std::vector<std::vector<bool>>> m = EncodeQr(link);
  ASSERT_TRUE(m.ok()) << m.status();
  const int width = static_cast<int>(m->size());
  ASSERT_GE(width, 21);
  EXPECT_EQ((width - 17) % 4, 0);  // version v is 17 + 4v modules wide
  for (const auto& row : *m) ASSERT_EQ(static_cast<int>(row.size()), width);
  EXPECT_TRUE(FinderAt(*m, 0, 0));
  EXPECT_TRUE(FinderAt(*m, 0, width - 7));
  EXPECT_TRUE(FinderAt(*m, width - 7, 0));
  EXPECT_FALSE(FinderAt(*m, width - 7, width - 7));
  // Timing pattern between the top finders alternates.
  for (int x = 8; x < width - 8; ++x) EXPECT_EQ((*m)[6][x], x % 2 == 0) << x;
  // Longer input, bigger symbol.
  absl::StatusOr<std::vector<std::vector<bool>>> big = EncodeQr(link + link + link);
  ASSERT_TRUE(big.ok());
  EXPECT_GT(big->size(), m->size());
}

// Reads DrawQr's half blocks back into modules (light = lit).
std::vector<std::vector<bool>> ReadBack(const std::string& text) {
  std::vector<std::vector<bool>> rows;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(text, '\n', absl::SkipEmpty()))) {
    std::vector<bool> top, bottom;
    for (size_t i = 0; i < line.size();) {
      if (line[i] == ' ') {
        top.push_back(false), bottom.push_back(false), ++i;
        continue;
      }
      const std::string glyph = line.substr(i, 3);
      top.push_back(glyph == "\u2588" || glyph == "\u2580");
      bottom.push_back(glyph == "\u2588" || glyph == "\u2584");
      i += 3;
    }
    rows.push_back(top);
    rows.push_back(bottom);
  }
  return rows;
}

TEST(QrTextTest, DrawingIsTheModulesInvertedWithAQuietZone) {
  absl::StatusOr<std::vector<std::vector<bool>>> m = EncodeQr("tg://proxy?server=h&port=1");
  ASSERT_TRUE(m.ok());
  const int width = static_cast<int>(m->size());
  const std::vector<std::vector<bool>> lit = ReadBack(DrawQr(*m));
  const int side = width + 4;
  ASSERT_GE(static_cast<int>(lit.size()), side);
  for (int y = 0; y < side; ++y) {
    ASSERT_EQ(static_cast<int>(lit[y].size()), side) << y;
    for (int x = 0; x < side; ++x) {
      const bool quiet = y < 2 || x < 2 || y >= width + 2 || x >= width + 2;
      const bool expected = quiet ? true : !(*m)[y - 2][x - 2];
      ASSERT_EQ(lit[y][x], expected) << y << "," << x;
    }
  }
}

}  // namespace
}  // namespace mtp
