// ME key derivation against test-vectors.md §B.1, §B.2 and the captured handshake of §B.3.
#include "crypto/rpc_keys.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/hex.h"

namespace mtp {
namespace {

std::vector<uint8_t> H(std::string_view hex) { return HexDecode(hex).value(); }

RpcNonceBytes Nonce(uint8_t first) {
  RpcNonceBytes n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(first + i);
  return n;
}

std::vector<uint8_t> SecretB1() {
  std::vector<uint8_t> s(32);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0x5a + 11 * i);
  return s;
}

RpcKeyInput InputB1(const std::vector<uint8_t>& secret) {
  RpcKeyInput in;
  in.nonce_server = Nonce(0x10);
  in.nonce_client = Nonce(0x20);
  in.client_timestamp = 1700000000;
  in.addresses.client_ipv4 = 0xc000020a;  // 192.0.2.10
  in.addresses.client_port = 40000;
  in.addresses.server_ipv4 = 0x959aaf32;  // 149.154.175.50
  in.addresses.server_port = 8888;
  in.secret = ByteSpan(secret);
  return in;
}

constexpr std::string_view kB1ClientString =
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "00f1536532af9a95409c434c49454e540a0200c0b8225a65707b86919ca7b2bd"
    "c8d3dee9f4ff0a15202b36414c57626d78838e99a4af10111213141516171819"
    "1a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";
constexpr std::string_view kB1ServerString =
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "00f1536532af9a95409c5345525645520a0200c0b8225a65707b86919ca7b2bd"
    "c8d3dee9f4ff0a15202b36414c57626d78838e99a4af10111213141516171819"
    "1a1b1c1d1e1f202122232425262728292a2b2c2d2e2f";

TEST(RpcKeysTest, B1KeyStrings) {
  auto secret = SecretB1();
  RpcKeyInput in = InputB1(secret);
  auto c = BuildRpcKeyString(in, RpcKeyTag::kClient);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size, 118u);
  EXPECT_EQ(HexEncode(c->view()), kB1ClientString);
  auto s = BuildRpcKeyString(in, RpcKeyTag::kServer);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(HexEncode(s->view()), kB1ServerString);
}

TEST(RpcKeysTest, B1KeysBothRoles) {
  auto secret = SecretB1();
  RpcKeyInput in = InputB1(secret);
  auto client = DeriveRpcLinkKeys(in, RpcRole::kClient);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(HexEncode(client->encrypt.key),
            "39a5b59690109e339c44a7a10ade3ad48a63abde2986eaff8c30962452224900");
  EXPECT_EQ(HexEncode(client->encrypt.iv), "da932595b991e4c609ce6807a0efd9d6");
  EXPECT_EQ(HexEncode(client->decrypt.key),
            "774e75a5b12b8a30c2619b30802ca633b52e838c84d1ae142b1dbb04825e2bc5");
  EXPECT_EQ(HexEncode(client->decrypt.iv), "d2a5601539d81f2eb0005def8153ad03");
  // The ME uses the same values with the roles swapped.
  auto server = DeriveRpcLinkKeys(in, RpcRole::kServer);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(server->encrypt.key, client->decrypt.key);
  EXPECT_EQ(server->encrypt.iv, client->decrypt.iv);
  EXPECT_EQ(server->decrypt.key, client->encrypt.key);
  EXPECT_EQ(server->decrypt.iv, client->encrypt.iv);
  // DeriveRpcCipherKey on the raw string gives the same answer.
  auto raw = H(kB1ClientString);
  RpcCipherKey k = DeriveRpcCipherKey(ByteSpan(raw));
  EXPECT_EQ(k.key, client->encrypt.key);
  EXPECT_EQ(k.iv, client->encrypt.iv);
}

TEST(RpcKeysTest, B2Ipv6) {
  auto secret = SecretB1();
  RpcKeyInput in = InputB1(secret);
  in.addresses.ipv6 = true;
  auto client_ip = H("20010db8000000000000000000000010");
  auto server_ip = H("20010b28f23d8001000000000000000a");
  std::copy(client_ip.begin(), client_ip.end(), in.addresses.client_ipv6.begin());
  std::copy(server_ip.begin(), server_ip.end(), in.addresses.server_ipv6.begin());
  auto c = BuildRpcKeyString(in, RpcKeyTag::kClient);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size, 150u);
  EXPECT_EQ(HexEncode(c->view()),
            "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
            "00f1536500000000409c434c49454e5400000000b8225a65707b86919ca7b2bd"
            "c8d3dee9f4ff0a15202b36414c57626d78838e99a4af10111213141516171819"
            "1a1b1c1d1e1f20010db800000000000000000000001020010b28f23d80010000"
            "00000000000a202122232425262728292a2b2c2d2e2f");
  auto keys = DeriveRpcLinkKeys(in, RpcRole::kClient);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(HexEncode(keys->encrypt.key),
            "595a06beb694c71ee6ddfd657842ad49587e3e4cfd40491439b015f78af45469");
  EXPECT_EQ(HexEncode(keys->encrypt.iv), "599c66fef6d29dc23aa54c6487008712");
  EXPECT_EQ(HexEncode(keys->decrypt.key),
            "af735a67b304a71585bdec1a8a2e36e4a0ddd9c659547ce8b5272b4c48748194");
  EXPECT_EQ(HexEncode(keys->decrypt.iv), "06b7aaac9f3ed2db064ccb0381c2ccce");
}

TEST(RpcKeysTest, B3CapturedLoopbackHandshake) {
  std::vector<uint8_t> secret(256);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(7 * i + 3);
  RpcKeyInput in;
  in.nonce_server = Nonce(0x10);
  auto client_nonce = H("7789d46f54c4f40f9a0e6e27a7e679fc");
  std::copy(client_nonce.begin(), client_nonce.end(), in.nonce_client.begin());
  in.client_timestamp = 0x6b046fa5;
  in.addresses.client_ipv4 = 0x7f000001;
  in.addresses.client_port = 41920;
  in.addresses.server_ipv4 = 0x7f000001;
  in.addresses.server_port = 18888;
  in.secret = ByteSpan(secret);
  auto s = BuildRpcKeyString(in, RpcKeyTag::kServer);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size, 342u);
  EXPECT_EQ(HexEncode(s->view()),
            "101112131415161718191a1b1c1d1e1f7789d46f54c4f40f9a0e6e27a7e679fc"
            "a56f046b0100007fc0a35345525645520100007fc849030a11181f262d343b42"
            "4950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b22"
            "2930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb02"
            "0910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2"
            "e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2"
            "c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2"
            "a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b82"
            "8990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b62"
            "6970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc10111213141516171819"
            "1a1b1c1d1e1f7789d46f54c4f40f9a0e6e27a7e679fc");
  auto keys = DeriveRpcLinkKeys(in, RpcRole::kClient);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(HexEncode(keys->encrypt.key),
            "cc533404c7b60a46a8045c58da249e3ef19b443ed17449d07452d322b50e545c");
  EXPECT_EQ(HexEncode(keys->encrypt.iv), "4c88693b9ab6112b0c94c04b8914ae1f");
  EXPECT_EQ(HexEncode(keys->decrypt.key),
            "24b31fd90162a4299b1200b115ffd209604f13572572ae5630c8bb49a11b24d0");
  EXPECT_EQ(HexEncode(keys->decrypt.iv), "bbed9a9127bdabdc7e77ea8393ba7f1f");
}

TEST(RpcKeysTest, NatTranslationChangesBothIpv4Fields) {
  auto secret = SecretB1();
  RpcKeyInput in = InputB1(secret);
  in.addresses.client_ipv4 = 0x0a000005;  // 10.0.0.5 behind NAT
  RpcNatRules nat;
  ASSERT_TRUE(nat.AddFromString("10.0.0.5:192.0.2.10").ok());
  in.nat = &nat;
  // Translated, the key string equals the B.1 one (public address 192.0.2.10).
  auto c = BuildRpcKeyString(in, RpcKeyTag::kClient);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(HexEncode(c->view()), kB1ClientString);
  // Without the rule the string (and the keys) differ.
  in.nat = nullptr;
  auto untranslated = BuildRpcKeyString(in, RpcKeyTag::kClient);
  ASSERT_TRUE(untranslated.ok());
  EXPECT_NE(HexEncode(untranslated->view()), kB1ClientString);
}

TEST(RpcKeysTest, NatRulesBoundsAndParsing) {
  RpcNatRules nat;
  EXPECT_FALSE(nat.AddFromString("10.0.0.1").ok());
  EXPECT_FALSE(nat.AddFromString("10.0.0.1:300.1.1.1").ok());
  EXPECT_FALSE(nat.AddFromString("x:1.2.3.4").ok());
  for (uint32_t i = 0; i < kRpcNatRulesMax; ++i) ASSERT_TRUE(nat.Add(i + 1, 100 + i).ok());
  EXPECT_FALSE(nat.Add(99, 99).ok());
  EXPECT_EQ(nat.size(), kRpcNatRulesMax);
  EXPECT_EQ(nat.Translate(3), 102u);
  EXPECT_EQ(nat.Translate(77), 77u);
}

TEST(RpcKeysTest, RejectsSecretOutsideBounds) {
  std::vector<uint8_t> short_secret(31, 1);
  std::vector<uint8_t> long_secret(257, 1);
  RpcKeyInput in = InputB1(short_secret);
  EXPECT_FALSE(BuildRpcKeyString(in, RpcKeyTag::kClient).ok());
  in.secret = ByteSpan(long_secret);
  EXPECT_FALSE(DeriveRpcLinkKeys(in, RpcRole::kClient).ok());
}

}  // namespace
}  // namespace mtp
